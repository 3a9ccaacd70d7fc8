import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../../../lambdas/shared/catalog';
import type { Connection } from '../../../../tasks/src/credentials';
import {
  globMatch,
  keyMatcher,
  LOGICAL_MAGIC,
  parseKeyspace,
  RedisArtifactError,
  readLogical,
  redisAdapter,
} from '../../../../tasks/src/engines/redis';
import { startDecompressor } from '../../../../tasks/src/stream/compress';
import { type EngineServer, freePort, startRedis } from '../../../support/engines';
import { type LocalS3, startS3rver } from '../../../support/s3rver';
import { baseEnv, runTask } from '../../run-task';

async function seed(client: Redis): Promise<void> {
  await client.set('user:1', 'Zoë 🚀 日本語');
  await client.set(Buffer.from([0x00, 0xff, 0x10]), Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]));
  await client.set('big', 'x'.repeat(3_000_000));
  await client.set('session:9', 'expiring', 'EX', 3600);
  await client.hset('order:1', { total: '12.50', note: 'ü' });
  await client.rpush('queue', 'a', 'b', 'c');
  await client.zadd('rank', 1, 'one', 2, 'two');
  await client.set('user:2', 'two');
  await client.set('user:10', 'ten');
  await client.set('order:22', 'two digits');
  await client.set('weird*key', 'a literal star');
  await client.set('weirdXkey', 'no star');
  await client.select(3);
  await client.set('other-db', '3');
  await client.set('user:7', 'seven');
  await client.select(0);
}

type LogicalRecord = { db: number } | { key: Buffer; dump: Buffer; pttl: number };

/** The logical format, framed independently of the code under test (see the format comment in redis.ts). */
function frame(records: readonly LogicalRecord[]): Buffer {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const parts: Buffer[] = [Buffer.from('STRONGBOX-REDIS-LOGICAL/1\n')];
  for (const r of records) {
    if ('db' in r) {
      parts.push(Buffer.from([0x01]), u32(r.db));
    } else {
      const ttl = Buffer.alloc(8);
      ttl.writeBigInt64BE(BigInt(r.pttl));
      parts.push(Buffer.from([0x02]), u32(r.key.length), r.key, u32(r.dump.length), r.dump, ttl);
    }
  }
  parts.push(Buffer.from([0xff]));
  return Buffer.concat(parts);
}

/** `data` cut at the given offsets (sorted, duplicates give empty chunks). */
function chunked(data: Buffer, cuts: readonly number[]): Buffer[] {
  const sorted = [...cuts].sort((a, b) => a - b);
  return [0, ...sorted].map((start, i) => data.subarray(start, i < sorted.length ? sorted[i] : data.length));
}

async function readAll(chunks: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<LogicalRecord[]> {
  const out: LogicalRecord[] = [];
  for await (const record of readLogical(Readable.from(chunks))) {
    out.push(record);
  }
  return out;
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/** A TCP proxy that holds every new connection for `delayMs` before joining it to `port` (a slow network). */
async function slowProxy(port: number, delayMs: number): Promise<Server & { port: number }> {
  const server = createServer((socket) => {
    socket.pause();
    socket.on('error', () => undefined);
    setTimeout(() => {
      const upstream = tcpConnect(port, '127.0.0.1');
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      socket.pipe(upstream).pipe(socket);
      socket.resume();
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return Object.assign(server, { port: typeof address === 'object' && address ? address.port : 0 });
}

function connectionTo(server: EngineServer, port = server.port): Connection {
  return { host: '127.0.0.1', port, username: undefined, password: server.password, tls: 'disable' } as Connection;
}

/** Every key per database, sorted, as latin1 strings. */
async function keysByDb(client: Redis): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const { name } of parseKeyspace(await client.info('keyspace'))) {
    await client.select(Number(name.slice(2)));
    out[name] = (await client.keysBuffer('*')).map((k) => k.toString('latin1')).sort();
  }
  await client.select(0);
  return out;
}

async function dumpState(client: Redis): Promise<Record<string, unknown>> {
  const big = await client.get('big');
  return {
    user: await client.get('user:1'),
    binary: (await client.getBuffer(Buffer.from([0x00, 0xff, 0x10])))?.toString('hex'),
    big: big?.length,
    ttl: (await client.ttl('session:9')) > 3500,
    hash: await client.hgetall('order:1'),
    list: await client.lrange('queue', 0, -1),
    zset: await client.call('ZRANGE', 'rank', '0', '-1', 'WITHSCORES'),
  };
}

describe('Redis logical format', () => {
  it('reads back what it frames and rejects a stream cut before its end marker', async () => {
    // Prepare
    const u32 = (n: number) => Buffer.from([0, 0, 0, n]);
    const ttl = Buffer.alloc(8);
    ttl.writeBigInt64BE(-1n);
    const record = Buffer.concat([Buffer.from([2]), u32(1), Buffer.from('k'), u32(2), Buffer.from('vv'), ttl]);
    const complete = Buffer.concat([LOGICAL_MAGIC, Buffer.from([1]), u32(2), record, Buffer.from([0xff])]);
    // Act
    const read = async (data: Buffer) => {
      const out: unknown[] = [];
      for await (const item of readLogical(Readable.from([data.subarray(0, 7), data.subarray(7)]))) out.push(item);
      return out;
    };
    // Assess
    expect(await read(complete)).toEqual([{ db: 2 }, { key: Buffer.from('k'), dump: Buffer.from('vv'), pttl: -1 }]);
    await expect(read(complete.subarray(0, complete.length - 1))).rejects.toThrow('truncated');
  });

  it('reads the same records however the bytes are chunked, down to 1-byte chunks and empty chunks', async () => {
    // Prepare
    const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
    const record: fc.Arbitrary<LogicalRecord> = fc.oneof(
      fc.record({ db: fc.integer({ min: 0, max: 15 }) }),
      fc.record({ key: bytes, dump: bytes, pttl: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 2 ** 40 })) }),
    );
    const input = fc.array(record, { maxLength: 8 }).chain((records) => {
      const data = frame(records);
      const cuts = fc.oneof(
        fc.array(fc.integer({ min: 0, max: data.length }), { maxLength: 12 }),
        fc.constant(Array.from({ length: data.length - 1 }, (_, i) => i + 1)),
      );
      return fc.tuple(fc.constant(records), fc.constant(data), cuts);
    });
    // Act, Assess
    await fc.assert(
      fc.asyncProperty(input, async ([records, data, cuts]) => {
        expect(await readAll(chunked(data, cuts))).toEqual(records);
      }),
      { numRuns: 300 },
    );
  });

  it('reads a fixed artifact split at every single offset, and at every pair of offsets inside the header', async () => {
    // Prepare
    const records: LogicalRecord[] = [{ db: 3 }, { key: Buffer.from('k'), dump: Buffer.from('vv'), pttl: 1234 }, { db: 0 }];
    const data = frame(records);
    const splits: number[][] = [];
    for (let i = 0; i <= data.length; i++) {
      splits.push([i]);
    }
    for (let i = 1; i < LOGICAL_MAGIC.length; i++) {
      for (let j = i; j <= LOGICAL_MAGIC.length + 1; j++) {
        splits.push([i, j]);
      }
    }
    // Act
    const results = await Promise.all(splits.map((cuts) => readAll(chunked(data, cuts))));
    // Assess
    expect(results.filter((r) => JSON.stringify(r) !== JSON.stringify(records))).toEqual([]);
  });

  it('rejects every strict prefix of an artifact with a clear RedisArtifactError, never with partial success', async () => {
    // Prepare
    const data = frame([{ db: 0 }, { key: Buffer.from('key'), dump: Buffer.from('dump'), pttl: -1 }]);
    // Act
    const failures = await Promise.all(
      Array.from({ length: data.length }, (_, n) => failureOf(readAll(chunked(data.subarray(0, n), [Math.floor(n / 2)])))),
    );
    // Assess
    expect(failures.every((e) => e instanceof RedisArtifactError)).toBe(true);
    expect(failures[0].message).toBe(
      'redis logical artifact is empty: expected a Strongbox redis logical artifact, whose first bytes are "STRONGBOX-REDIS-LOGICAL/1\\n", but the decompressed stream ended before its first byte',
    );
    expect(failures[10].message).toContain('truncated');
    expect(failures[10].message).toContain('ends after 10 of them');
    expect(failures.slice(LOGICAL_MAGIC.length).every((e) => e.message.includes('ends before its end marker'))).toBe(true);
  });

  it('names what it expected when the artifact is foreign or corrupt', async () => {
    // Prepare
    const rdb = Buffer.concat([Buffer.from('REDIS0010'), Buffer.from([0xfa, 0x09]), Buffer.from('redis-ver'), randomBytes(64)]);
    const unknownTag = Buffer.concat([LOGICAL_MAGIC, Buffer.from([0x07])]);
    const trailing = Buffer.concat([frame([]), Buffer.from('x')]);
    // Act
    const [foreign, tag, after] = await Promise.all([
      failureOf(readAll([rdb])),
      failureOf(readAll([unknownTag])),
      failureOf(readAll([trailing])),
    ]);
    // Assess
    expect(foreign).toBeInstanceOf(RedisArtifactError);
    expect(foreign.message).toMatch(
      /^not a Strongbox redis logical artifact: expected a Strongbox redis logical artifact, whose first bytes are "STRONGBOX-REDIS-LOGICAL\/1\\n", found "REDIS0010\\xfa\\x09redis-ver/,
    );
    expect(foreign.message).toContain('this is an RDB file, which is restored with STRONGBOX_RESTORE_PATH');
    expect(tag.message).toBe('redis logical artifact is corrupt: unknown record tag 0x07');
    expect(after.message).toBe('redis logical artifact is corrupt: bytes follow its end marker');
  });

  it('releases (destroys) its source stream when it stops on an error, so the producer behind it is not left blocked', async () => {
    // Prepare
    const source = Readable.from([Buffer.from('GARBAGE-GARBAGE-GARBAGE-GARBAGE'), Buffer.alloc(1024 * 1024)], { objectMode: false });
    // Act
    const error = await failureOf(
      (async () => {
        for await (const _ of readLogical(source)) {
          // no records expected
        }
      })(),
    );
    // Assess
    expect(error.message).toContain('not a Strongbox redis logical artifact');
    expect(source.destroyed).toBe(true);
  });

  it('matches keys with Redis glob semantics: *, ?, [abc], [^abc], [a-z], and backslash escapes', () => {
    // Prepare
    const cases: [string, string, boolean][] = [
      ['user:*', 'user:', true],
      ['user:*', 'users', false],
      ['user:?', 'user:1', true],
      ['user:?', 'user:10', false],
      ['user:[12]', 'user:2', true],
      ['user:[12]', 'user:3', false],
      ['user:[^12]', 'user:3', true],
      ['user:[^12]', 'user:1', false],
      ['user:[0-9]', 'user:7', true],
      ['user:[9-0]', 'user:7', true],
      ['user:[0-9]', 'user:x', false],
      ['weird\\*key', 'weird*key', true],
      ['weird\\*key', 'weirdXkey', false],
      ['a\\?', 'a?', true],
      ['a\\?', 'ab', false],
      ['[\\]]', ']', true],
      ['ü*', 'über', true],
      ['*', '', true],
      ['a*b*c', 'aXbYc', true],
      ['a*b*c', 'aXbY', false],
    ];
    // Act
    const results = cases.map(([pattern, key]) => keyMatcher([pattern])(Buffer.from(key)));
    // Assess
    expect(results).toEqual(cases.map(([, , expected]) => expected));
    expect(keyMatcher([])(Buffer.from([0x00, 0xff]))).toBe(true);
  });

  it('parses INFO keyspace and matches key patterns', () => {
    // Prepare, Act
    const entries = parseKeyspace('# Keyspace\r\ndb0:keys=7,expires=1,avg_ttl=0\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n');
    const match = keyMatcher(['user:*', 'q?eue']);
    // Assess
    expect(entries).toEqual([
      { name: 'db0', kind: 'keyspace', count: 7 },
      { name: 'db3', kind: 'keyspace', count: 1 },
    ]);
    expect([match(Buffer.from('user:1')), match(Buffer.from('queue')), match(Buffer.from('big'))]).toEqual([true, true, false]);
  });
});

describe('dump task entrypoint with Redis', () => {
  let source: EngineServer;
  let target: EngineServer;
  let s3: LocalS3;
  let client: Redis;
  const env = (extra: Record<string, string>) => ({
    ...baseEnv(),
    ...source.taskEnv(),
    STRONGBOX_DATABASE: 'cache',
    STRONGBOX_VAULT_BUCKET: 'vault',
    STRONGBOX_S3_ENDPOINT: s3.endpoint,
    ...extra,
  });

  beforeAll(async () => {
    [source, target, s3] = await Promise.all([startRedis(), startRedis(), startS3rver(['vault'])]);
    client = new Redis({ host: source.host, port: source.port, password: source.password });
    await seed(client);
  });
  afterAll(async () => {
    client?.disconnect();
    await s3?.stop();
    await source?.stop();
    await target?.stop();
  });

  it('round-trips in logical mode into a new instance with identical keyspaces, values and TTLs', async () => {
    // Prepare
    const backup = await runTask(env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_REDIS_MODE: 'logical' }));
    expect(backup.code, backup.stderr).toBe(0);
    // Act
    const restore = await runTask(
      env({
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_BACKUP_ID: String(backup.result.backupId),
        STRONGBOX_TARGET_PORT: String(target.port),
        STRONGBOX_DB_PASSWORD: target.password,
      }),
    );
    // Assess
    expect(restore.code, restore.stderr).toBe(0);
    expect(String(backup.result.key)).toMatch(/data\.redis-logical\.zst$/);
    const copy = new Redis({ host: target.host, port: target.port, password: target.password });
    expect(await copy.info('keyspace').then(parseKeyspace)).toEqual(await client.info('keyspace').then(parseKeyspace));
    expect(await dumpState(copy)).toEqual(await dumpState(client));
    copy.disconnect();
  });

  it('backs up with redis-cli --rdb where SYNC is allowed, and the RDB loads into a fresh redis-server', async () => {
    // Prepare
    const backup = await runTask(env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_REDIS_MODE: 'auto' }));
    expect(backup.code, backup.stderr).toBe(0);
    // Act
    const restore = await runTask(
      env({
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_BACKUP_ID: String(backup.result.backupId),
        STRONGBOX_RESTORE_PATH: join(target.directory, 'dump.rdb'),
      }),
    );
    const port = await freePort();
    const server = spawn('redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      target.directory,
      '--dbfilename',
      'dump.rdb',
      '--save',
      '',
    ]);
    const fresh = new Redis({ host: '127.0.0.1', port, retryStrategy: (n) => (n < 50 ? 100 : null) });
    fresh.on('error', () => undefined); // refusals until the server is up are expected; it retries
    // Assess
    expect(restore.code, restore.stderr).toBe(0);
    expect(String(backup.result.key)).toMatch(/data\.rdb\.zst$/);
    expect(await dumpState(fresh)).toEqual(await dumpState(client));
    expect(await fresh.info('keyspace').then(parseKeyspace)).toEqual(await client.info('keyspace').then(parseKeyspace));
    fresh.disconnect();
    server.kill();
  });

  it('fails clearly on a wrong password without printing it', async () => {
    // Prepare
    const wrong = 'N0t-The-Redis-Pass-99';
    // Act
    const out = await runTask(env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_PASSWORD: wrong }));
    // Assess
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('cannot connect to redis at 127.0.0.1');
    expect(out.stdout + out.stderr).not.toContain(wrong);
  });

  it('restores only the keys matching STRONGBOX_INCLUDE, into a target holding other keys, and refuses a second run over them', async () => {
    // Prepare
    const backup = await runTask(
      env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_REDIS_MODE: 'logical', STRONGBOX_BACKUP_ID: 'cache-20260102T000000Z-full' }),
    );
    expect(backup.code, backup.stderr).toBe(0);
    const patterns = ['user:[1-2]', 'order:?', 'weird\\*key', 'session:*', '[^u]ther-db'];
    const selective = await startRedis();
    const copy = new Redis({ host: selective.host, port: selective.port, password: selective.password });
    await copy.set('unrelated', 'kept');
    const restoreEnv = env({
      STRONGBOX_COMMAND: 'restore',
      STRONGBOX_BACKUP_ID: String(backup.result.backupId),
      STRONGBOX_TARGET_PORT: String(selective.port),
      STRONGBOX_DB_PASSWORD: selective.password,
      STRONGBOX_INCLUDE: JSON.stringify(patterns),
    });
    const expectedFromServer: Record<string, string[]> = {};
    for (const db of [0, 3]) {
      await client.select(db);
      const matched = new Set<string>();
      for (const pattern of patterns) {
        for (const key of await client.keys(pattern)) matched.add(key);
      }
      expectedFromServer[`db${db}`] = [...matched].sort();
    }
    await client.select(0);
    try {
      // Act
      const restore = await runTask(restoreEnv);
      const again = await runTask(restoreEnv);
      // Assess
      expect(restore.code, restore.stderr).toBe(0);
      expect(expectedFromServer).toEqual({ db0: ['order:1', 'session:9', 'user:1', 'user:2', 'weird*key'], db3: ['other-db'] });
      expect(await keysByDb(copy)).toEqual({ db0: [...expectedFromServer.db0, 'unrelated'].sort(), db3: expectedFromServer.db3 });
      expect(await copy.info('keyspace').then(parseKeyspace)).toEqual([
        { name: 'db0', kind: 'keyspace', count: 6 },
        { name: 'db3', kind: 'keyspace', count: 1 },
      ]);
      expect(await copy.hgetall('order:1')).toEqual({ total: '12.50', note: 'ü' });
      expect(await copy.ttl('session:9')).toBeGreaterThan(3500);
      expect(await copy.get('unrelated')).toBe('kept');
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('user:[1-2]');
    } finally {
      copy.disconnect();
      await selective.stop();
    }
  });

  it('refuses STRONGBOX_INCLUDE for an RDB written to STRONGBOX_RESTORE_PATH before writing anything, naming the variable and the fix', async () => {
    // Prepare
    const backup = await runTask(
      env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_REDIS_MODE: 'rdb', STRONGBOX_BACKUP_ID: 'cache-20260103T000000Z-full' }),
    );
    expect(backup.code, backup.stderr).toBe(0);
    const restorePath = join(target.directory, 'selective.rdb');
    // Act
    const restore = await runTask(
      env({
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_BACKUP_ID: String(backup.result.backupId),
        STRONGBOX_RESTORE_PATH: restorePath,
        STRONGBOX_INCLUDE: '["user:*"]',
      }),
    );
    // Assess
    expect(String(backup.result.key)).toMatch(/data\.rdb\.zst$/);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toContain('STRONGBOX_INCLUDE: ["user:*"]; an RDB written to STRONGBOX_RESTORE_PATH is loaded whole');
    expect(restore.stderr).toContain('Leave STRONGBOX_INCLUDE out, or restore into a running Redis (leave STRONGBOX_RESTORE_PATH out)');
    expect(restore.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(restorePath)).toBe(false);
  });

  it('fails a foreign artifact (checksum intact) with a message naming the expected header and no stack trace', async () => {
    // Prepare
    const backup = await runTask(
      env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_REDIS_MODE: 'logical', STRONGBOX_BACKUP_ID: 'cache-20260104T000000Z-full' }),
    );
    expect(backup.code, backup.stderr).toBe(0);
    const backupId = String(backup.result.backupId);
    const s3Client = s3.client();
    const got = await s3Client.send(new GetObjectCommand({ Bucket: 'vault', Key: keys.manifest(backupId) }));
    const manifest = JSON.parse(String(await got.Body?.transformToString()));
    const foreign = spawnSync('zstd', ['-c', '-q'], { input: Buffer.concat([Buffer.from('REDIS0010'), randomBytes(300_000)]) }).stdout;
    manifest.artifact = { ...manifest.artifact, bytes: foreign.length, sha256: createHash('sha256').update(foreign).digest('hex') };
    await s3Client.send(new PutObjectCommand({ Bucket: 'vault', Key: manifest.artifact.key, Body: foreign }));
    await s3Client.send(new PutObjectCommand({ Bucket: 'vault', Key: keys.manifest(backupId), Body: JSON.stringify(manifest) }));
    const empty = await startRedis();
    try {
      // Act
      const restore = await runTask(
        env({
          STRONGBOX_COMMAND: 'restore',
          STRONGBOX_BACKUP_ID: backupId,
          STRONGBOX_TARGET_PORT: String(empty.port),
          STRONGBOX_DB_PASSWORD: empty.password,
        }),
      );
      // Assess
      expect(restore.code).toBe(1);
      expect(restore.stderr).toContain(
        'strongbox: not a Strongbox redis logical artifact: expected a Strongbox redis logical artifact, whose first bytes are "STRONGBOX-REDIS-LOGICAL/1\\n", found "REDIS0010',
      );
      expect(restore.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await empty.stop();
    }
  });

  it('restores a small artifact whose zstd has exited before the target connection is up (slow network)', async () => {
    // Prepare: a small logical artifact, compressed; a proxy that delays every connection to an empty target.
    const small = frame([
      { db: 0 },
      ...(await Promise.all(
        ['user:1', 'queue', 'rank'].map(async (key) => ({
          key: Buffer.from(key),
          dump: (await client.dumpBuffer(key)) as Buffer,
          pttl: -1,
        })),
      )),
    ]);
    const compressed = spawnSync('zstd', ['-c', '-q'], { input: small }).stdout;
    const empty = await startRedis();
    const proxy = await slowProxy(empty.port, 400);
    const copy = new Redis({ host: empty.host, port: empty.port, password: empty.password });
    try {
      const plan = await redisAdapter.restore(connectionTo(empty, proxy.port), {
        format: 'redis-logical',
        include: [],
        jobs: 1,
        overwrite: false,
      });
      if (plan.kind !== 'stream') throw new Error('expected a stream plan');
      // Act: as runRestore does, zstd -d is started and its stdout handed over in the same tick.
      const zstd = startDecompressor('pipe');
      zstd.child.stdin?.end(compressed);
      const decompressed = zstd.child.stdout;
      if (!decompressed) throw new Error('zstd has no stdout');
      const results = await Promise.allSettled([plan.consume(decompressed), zstd.succeeded()]);
      // Assess
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
      expect((await copy.keys('*')).sort()).toEqual(['queue', 'rank', 'user:1']);
      expect(await copy.lrange('queue', 0, -1)).toEqual(['a', 'b', 'c']);
    } finally {
      copy.disconnect();
      proxy.close();
      await empty.stop();
    }
  });

  it('stops a large foreign artifact at its header and lets zstd exit instead of blocking on a full pipe', async () => {
    // Prepare
    const compressed = spawnSync('zstd', ['-c', '-q', '-1'], { input: randomBytes(4 * 1024 * 1024), maxBuffer: 64 * 1024 * 1024 }).stdout;
    const empty = await startRedis();
    try {
      const plan = await redisAdapter.restore(connectionTo(empty), { format: 'redis-logical', include: [], jobs: 1, overwrite: false });
      if (plan.kind !== 'stream') throw new Error('expected a stream plan');
      const zstd = startDecompressor('pipe');
      zstd.child.stdin?.on('error', () => undefined);
      zstd.child.stdin?.end(compressed);
      const decompressed = zstd.child.stdout;
      if (!decompressed) throw new Error('zstd has no stdout');
      // Act
      const settled = Promise.allSettled([plan.consume(decompressed), zstd.exited]);
      const outcome = await Promise.race([settled, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000))]);
      // Assess
      expect(outcome).not.toBe('hung');
      const [consumed] = outcome as PromiseSettledResult<unknown>[];
      expect(consumed.status).toBe('rejected');
      expect(String((consumed as PromiseRejectedResult).reason)).toContain('not a Strongbox redis logical artifact');
    } finally {
      await empty.stop();
    }
  });
});

describe('Redis glob patterns against redis-server', () => {
  let server: EngineServer;
  let redis: Redis;
  const keySet = [
    '',
    'a',
    'b',
    'ab',
    'ba',
    'abc',
    'cab',
    'aaa',
    'abab',
    'a*c',
    'a?c',
    '[a]',
    'a-c',
    '\\',
    ']',
    '^a',
    'a\\b',
    '-',
    'acb',
    'bbb',
  ];

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis({ host: server.host, port: server.port, password: server.password });
    await redis.mset(Object.fromEntries(keySet.map((k) => [k, '1'])));
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('selects exactly the keys KEYS/SCAN MATCH selects, for random patterns over the glob metacharacters', async () => {
    // Prepare
    const pattern = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '*', '?', '[', ']', '^', '-', '\\'), maxLength: 8 });
    // Act, Assess
    await fc.assert(
      fc.asyncProperty(pattern, async (p) => {
        const listed = (await redis.keys(p)).sort();
        const ours = keySet.filter((k) => globMatch(Buffer.from(p), Buffer.from(k))).sort();
        expect(ours).toEqual(listed);
      }),
      { numRuns: 400 },
    );
    expect((await redis.keys('a\\*c')).sort()).toEqual(['a*c']);
  });
});
