import { createWriteStream, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Redis, { type RedisOptions } from 'ioredis';
import type { Inventory } from '../../../lambdas/shared/catalog';
import { TASK_ENV } from '../../../lambdas/shared/task-env';
import type { Connection } from '../credentials';
import { startThrowaway, type ThrowawayEngine } from '../drill/throwaway';
import { TaskEnvError } from '../env';
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
    const client = await connectRedis(connection, db);
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

/** A logical artifact that is not one, or is damaged; the message says what was expected (main prints only it). */
export class RedisArtifactError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'RedisArtifactError';
  }
}

/** Bytes as a quoted string: printable ASCII as is, the rest as \n or \xNN (an artifact's head in an error). */
function printable(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    out +=
      b === 0x0a
        ? '\\n'
        : b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c
          ? String.fromCharCode(b)
          : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `"${out}"`;
}

/** Why `head` (shorter than the header when the stream ended early) is not the logical format's header. */
function headerError(head: Buffer): RedisArtifactError {
  const expected = `expected a Strongbox redis logical artifact, whose first bytes are ${printable(LOGICAL_MAGIC)}`;
  if (head.length === 0) {
    return new RedisArtifactError(`redis logical artifact is empty: ${expected}, but the decompressed stream ended before its first byte`);
  }
  if (head.length < LOGICAL_MAGIC.length && head.equals(LOGICAL_MAGIC.subarray(0, head.length))) {
    return new RedisArtifactError(`redis logical artifact is truncated: ${expected}, but it ends after ${head.length} of them`);
  }
  const rdb = /^REDIS\d{4}/.test(head.toString('latin1'))
    ? '; this is an RDB file, which is restored with STRONGBOX_RESTORE_PATH for a fresh redis-server to load'
    : '';
  return new RedisArtifactError(`not a Strongbox redis logical artifact: ${expected}, found ${printable(head.subarray(0, 32))}${rdb}`);
}

/**
 * Reads the logical format from a stream, holding at most one record plus one chunk in memory; any chunking of
 * the bytes reads the same. The source is read only when a record is asked for, and released (a Readable is
 * destroyed) when the reader stops for any reason, so a producer behind it (zstd) is never left blocked on a
 * full pipe after an error.
 */
export async function* readLogical(
  input: AsyncIterable<Uint8Array>,
): AsyncGenerator<{ db: number } | { key: Buffer; dump: Buffer; pttl: number }> {
  const iterator = input[Symbol.asyncIterator]();
  let buffer: Buffer = Buffer.alloc(0);
  const need = async (n: number): Promise<boolean> => {
    while (buffer.length < n) {
      const next = await iterator.next();
      if (next.done) {
        return false;
      }
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    }
    return true;
  };
  const take = (n: number): Buffer => {
    const out = buffer.subarray(0, n);
    buffer = buffer.subarray(n);
    return out;
  };
  const truncated = () => new RedisArtifactError('redis logical artifact is truncated: it ends before its end marker');
  try {
    if (!(await need(LOGICAL_MAGIC.length))) {
      throw headerError(buffer);
    }
    const head = take(LOGICAL_MAGIC.length);
    if (!head.equals(LOGICAL_MAGIC)) {
      throw headerError(head);
    }
    for (;;) {
      if (!(await need(1))) {
        throw truncated();
      }
      const tag = take(1)[0];
      if (tag === TAG_END) {
        break;
      }
      if (tag === TAG_SELECT) {
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
        throw new RedisArtifactError(`redis logical artifact is corrupt: unknown record tag 0x${tag.toString(16).padStart(2, '0')}`);
      }
    }
    // The end marker is the last byte: reading on to the end of the stream also lets its producer finish.
    if (buffer.length > 0 || (await need(1))) {
      throw new RedisArtifactError('redis logical artifact is corrupt: bytes follow its end marker');
    }
  } finally {
    await iterator.return?.();
  }
}

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const BACKSLASH = 0x5c;

/**
 * Redis's own glob matching (stringmatchlen in util.c, as KEYS and SCAN MATCH use it), over bytes: `*` any run,
 * `?` one byte, `[abc]`, `[^abc]`, `[a-z]` (bounds either way round), `\x` a literal x, also inside brackets.
 * Its quirks are kept so a selective restore writes exactly the keys SCAN MATCH would list: an unclosed `[`
 * ends the class at the end of the pattern, and a trailing lone `\` matches a backslash. Range bounds compare
 * as unsigned bytes (redis-server on x86 compares signed chars, which differs only for bounds >= 0x80).
 */
export function globMatch(pattern: Uint8Array, key: Uint8Array): boolean {
  // SCAN and KEYS skip matching for "*" alone, so it matches even the empty key, unlike "**".
  if (pattern.length === 1 && pattern[0] === STAR) {
    return true;
  }
  const state = { skipLongerMatches: false };
  return matchFrom(pattern, 0, key, 0, state, 0);
}

function matchFrom(
  pattern: Uint8Array,
  p: number,
  key: Uint8Array,
  k: number,
  state: { skipLongerMatches: boolean },
  nesting: number,
): boolean {
  if (nesting > 1000) {
    return false; // redis-server's guard against abusive patterns
  }
  const pEnd = pattern.length;
  const kEnd = key.length;
  while (p < pEnd && k < kEnd) {
    const c = pattern[p];
    if (c === STAR) {
      while (p + 1 < pEnd && pattern[p + 1] === STAR) {
        p++;
      }
      if (p + 1 === pEnd) {
        return true;
      }
      while (k < kEnd) {
        if (matchFrom(pattern, p + 1, key, k, state, nesting + 1)) {
          return true;
        }
        if (state.skipLongerMatches) {
          return false;
        }
        k++;
      }
      // The rest of the pattern matches nowhere in the rest of the key, so neither would a longer match of an
      // earlier `*` (redis-server stops there too, which keeps patterns like a*a*a*b linear).
      state.skipLongerMatches = true;
      return false;
    }
    if (c === QUESTION) {
      k++;
    } else if (c === OPEN) {
      p++;
      const not = p < pEnd && pattern[p] === CARET;
      if (not) {
        p++;
      }
      let match = false;
      for (;;) {
        if (p < pEnd && pattern[p] === BACKSLASH && pEnd - p >= 2) {
          p++;
          if (pattern[p] === key[k]) {
            match = true;
          }
        } else if (p < pEnd && pattern[p] === CLOSE) {
          break;
        } else if (p >= pEnd) {
          p--;
          break;
        } else if (pEnd - p >= 3 && pattern[p + 1] === DASH) {
          const low = Math.min(pattern[p], pattern[p + 2]);
          const high = Math.max(pattern[p], pattern[p + 2]);
          p += 2;
          if (key[k] >= low && key[k] <= high) {
            match = true;
          }
        } else if (pattern[p] === key[k]) {
          match = true;
        }
        p++;
      }
      if (not) {
        match = !match;
      }
      if (!match) {
        return false;
      }
      k++;
    } else {
      if (c === BACKSLASH && pEnd - p >= 2) {
        p++;
      }
      if (pattern[p] !== key[k]) {
        return false;
      }
      k++;
    }
    p++;
    if (k === kEnd) {
      while (p < pEnd && pattern[p] === STAR) {
        p++;
      }
      break;
    }
  }
  return p === pEnd && k === kEnd;
}

/** STRONGBOX_INCLUDE's key patterns (Redis glob syntax, see globMatch) as one matcher; no patterns: every key. */
export function keyMatcher(patterns: readonly string[]): (key: Buffer) => boolean {
  if (patterns.length === 0) {
    return () => true;
  }
  const compiled = patterns.map((p) => Buffer.from(p, 'utf8'));
  return (key) => compiled.some((p) => globMatch(p, key));
}

/** Keys a restore with `include` would write over, per database: every key, or only those matching a pattern. */
/**
 * The keyspaces of a target that already hold keys a restore would write: every key without `include`, else
 * the keys matching its patterns (each key counted once). The restore guard and the adapter both ask this.
 */
export async function redisKeysInTheWay(connection: Connection, include: readonly string[]): Promise<Inventory['entries']> {
  const client = await connectRedis(connection);
  try {
    return await keysInTheWay(client, include);
  } finally {
    client.disconnect();
  }
}

async function keysInTheWay(client: Redis, include: readonly string[]): Promise<Inventory['entries']> {
  const entries = (await keyspace(client)).filter((e) => (e.count ?? 0) > 0);
  if (include.length === 0) {
    return entries;
  }
  const wanted = keyMatcher(include);
  const found: Inventory['entries'] = [];
  for (const entry of entries) {
    await client.select(Number(entry.name.slice(2)));
    let count = 0;
    let cursor = '0';
    do {
      const [next, keys] = await client.scanBuffer(cursor, 'COUNT', SCAN_COUNT);
      cursor = String(next);
      count += keys.filter(wanted).length;
    } while (cursor !== '0');
    if (count > 0) {
      found.push({ ...entry, count });
    }
  }
  await client.select(0);
  return found;
}

async function restoreLogical(connection: Connection, input: Readable, include: readonly string[]): Promise<void> {
  const wanted = keyMatcher(include);
  // Start reading before anything is awaited. Node resumes a child's stdout at the child's exit unless something
  // reads it, and drops what was buffered: a small artifact is wholly decompressed and zstd gone before the
  // connection below is up, so a reader attached only after it saw an empty stream. Asking for the first record
  // attaches the reader now; the stream then buffers (and applies backpressure) until the loop below takes over.
  const records = readLogical(input);
  const first = records.next();
  first.catch(() => undefined);
  let client: Redis;
  try {
    client = await connectRedis(connection);
  } catch (error) {
    input.destroy();
    throw error;
  }
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
    for (let step = await first; !step.done; step = await records.next()) {
      const record = step.value;
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
    // Releases the input when the loop stopped early (a failed RESTORE); a no-op once the reader finished.
    await records.return(undefined);
    client.disconnect();
  }
}

export const redisAdapter: EngineAdapter = {
  name: 'redis',

  async serverVersion(connection) {
    const client = await connectRedis(connection);
    try {
      return await version(client);
    } finally {
      client.disconnect();
    }
  },

  async inventory(connection) {
    const client = await connectRedis(connection);
    try {
      return { exact: false, entries: await keyspace(client) };
    } finally {
      client.disconnect();
    }
  },

  async dump(connection, dumpOptions): Promise<DumpSession> {
    const client = await connectRedis(connection);
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
    if (restoreOptions.format === 'rdb' && restoreOptions.restorePath) {
      if (restoreOptions.include.length > 0) {
        throw new TaskEnvError(
          `${TASK_ENV.include}: ${JSON.stringify(restoreOptions.include)}; an RDB written to ${TASK_ENV.restorePath} is loaded whole by a fresh redis-server, so key patterns cannot select keys from it. Leave ${TASK_ENV.include} out, or restore into a running Redis (leave ${TASK_ENV.restorePath} out), which copies only the matching keys`,
        );
      }
      const path = restoreOptions.restorePath;
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
    const client = await connectRedis(connection);
    try {
      // With include, only keys the restore would write over are in the way (as in the restore guard).
      const inTheWay = await keysInTheWay(client, restoreOptions.include);
      const existing = inTheWay.reduce((sum, e) => sum + (e.count ?? 0), 0);
      if (existing > 0 && !restoreOptions.overwrite) {
        const which = restoreOptions.include.length > 0 ? ` matching ${restoreOptions.include.join(', ')}` : '';
        throw new TargetNotEmptyError(
          `target redis ${connection.host}:${connection.port} already holds ${existing} key${existing === 1 ? '' : 's'}${which} (${inTheWay.map((e) => `${e.name}: ${e.count}`).join(', ')}); restore into an empty instance or set overwrite`,
        );
      }
    } finally {
      client.disconnect();
    }
    if (restoreOptions.format === 'rdb') {
      return { kind: 'stream', consume: (input) => restoreRdbIntoRunningRedis(connection, input, restoreOptions.include) };
    }
    return { kind: 'stream', consume: (input) => restoreLogical(connection, input, restoreOptions.include) };
  },
};

/**
 * An RDB cannot be pushed into a running Redis (SYNC only goes the other way), so the task loads it into a
 * throwaway redis-server of its own (the image carries one for drills) and copies the keys across with the
 * logical format's DUMP/RESTORE: the same code as a logical restore, so key patterns select here too.
 */
async function restoreRdbIntoRunningRedis(target: Connection, input: Readable, include: readonly string[]): Promise<void> {
  const directory = mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), 'strongbox-rdb-'));
  const rdbPath = join(directory, 'dump.rdb');
  let loaded: ThrowawayEngine | undefined;
  try {
    await pipeline(input, createWriteStream(rdbPath, { mode: 0o600 }));
    loaded = await startThrowaway('redis', { redisRdbPath: rdbPath });
    const client = await connectRedis(loaded.connection);
    let databases: number[];
    try {
      databases = (await keyspace(client)).map((e) => Number(e.name.slice(2)));
    } finally {
      client.disconnect();
    }
    await restoreLogical(target, Readable.from(logicalDump(loaded.connection, databases), { objectMode: false }), include);
  } finally {
    await loaded?.stop().catch(() => undefined);
    rmSync(directory, { recursive: true, force: true });
  }
}
