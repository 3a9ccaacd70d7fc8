import { Redis } from 'ioredis';
import { isIncluded, nonEmptyRefusal } from '../../lambdas/shared/restore-payloads';
import type { Connection } from './credentials';
import { type EngineAdapter, TargetNotEmptyError } from './engines/engine';

/**
 * The half of the restore guard that needs a connection to the target: before anything is written, a restore
 * into a target that already holds any of the objects being restored is refused, unless the workflow set
 * STRONGBOX_RESTORE_OVERWRITE (only ever "true" when the input had overwrite:true AND confirm equal to the
 * database name). The wording is the Guard Lambda's (lambdas/shared/restore-payloads.ts).
 */
export interface TargetGuardOptions {
  /** The Strongbox database name, as the input's confirm must spell it. */
  readonly database: string;
  readonly engine: string;
  readonly adapter: Pick<EngineAdapter, 'inventory'>;
  readonly connection: Connection;
  readonly include: readonly string[];
  readonly overwrite: boolean;
  /** Keys matching Redis patterns; injectable for tests. @default SCAN on the target */
  readonly countRedisKeys?: (connection: Connection, patterns: readonly string[]) => Promise<number>;
}

export async function assertTargetWritable(options: TargetGuardOptions): Promise<void> {
  if (options.overwrite) {
    return;
  }
  const found = await occupied(options);
  if (found) {
    throw new TargetNotEmptyError(nonEmptyRefusal(options.database, { ...options.connection }, found));
  }
}

/** A short description of what the target already holds among the objects being restored, or undefined. */
async function occupied(options: TargetGuardOptions): Promise<string | undefined> {
  if (options.engine === 'redis' && options.include.length > 0) {
    const count = await (options.countRedisKeys ?? countRedisKeys)(options.connection, options.include);
    return count > 0 ? `${count} key${count === 1 ? '' : 's'} matching ${options.include.join(', ')}` : undefined;
  }
  let inventory: Awaited<ReturnType<EngineAdapter['inventory']>>;
  try {
    inventory = await options.adapter.inventory(options.connection);
  } catch (error) {
    // A database that does not exist yet is the emptiest target there is; the adapter creates it.
    if (/does not exist|unknown database/i.test(error instanceof Error ? error.message : String(error))) {
      return undefined;
    }
    throw error;
  }
  if (options.engine === 'redis') {
    const keys = inventory.entries.reduce((sum, e) => sum + e.count, 0);
    return keys > 0
      ? `${keys} key${keys === 1 ? '' : 's'} in ${inventory.entries
          .filter((e) => e.count > 0)
          .map((e) => e.name)
          .join(', ')}`
      : undefined;
  }
  // An existing table is in the way even when empty: the restore would fail on it or mix with it.
  const present = inventory.entries.filter((e) => isIncluded(e.name, options.include, options.engine));
  if (present.length === 0) {
    return undefined;
  }
  const noun = present.length === 1 ? 'object' : 'objects';
  return `${present.length} existing ${noun}, such as ${present
    .slice(0, 3)
    .map((e) => e.name)
    .join(', ')}`;
}

async function countRedisKeys(connection: Connection, patterns: readonly string[]): Promise<number> {
  const client = new Redis({
    host: connection.host,
    port: connection.port,
    username: connection.username,
    password: connection.password,
    tls: connection.tls === 'disable' ? undefined : { rejectUnauthorized: connection.tls === 'verify-full' },
    lazyConnect: true,
    maxRetriesPerRequest: 1,
  });
  try {
    await client.connect();
    const info = await client.info('keyspace');
    const dbs = [...info.matchAll(/^db(\d+):/gm)].map((m) => Number(m[1]));
    let total = 0;
    for (const db of dbs) {
      await client.select(db);
      for (const pattern of patterns) {
        let cursor = '0';
        do {
          const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          total += batch.length;
        } while (cursor !== '0');
      }
    }
    return total;
  } finally {
    client.disconnect();
  }
}
