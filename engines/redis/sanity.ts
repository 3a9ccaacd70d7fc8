import type { Inventory } from '../../contracts/vault';
import type { Connection } from '../connection';
import type { Check } from '../engine';
import { connectRedis } from './connection';

/** Every keyspace answers SCAN, and a sample of keys each DUMP (the serialized value is readable). */
export async function redisSanityChecks(connection: Connection, inventory: Inventory): Promise<Check[]> {
  const client = await connectRedis(connection);
  try {
    let sampled = 0;
    const bad: string[] = [];
    for (const entry of inventory.entries) {
      await client.select(Number(entry.name.replace(/^db/, '')));
      const [, batch] = await client.scan('0', 'COUNT', 200);
      for (const key of batch.slice(0, 100)) {
        const dumped = await client.dumpBuffer(key);
        sampled++;
        if (dumped === null && (await client.exists(key)) === 1) {
          bad.push(`${entry.name}:${key}`);
        }
      }
    }
    return [
      {
        name: 'redis: sampled keys readable (DUMP)',
        passed: bad.length === 0,
        detail: bad.length ? bad.slice(0, 10).join(', ') : `${sampled} keys read`,
      },
    ];
  } finally {
    client.disconnect();
  }
}
