import { closeSync, createReadStream, createWriteStream, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Redis from 'ioredis';
import { TASK_ENV, TaskEnvError } from '../../contracts/task-env';
import type { Inventory } from '../../contracts/vault';
import type { Connection } from '../connection';
import { type DumpSession, type EngineAdapter, type LogLine, type RestorePlan, RestoreUndoneError, TargetNotEmptyError } from '../engine';
import { startThrowaway, type ThrowawayServer } from '../throwaway';
import { startTool, toolVersion } from '../tools';
import { connectRedis, keyspace, version } from './connection';
import { keyMatcher } from './glob';
import { keyRecord, LOGICAL_MAGIC, type LogicalRecord, NO_EXPIRY, readLogical, selectRecord, TAG_END } from './logical-format';
import { redisSanityChecks } from './sanity';
import { redisThrowaway } from './throwaway';

/**
 * Redis. `rdb` mode: `redis-cli --rdb -` asks the server for a replication snapshot (SYNC) and streams the RDB
 * file, which a fresh redis-server loads as dump.rdb. `logical` mode, for servers that refuse SYNC (such as
 * ElastiCache): SCAN + DUMP/PEXPIRETIME per key, framed in Strongbox's logical format, restored with pipelined
 * RESTORE ... REPLACE ABSTTL. Neither is a point-in-time snapshot of all keyspaces together with the key counts,
 * so the inventory is `exact: false`.
 *
 * The format is in logical-format.ts, and the key patterns of a selective restore in glob.ts.
 */
const SCAN_COUNT = 1000;
const RESTORE_BATCH = 500;

/** SYNC is there unless the provider removed or renamed it (ElastiCache) or an ACL forbids it. */
async function syncAllowed(client: Redis): Promise<boolean> {
  const info = (await client.call('COMMAND', 'INFO', 'SYNC')) as unknown[];
  return Array.isArray(info) && info[0] !== null;
}

/** PEXPIRETIME (the absolute expiry, read with the key) arrived in Redis 7.0. */
function hasExpireTime(serverVersion: string): boolean {
  return Number(serverVersion.split('.')[0]) >= 7;
}

/** A `name:value` number from an INFO section; 0 when the server does not report it. */
function infoNumber(info: string, name: string): number {
  return Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

export interface LogicalDumpOptions {
  /**
   * UNLINK every key as soon as it is read. For the task's own throwaway server holding an RDB: every key is
   * then either emitted or expired by that server (and counted in its `expired_keys`), never both.
   */
  readonly consume?: boolean;
}

/** Streams every key of every non-empty database in the logical format; pulls one SCAN page at a time. */
export async function* logicalDump(
  connection: Connection,
  databases: readonly number[],
  options: LogicalDumpOptions = {},
): AsyncGenerator<Buffer> {
  yield LOGICAL_MAGIC;
  for (const db of databases) {
    const client = await connectRedis(connection, db);
    try {
      // Before Redis 7 the instant is the server's TIME plus PTTL, off by at most the pipeline's own run time.
      const absolute = hasExpireTime(await version(client));
      const perKey = options.consume ? 3 : 2;
      const first = absolute ? 0 : 1;
      yield selectRecord(db);
      let cursor = '0';
      do {
        const [next, keys] = await client.scanBuffer(cursor, 'COUNT', SCAN_COUNT);
        cursor = String(next);
        if (keys.length === 0) {
          continue;
        }
        const batch = client.pipeline();
        if (!absolute) {
          batch.time();
        }
        for (const key of keys) {
          batch.dumpBuffer(key);
          if (absolute) {
            batch.pexpiretime(key);
          } else {
            batch.pttl(key);
          }
          if (options.consume) {
            batch.unlink(key);
          }
        }
        const results = (await batch.exec()) ?? [];
        const failed = results.find(([error]) => error);
        if (failed) {
          // A refused DUMP (an ACL, a renamed command) would otherwise leave every key out of a "successful" backup.
          throw new Error(`redis logical dump of db${db} failed: ${failed[0]?.message}`);
        }
        const [seconds, micros] = absolute ? [0, 0] : ((results[0]?.[1] as string[]) ?? []).map(Number);
        const serverNow = seconds * 1000 + Math.floor(micros / 1000);
        const frames: Buffer[] = [];
        keys.forEach((key, i) => {
          const at = first + perKey * i;
          const dump = results[at]?.[1] as Buffer | null;
          const expiry = Number(results[at + 1]?.[1]);
          const unlinked = options.consume ? Number(results[at + 2]?.[1]) : 1;
          // Deleted or expired since SCAN saw it; consumed: expired between DUMP and UNLINK, so already counted.
          if (!dump || expiry === -2 || unlinked === 0) {
            return;
          }
          frames.push(...keyRecord(key, dump, expiry < 0 ? NO_EXPIRY : absolute ? expiry : serverNow + expiry));
        });
        yield Buffer.concat(frames);
      } while (cursor !== '0');
    } finally {
      client.disconnect();
    }
  }
  yield Buffer.from([TAG_END]);
}

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

/**
 * The keys a restore has written, spilled to a 0600 file as they are written (in the logical framing, with empty
 * payloads), so that a failed restore can take them back out however many millions there are: memory holds one
 * batch. The file lives in STRONGBOX_WORK_DIR (the task's ephemeral storage) and is removed by `discard`.
 */
class WrittenKeys {
  public count = 0;
  private directory?: string;
  private fd?: number;
  private db = -1;

  public add(db: number, keys: readonly Buffer[]): void {
    if (keys.length === 0) {
      return;
    }
    if (this.fd === undefined) {
      this.directory = mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), 'strongbox-redis-written-'));
      this.fd = openSync(join(this.directory, 'keys'), 'w', 0o600);
      writeSync(this.fd, LOGICAL_MAGIC);
    }
    const parts: Buffer[] = [];
    if (db !== this.db) {
      parts.push(selectRecord(db));
      this.db = db;
    }
    for (const key of keys) {
      parts.push(...keyRecord(key, EMPTY, NO_EXPIRY));
    }
    writeSync(this.fd, Buffer.concat(parts));
    this.count += keys.length;
  }

  /** The keys written so far, read back from the file (which takes no more keys after this). */
  public async *read(): AsyncGenerator<LogicalRecord> {
    if (this.fd === undefined || !this.directory) {
      return;
    }
    writeSync(this.fd, Buffer.from([TAG_END]));
    closeSync(this.fd);
    this.fd = undefined;
    yield* readLogical(createReadStream(join(this.directory, 'keys')));
  }

  public discard(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    if (this.directory) {
      rmSync(this.directory, { recursive: true, force: true });
      this.directory = undefined;
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** What a Redis restore did; the task's result JSON carries it. */
export type RedisRestoreCounts = {
  readonly restoredKeys: number;
  /** Keys of the backup left out because their expiry instant had passed by the time of the restore. */
  readonly expiredSkipped: number;
};

interface LogicalRestoreOptions {
  readonly include: readonly string[];
  readonly overwrite: boolean;
  /** Unix ms a version-1 artifact's relative TTLs are counted from. */
  readonly relativeTo?: number;
}

/**
 * The target's clock, read once: a key is left out when its instant has passed on the server that would expire
 * it, whatever the task's own clock says (RESTORE ... ABSTTL of a past instant stores nothing and says OK).
 */
async function serverClock(client: Redis): Promise<() => number> {
  const before = Date.now();
  const [seconds, micros] = (await client.time()).map(Number);
  const offset = seconds * 1000 + Math.floor(micros / 1000) - (before + Date.now()) / 2;
  return () => Date.now() + offset;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** UNLINKs the journal's keys, database by database, one pipeline per RESTORE_BATCH keys; returns how many existed. */
async function removeWritten(connection: Connection, written: WrittenKeys): Promise<number> {
  const client = await connectRedis(connection);
  try {
    let removed = 0;
    let batch = client.pipeline();
    let pending = 0;
    const flush = async () => {
      const results = (await batch.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) {
        throw new Error(`UNLINK failed: ${failed[0]?.message}`);
      }
      removed += results.reduce((sum, [, n]) => sum + Number(n), 0);
      batch = client.pipeline();
      pending = 0;
    };
    for await (const record of written.read()) {
      if ('db' in record) {
        await flush();
        await client.select(record.db);
      } else {
        batch.unlink(record.key);
        if (++pending >= RESTORE_BATCH) {
          await flush();
        }
      }
    }
    await flush();
    return removed;
  } finally {
    client.disconnect();
  }
}

/**
 * Takes a failed restore's writes back out of the target, and says so with the cause. A key that existed before
 * and was replaced (only with overwrite) cannot be put back: RESTORE ... REPLACE discarded its value, and
 * keeping a copy of every replaced value would double the restore's work for a failure that is rare.
 */
async function undo(connection: Connection, written: WrittenKeys, replaced: number, overwrite: boolean, cause: unknown): Promise<unknown> {
  if (written.count === 0 && replaced === 0) {
    return cause;
  }
  const notes: string[] = [];
  try {
    const removed = await removeWritten(connection, written);
    notes.push(
      overwrite
        ? `the ${plural(removed, 'key', 'keys')} this restore had added were removed again`
        : `the ${plural(removed, 'key', 'keys')} this restore had written were removed again: the target is as it was`,
    );
  } catch (error) {
    notes.push(
      `removing the ${plural(written.count, 'key', 'keys')} this restore had written failed (${error instanceof Error ? error.message : String(error)}), so the target holds part of the backup: remove them (or flush a target that was empty before) before restoring again`,
    );
  }
  if (replaced > 0) {
    notes.push(
      `${plural(replaced, 'key that already existed on the target had', 'keys that already existed on the target had')} been replaced by the backup's values and cannot be put back: their earlier values are gone`,
    );
  }
  return new RestoreUndoneError(cause, notes.join('; '));
}

/**
 * Writes the keys of a logical stream into the target with RESTORE ... ABSTTL, so every expiry is the instant it
 * was in the source; keys whose instant has passed are left out and counted. Every key is journalled before its
 * RESTORE is sent, and a restore that fails for any reason (a corrupt artifact, a refused RESTORE, a lost
 * connection) removes them again, so a target is never left holding part of a backup. With overwrite, an EXISTS
 * before each batch tells keys it adds (journalled) from keys it replaces (counted, and named on failure); a key
 * that SCAN listed twice in the dump counts as replaced on its second write.
 */
async function restoreLogical(connection: Connection, input: Readable, options: LogicalRestoreOptions): Promise<RedisRestoreCounts> {
  const wanted = keyMatcher(options.include);
  // Start reading before anything is awaited. Node resumes a child's stdout at the child's exit unless something
  // reads it, and drops what was buffered: a small artifact is wholly decompressed and zstd gone before the
  // connection below is up, so a reader attached only after it saw an empty stream. Asking for the first record
  // attaches the reader now; the stream then buffers (and applies backpressure) until the loop below takes over.
  const records = readLogical(input, { relativeTo: options.relativeTo });
  const first = records.next();
  first.catch(() => undefined);
  let client: Redis;
  try {
    client = await connectRedis(connection);
  } catch (error) {
    input.destroy();
    throw error;
  }
  const written = new WrittenKeys();
  let replaced = 0;
  let restored = 0;
  let expired = 0;
  try {
    const now = await serverClock(client);
    let db = 0;
    let batch: { key: Buffer; dump: Buffer; expireAt: number }[] = [];
    const flush = async () => {
      if (batch.length === 0) {
        return;
      }
      if (options.overwrite) {
        const probe = client.pipeline();
        for (const record of batch) {
          probe.exists(record.key);
        }
        const found = (await probe.exec()) ?? [];
        const failed = found.find(([error]) => error);
        if (failed) {
          throw new Error(`EXISTS failed: ${failed[0]?.message}`);
        }
        const added = batch.filter((_, i) => Number(found[i]?.[1]) === 0).map((record) => record.key);
        replaced += batch.length - added.length;
        written.add(db, added);
      } else {
        written.add(
          db,
          batch.map((record) => record.key),
        );
      }
      const restore = client.pipeline();
      for (const record of batch) {
        if (record.expireAt === NO_EXPIRY) {
          restore.restore(record.key, 0, record.dump, 'REPLACE');
        } else {
          restore.restore(record.key, record.expireAt, record.dump, 'REPLACE', 'ABSTTL');
        }
      }
      const results = (await restore.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) {
        throw new Error(`RESTORE failed: ${failed[0]?.message}`);
      }
      restored += batch.length;
      batch = [];
    };
    for (let step = await first; !step.done; step = await records.next()) {
      const record = step.value;
      if ('db' in record) {
        await flush();
        await client.select(record.db);
        db = record.db;
        continue;
      }
      if (!wanted(record.key)) {
        continue;
      }
      if (record.expireAt !== NO_EXPIRY && record.expireAt <= now()) {
        expired++;
        continue;
      }
      batch.push(record);
      if (batch.length >= RESTORE_BATCH) {
        await flush();
      }
    }
    await flush();
    return { restoredKeys: restored, expiredSkipped: expired };
  } catch (error) {
    // Releases the input (zstd) before the cleanup, which may take a while on a large restore.
    await records.return(undefined);
    client.disconnect();
    throw await undo(connection, written, replaced, options.overwrite, error);
  } finally {
    // Releases the input when the loop stopped early; a no-op once the reader finished.
    await records.return(undefined);
    client.disconnect();
    written.discard();
  }
}

/** Logs what a Redis restore did (one line) and hands the counts on to the task's result. */
function reported(counts: RedisRestoreCounts, log: LogLine | undefined): RedisRestoreCounts {
  log?.('info', 'redis keys restored', { ...counts });
  return counts;
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
        tool: {
          name: 'strongbox-redis-logical',
          version: '2',
          args: hasExpireTime(serverVersion) ? ['SCAN', 'DUMP', 'PEXPIRETIME'] : ['SCAN', 'DUMP', 'TIME', 'PTTL'],
        },
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
    const logical: LogicalRestoreOptions = {
      include: restoreOptions.include,
      overwrite: restoreOptions.overwrite,
      relativeTo: restoreOptions.backupStartedAt?.getTime(),
    };
    if (restoreOptions.format === 'rdb') {
      // A file plan: the task checks the RDB's checksum before redis-server loads it and the first key is copied.
      return {
        kind: 'file',
        fromFile: async (path) => reported(await restoreRdbIntoRunningRedis(connection, path, logical), restoreOptions.log),
      };
    }
    return { kind: 'stream', consume: async (input) => reported(await restoreLogical(connection, input, logical), restoreOptions.log) };
  },

  async targetHoldsData(connection, include) {
    const entries = await redisKeysInTheWay(connection, include);
    const keys = entries.reduce((sum, e) => sum + (e.count ?? 0), 0);
    if (keys === 0) {
      return undefined;
    }
    const matching = include.length > 0 ? ` matching ${include.join(', ')}` : '';
    return `${keys} key${keys === 1 ? '' : 's'}${matching} in ${entries.map((e) => e.name).join(', ')}`;
  },

  drill: {
    throwaway: redisThrowaway,
    database: () => undefined,
    privileges: () => 'restore',
    sanityChecks: (connection, inventory) => redisSanityChecks(connection, inventory),
  },
};

/**
 * An RDB cannot be pushed into a running Redis (SYNC only goes the other way), so the task loads it into a
 * throwaway redis-server of its own (the image carries one for drills) and copies the keys across with the
 * logical format's DUMP/PEXPIRETIME -> RESTORE ... ABSTTL: the same code as a logical restore, so key patterns
 * select here too, expiries stay the same instants, and a copy that fails half-way is taken back out.
 * Keys past their instant are counted three ways, each key once: by redis-server while it loads the RDB
 * (rdb_last_load_keys_expired), by it while the copy runs (expired_keys; the copy UNLINKs what it read, so no key
 * it copied is counted there), and by the copy itself against the target's clock. The first two cannot see
 * `include`, so with key patterns they count expired keys outside the patterns too.
 */
async function restoreRdbIntoRunningRedis(
  target: Connection,
  rdbPath: string,
  options: LogicalRestoreOptions,
): Promise<RedisRestoreCounts> {
  let loaded: ThrowawayServer | undefined;
  try {
    loaded = await startThrowaway(redisThrowaway, { load: rdbPath });
    const client = await connectRedis(loaded.connection);
    try {
      const expiredAtLoad = infoNumber(await client.info('persistence'), 'rdb_last_load_keys_expired');
      const databases = (await keyspace(client)).map((e) => Number(e.name.slice(2)));
      const copy = Readable.from(logicalDump(loaded.connection, databases, { consume: true }), { objectMode: false });
      const copied = await restoreLogical(target, copy, options);
      const expiredDuringCopy = infoNumber(await client.info('stats'), 'expired_keys');
      return { restoredKeys: copied.restoredKeys, expiredSkipped: expiredAtLoad + expiredDuringCopy + copied.expiredSkipped };
    } finally {
      client.disconnect();
    }
  } finally {
    await loaded?.stop().catch(() => undefined);
  }
}
