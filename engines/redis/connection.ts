import Redis, { type RedisOptions } from 'ioredis';
import type { Inventory } from '../../contracts/vault';
import type { Connection } from '../connection';
import { CONNECT_TIMEOUT_SECONDS, connectError } from '../engine';

function options(connection: Connection, db = 0): RedisOptions {
  return {
    host: connection.host,
    port: connection.port,
    username: connection.username || undefined,
    password: connection.password || undefined,
    db,
    connectTimeout: CONNECT_TIMEOUT_SECONDS * 1000,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    enableOfflineQueue: true,
    tls: connection.tls === 'disable' ? undefined : { rejectUnauthorized: connection.tls === 'verify-full' },
  };
}

/** A connected client with Strongbox's timeouts and no retries; its errors reject commands instead of being printed. */
export async function connectRedis(connection: Connection, db = 0): Promise<Redis> {
  const client = new Redis(options(connection, db));
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw connectError('redis', connection, error);
  }
  return client;
}

export function parseKeyspace(info: string): Inventory['entries'] {
  return [...info.matchAll(/^db(\d+):keys=(\d+)/gm)].map((m) => ({ name: `db${m[1]}`, kind: 'keyspace' as const, count: Number(m[2]) }));
}

export async function keyspace(client: Redis): Promise<Inventory['entries']> {
  return parseKeyspace(await client.info('keyspace'));
}

export async function version(client: Redis): Promise<string> {
  const info = await client.info('server');
  return /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown';
}
