import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Redis, { type RedisOptions } from 'ioredis';
import type { Inventory } from '../../../lambdas/shared/catalog';
import type { Connection } from '../credentials';
import { startTool, toolVersion } from '../tools';
import {
  CONNECT_TIMEOUT_SECONDS,
  connectError,
  type DumpSession,
  type EngineAdapter,
  type RestorePlan,
  TargetNotEmptyError,
} from './engine';

/**
 * Redis. `rdb` mode: `redis-cli --rdb -` asks the server for a replication snapshot (SYNC) and streams the RDB
 * file, which a fresh redis-server loads as dump.rdb. `logical` mode, for servers that refuse SYNC (such as
 * ElastiCache): SCAN + DUMP/PTTL per key, framed in the format below, restored with pipelined RESTORE ... REPLACE.
 * Neither is a point-in-time snapshot of all keyspaces together with the key counts, so the inventory is
 * `exact: false`.
 *
 * Logical format (all integers big-endian):
 *   magic   "STRONGBOX-REDIS-LOGICAL/1\n"
 *   0x01 u32 db                                   select database
 *   0x02 u32 keyLength key u32 dumpLength dump i64 pttlMs   one key (pttl -1: no expiry)
 *   0xFF                                          end of stream (its absence means a truncated artifact)
 */
export const LOGICAL_MAGIC = Buffer.from('STRONGBOX-REDIS-LOGICAL/1\n');
const TAG_SELECT = 0x01;
const TAG_KEY = 0x02;
const TAG_END = 0xff;
const SCAN_COUNT = 1000;
const RESTORE_BATCH = 500;

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

async function connect(connection: Connection, db = 0): Promise<Redis> {
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

async function keyspace(client: Redis): Promise<Inventory['entries']> {
  return parseKeyspace(await client.info('keyspace'));
}

async function version(client: Redis): Promise<string> {
  const info = await client.info('server');
  return /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown';
}

/** SYNC is there unless the provider removed or renamed it (ElastiCache) or an ACL forbids it. */
async function syncAllowed(client: Redis): Promise<boolean> {
  const info = (await client.call('COMMAND', 'INFO', 'SYNC')) as unknown[];
  return Array.isArray(info) && info[0] !== null;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

/** Streams every key of every non-empty database in the logical format; pulls one SCAN page at a time. */
export async function* logicalDump(connection: Connection, databases: readonly number[]): AsyncGenerator<Buffer> {
  yield LOGICAL_MAGIC;
  for (const db of databases) {
    const client = await connect(connection, db);
    try {
      yield Buffer.concat([Buffer.from([TAG_SELECT]), u32(db)]);
      let cursor = '0';
      do {
        const [next, keys] = await client.scanBuffer(cursor, 'COUNT', SCAN_COUNT);
        cursor = String(next);
        if (keys.length === 0) {
          continue;
        }
        const batch = client.pipeline();
        for (const key of keys) {
          batch.dumpBuffer(key);
          batch.pttl(key);
        }
        const results = (await batch.exec()) ?? [];
        const frames: Buffer[] = [];
        keys.forEach((key, i) => {
          const dump = results[2 * i]?.[1] as Buffer | null;
          const pttl = Number(results[2 * i + 1]?.[1]);
          if (!dump || pttl === -2) {
            return; // deleted or expired since SCAN saw it
          }
          const ttl = Buffer.alloc(8);
          ttl.writeBigInt64BE(BigInt(pttl));
          frames.push(Buffer.from([TAG_KEY]), u32(key.length), key, u32(dump.length), dump, ttl);
        });
        yield Buffer.concat(frames);
      } while (cursor !== '0');
    } finally {
      client.disconnect();
    }
  }
  yield Buffer.from([TAG_END]);
}

/** Reads the logical format from a stream, holding at most one record plus one chunk in memory. */
export async function* readLogical(
  input: AsyncIterable<Buffer>,
): AsyncGenerator<{ db: number } | { key: Buffer; dump: Buffer; pttl: number }> {
  let buffer: Buffer = Buffer.alloc(0);
  let ended = false;
  let magicSeen = false;
  const iterator = input[Symbol.asyncIterator]();
  const need = async (n: number): Promise<boolean> => {
    while (buffer.length < n) {
      const next = await iterator.next();
      if (next.done) {
        return false;
      }
      buffer = buffer.length === 0 ? next.value : Buffer.concat([buffer, next.value]);
    }
    return true;
  };
  const take = (n: number): Buffer => {
    const out = buffer.subarray(0, n);
    buffer = buffer.subarray(n);
    return out;
  };
  const truncated = () => new Error('redis logical artifact is truncated: it ends before its end marker');
  while (!ended) {
    if (!magicSeen) {
      if (!(await need(LOGICAL_MAGIC.length)) || !take(LOGICAL_MAGIC.length).equals(LOGICAL_MAGIC)) {
        throw new Error('not a Strongbox redis logical artifact (bad magic)');
      }
      magicSeen = true;
      continue;
    }
    if (!(await need(1))) {
      throw truncated();
    }
    const tag = take(1)[0];
    if (tag === TAG_END) {
      ended = true;
    } else if (tag === TAG_SELECT) {
      if (!(await need(4))) throw truncated();
      yield { db: take(4).readUInt32BE() };
    } else if (tag === TAG_KEY) {
      if (!(await need(4))) throw truncated();
      const keyLength = take(4).readUInt32BE();
      if (!(await need(keyLength + 4))) throw truncated();
      const key = Buffer.from(take(keyLength));
      const dumpLength = take(4).readUInt32BE();
      if (!(await need(dumpLength + 8))) throw truncated();
      const dump = Buffer.from(take(dumpLength));
      const pttl = Number(take(8).readBigInt64BE());
      yield { key, dump, pttl };
    } else {
      throw new Error(`redis logical artifact is corrupt: unknown record tag 0x${tag.toString(16)}`);
    }
  }
}

/** `user:*` style patterns (only `*` and `?`) as a matcher. */
export function keyMatcher(patterns: readonly string[]): (key: Buffer) => boolean {
  if (patterns.length === 0) {
    return () => true;
  }
  const regexps = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
        's',
      ),
  );
  return (key) => {
    const text = key.toString('latin1');
    return regexps.some((r) => r.test(text));
  };
}

async function restoreLogical(connection: Connection, input: Readable, include: readonly string[]): Promise<void> {
  const client = await connect(connection);
  const wanted = keyMatcher(include);
  try {
    let batch = client.pipeline();
    let pending = 0;
    const flush = async () => {
      if (pending === 0) {
        return;
      }
      const results = (await batch.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) {
        throw new Error(`RESTORE failed: ${failed[0]?.message}`);
      }
      batch = client.pipeline();
      pending = 0;
    };
    for await (const record of readLogical(input)) {
      if ('db' in record) {
        await flush();
        await client.select(record.db);
        continue;
      }
      if (!wanted(record.key)) {
        continue;
      }
      batch.restore(record.key, Math.max(record.pttl, 0), record.dump, 'REPLACE');
      pending++;
      if (pending >= RESTORE_BATCH) {
        await flush();
      }
    }
    await flush();
  } finally {
    client.disconnect();
  }
}

export const redisAdapter: EngineAdapter = {
  name: 'redis',

  async serverVersion(connection) {
    const client = await connect(connection);
    try {
      return await version(client);
    } finally {
      client.disconnect();
    }
  },

  async inventory(connection) {
    const client = await connect(connection);
    try {
      return { exact: false, entries: await keyspace(client) };
    } finally {
      client.disconnect();
    }
  },

  async dump(connection, dumpOptions): Promise<DumpSession> {
    const client = await connect(connection);
    try {
      const serverVersion = await version(client);
      const entries = await keyspace(client);
      const memory = Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1] ?? 0);
      const rdb = dumpOptions.redisMode === 'rdb' || (dumpOptions.redisMode === 'auto' && (await syncAllowed(client)));
      const close = async () => client.disconnect();
      if (rdb) {
        const args = ['-h', connection.host, '-p', String(connection.port), '--no-auth-warning'];
        if (connection.username) {
          args.push('--user', connection.username);
        }
        if (connection.tls !== 'disable') {
          args.push('--tls', ...(connection.tls === 'require' ? ['--insecure'] : []));
        }
        args.push('--rdb', '-');
        const process = startTool('redis-cli', args, { env: { REDISCLI_AUTH: connection.password } });
        return {
          format: 'rdb',
          serverVersion,
          tool: { name: 'redis-cli', version: await toolVersion('redis-cli'), args },
          output: { kind: 'tool', process },
          inventory: { exact: false, entries },
          expectedBytes: memory,
          done: () => process.succeeded(),
          close,
        };
      }
      const databases = entries.map((e) => Number(e.name.slice(2)));
      const stream = Readable.from(logicalDump(connection, databases), { objectMode: false });
      const finished = new Promise<void>((resolve, reject) => {
        stream.once('end', resolve);
        stream.once('error', reject);
        stream.once('close', () => (stream.readableEnded ? resolve() : reject(new Error('redis logical dump stopped before its end'))));
      });
      finished.catch(() => undefined);
      return {
        format: 'redis-logical',
        serverVersion,
        tool: { name: 'strongbox-redis-logical', version: '1', args: ['SCAN', 'DUMP', 'PTTL'] },
        output: { kind: 'stream', stream },
        inventory: { exact: false, entries },
        expectedBytes: memory,
        done: () => finished,
        close,
      };
    } catch (error) {
      client.disconnect();
      throw error;
    }
  },

  async restore(connection, restoreOptions): Promise<RestorePlan> {
    if (restoreOptions.format === 'rdb') {
      const path = restoreOptions.restorePath;
      if (!path) {
        throw new Error(
          'an RDB backup cannot be pushed into a running Redis: set STRONGBOX_RESTORE_PATH to the dump.rdb a fresh redis-server will load (--dir/--dbfilename), or back up in logical mode',
        );
      }
      return {
        kind: 'stream',
        consume: async (input) => {
          const partial = `${path}.partial`;
          try {
            await pipeline(input, createWriteStream(partial, { mode: 0o600 }));
            renameSync(partial, path);
          } catch (error) {
            rmSync(partial, { force: true });
            throw error;
          }
        },
      };
    }
    const client = await connect(connection);
    try {
      const existing = (await keyspace(client)).reduce((sum, e) => sum + e.count, 0);
      if (existing > 0 && !restoreOptions.overwrite) {
        throw new TargetNotEmptyError(
          `target redis ${connection.host}:${connection.port} already holds ${existing} keys; restore into an empty instance or set overwrite`,
        );
      }
    } finally {
      client.disconnect();
    }
    return {
      kind: 'stream',
      // Attach a reader at once: Node resumes a child's unread stdout when the child exits, and a small
      // artifact is fully decompressed (and would be dropped) before the connection below is up.
      consume: (input) => restoreLogical(connection, input.pipe(new PassThrough()), restoreOptions.include),
    };
  },
};
