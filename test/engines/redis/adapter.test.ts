import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../../contracts/vault';
import { type EngineServer, freePort, startRedis } from '../../../dev/servers/engines';
import { type LocalS3, startS3rver } from '../../../dev/servers/s3rver';
import type { Connection } from '../../../engines/connection';
import { redisAdapter } from '../../../engines/redis/adapter';
import { parseKeyspace } from '../../../engines/redis/connection';
import { startDecompressor } from '../../../tasks/src/stream/compress';
import { baseEnv, runTask } from '../../tasks/run-task';
import { frame, frameV1 } from './frames';

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
        'strongbox: not a Strongbox redis logical artifact: expected a Strongbox redis logical artifact, whose first bytes are "STRONGBOX-REDIS-LOGICAL/2\\n" (or "STRONGBOX-REDIS-LOGICAL/1\\n" before version 2), found "REDIS0010',
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
          expireAt: -1,
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

/** Every key of every keyspace with its PEXPIRETIME (-1: none), as `db<n> <hex key>` -> ms. */
async function expiriesOf(server: EngineServer): Promise<Record<string, number>> {
  const redis = new Redis({ host: server.host, port: server.port, password: server.password });
  try {
    const out: Record<string, number> = {};
    for (const { name } of parseKeyspace(await redis.info('keyspace'))) {
      await redis.select(Number(name.slice(2)));
      for (const key of await redis.keysBuffer('*')) {
        out[`${name} ${key.toString('hex')}`] = await redis.pexpiretime(key);
      }
    }
    return out;
  } finally {
    redis.disconnect();
  }
}

async function totalKeys(server: EngineServer): Promise<number> {
  const redis = new Redis({ host: server.host, port: server.port, password: server.password });
  try {
    return parseKeyspace(await redis.info('keyspace')).reduce((sum, e) => sum + (e.count ?? 0), 0);
  } finally {
    redis.disconnect();
  }
}

/** Rewrites a stored artifact with one byte flipped at `at` (0..1 of its length), so its sha256 no longer matches. */
async function corrupt(s3: LocalS3, backupId: string, at: number): Promise<void> {
  const client = s3.client();
  const manifest = JSON.parse(
    String(await (await client.send(new GetObjectCommand({ Bucket: 'vault', Key: keys.manifest(backupId) }))).Body?.transformToString()),
  );
  const body = Buffer.from(
    await (await client.send(new GetObjectCommand({ Bucket: 'vault', Key: manifest.artifact.key }))).Body!.transformToByteArray(),
  );
  const i = Math.floor(body.length * at);
  body[i] ^= 0xff;
  await client.send(new PutObjectCommand({ Bucket: 'vault', Key: manifest.artifact.key, Body: body }));
}

describe('Redis restore fidelity: absolute expiries, and a failed restore leaves the target as it was', () => {
  const SHORT_MS = 15_000;
  let source: EngineServer;
  let bulk: EngineServer;
  let s3: LocalS3;
  let workDir: string;
  let logicalId: string;
  let rdbId: string;
  let bulkLogicalId: string;
  let bulkRdbId: string;
  const env = (server: EngineServer, extra: Record<string, string>) => ({
    ...baseEnv(),
    ...server.taskEnv(),
    STRONGBOX_DATABASE: 'cache',
    STRONGBOX_VAULT_BUCKET: 'vault',
    STRONGBOX_S3_ENDPOINT: s3.endpoint,
    STRONGBOX_WORK_DIR: workDir,
    ...extra,
  });
  const backup = async (server: EngineServer, mode: string, backupId: string) => {
    const run = await runTask(env(server, { STRONGBOX_COMMAND: 'backup', STRONGBOX_REDIS_MODE: mode, STRONGBOX_BACKUP_ID: backupId }));
    expect(run.code, run.stderr).toBe(0);
    return String(run.result.backupId);
  };
  const restoreInto = (server: EngineServer, target: EngineServer, backupId: string, extra: Record<string, string> = {}) =>
    runTask(
      env(server, {
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_BACKUP_ID: backupId,
        STRONGBOX_TARGET_PORT: String(target.port),
        STRONGBOX_DB_PASSWORD: target.password,
        ...extra,
      }),
    );

  beforeAll(async () => {
    [source, bulk, s3] = await Promise.all([startRedis(), startRedis(), startS3rver(['vault'])]);
    workDir = mkdtempSync(join(tmpdir(), 'strongbox-redis-work-'));
    const b = new Redis({ host: bulk.host, port: bulk.port, password: bulk.password });
    for (let i = 0; i < 30_000; i += 1000) {
      const batch = b.pipeline();
      for (let j = i; j < i + 1000; j++) {
        batch.set(`bulk:${j}`, randomBytes(256));
      }
      await batch.exec();
    }
    b.disconnect();
    const src = new Redis({ host: source.host, port: source.port, password: source.password });
    const base = Date.now() + 3_600_000;
    await src.set('plain', 'no expiry');
    await src.set('exp:string', 'v');
    await src.pexpireat('exp:string', base + 123);
    await src.hset('exp:hash', { a: '1' });
    await src.pexpireat('exp:hash', base + 4567);
    await src.rpush('exp:list', 'a', 'b');
    await src.pexpireat('exp:list', base + 89);
    await src.set('short:1', 'gone before the restore', 'PX', SHORT_MS);
    await src.select(4);
    await src.set(Buffer.from([0xff, 0x00, 0x01]), 'binary key, expiring');
    await src.pexpireat(Buffer.from([0xff, 0x00, 0x01]), base + 1);
    await src.set('short:2', 'gone before the restore', 'PX', SHORT_MS);
    await src.select(0);
    const seeded = Date.now();
    [logicalId, rdbId] = await Promise.all([
      backup(source, 'logical', 'cache-20260201T000000Z-full'),
      backup(source, 'rdb', 'cache-20260202T000000Z-full'),
    ]);
    // The short keys were alive when the dumps finished, so both backups hold them; the restores come after.
    expect(await src.exists('short:1'), `the backups took ${Date.now() - seeded} ms, longer than the short keys live`).toBe(1);
    [bulkLogicalId, bulkRdbId] = await Promise.all([
      backup(bulk, 'logical', 'cache-20260203T000000Z-full'),
      backup(bulk, 'rdb', 'cache-20260204T000000Z-full'),
    ]);
    const lapse = Math.max(0, (await src.pexpiretime('short:1')) - Date.now() + 50);
    await new Promise((resolve) => setTimeout(resolve, lapse));
    await src.keys('*'); // lets the source delete what expired, so its inventory is what a restore should give
    await src.select(4);
    await src.keys('*');
    src.disconnect();
  }, 180_000);
  afterAll(async () => {
    await Promise.all([source?.stop(), bulk?.stop(), s3?.stop()]);
    rmSync(workDir, { recursive: true, force: true });
  });

  for (const mode of ['logical', 'rdb'] as const) {
    it(`${mode}: restores each expiry as the same instant to the millisecond, seconds after the backup, and skips and counts keys past theirs`, async () => {
      // Prepare
      const target = await startRedis();
      try {
        // Act
        const run = await restoreInto(source, target, mode === 'logical' ? logicalId : rdbId);
        // Assess
        expect(run.code, run.stderr).toBe(0);
        expect(await expiriesOf(target)).toEqual(await expiriesOf(source));
        expect(Object.keys(await expiriesOf(target))).toHaveLength(5);
        expect(run.result.expiredSkipped).toBe(2);
        expect(run.result.restoredKeys).toBe(5);
        expect(run.stdout).toMatch(/"message":"redis keys restored".*"restoredKeys":5,"expiredSkipped":2/);
      } finally {
        await target.stop();
      }
    });
  }

  it('reads a version-1 artifact, turning its relative TTLs into instants counted from the backup start', async () => {
    // Prepare
    const started = Date.now() - 10_000;
    const dumpOf = async (value: string) => {
      const scratch = new Redis({ host: source.host, port: source.port, password: source.password, db: 9 });
      await scratch.set('scratch', value);
      const dump = (await scratch.dumpBuffer('scratch')) as Buffer;
      await scratch.del('scratch');
      scratch.disconnect();
      return dump;
    };
    const v1 = frameV1([
      { db: 0 },
      { key: Buffer.from('kept'), dump: await dumpOf('a'), pttl: 60_000 },
      { key: Buffer.from('lapsed'), dump: await dumpOf('b'), pttl: 5_000 },
      { key: Buffer.from('forever'), dump: await dumpOf('c'), pttl: -1 },
    ]);
    const target = await startRedis();
    try {
      const plan = await redisAdapter.restore(connectionTo(target), {
        format: 'redis-logical',
        include: [],
        jobs: 1,
        overwrite: false,
        backupStartedAt: new Date(started),
      });
      if (plan.kind !== 'stream') throw new Error('expected a stream plan');
      // Act
      const details = await plan.consume(Readable.from([v1]));
      // Assess
      expect(await expiriesOf(target)).toEqual({
        [`db0 ${Buffer.from('kept').toString('hex')}`]: started + 60_000,
        [`db0 ${Buffer.from('forever').toString('hex')}`]: -1,
      });
      expect(details).toEqual({ restoredKeys: 2, expiredSkipped: 1 });
    } finally {
      await target.stop();
    }
  });

  it('logical: a corrupt artifact fails on its checksum and leaves an empty target empty, with no journal left behind', async () => {
    // Prepare
    await corrupt(s3, bulkLogicalId, 0.9);
    const target = await startRedis();
    try {
      // Act
      const run = await restoreInto(bulk, target, bulkLogicalId);
      // Assess
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('checksum mismatch');
      expect(run.stderr).toMatch(/the \d+ keys this restore had written were removed again/);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(await totalKeys(target)).toBe(0);
      expect(readdirSync(workDir)).toEqual([]);
    } finally {
      await target.stop();
    }
  });

  it('logical with overwrite: a corrupt artifact removes the keys it created, keeps the others, and says plainly that replaced keys are gone', async () => {
    // Prepare: the artifact is corrupt since the test above
    const target = await startRedis();
    const t = new Redis({ host: target.host, port: target.port, password: target.password });
    await t.set('unrelated', 'kept');
    for (let i = 0; i < 30_000; i += 300) {
      await t.set(`bulk:${i}`, 'old value');
    }
    try {
      // Act
      const run = await restoreInto(bulk, target, bulkLogicalId, { STRONGBOX_RESTORE_OVERWRITE: 'true' });
      // Assess
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('checksum mismatch');
      const replaced =
        /(\d+) keys? that already existed on the target had been replaced by the backup's values and cannot be put back: their earlier values are gone/.exec(
          run.stderr,
        );
      expect(replaced, run.stderr).not.toBeNull();
      expect(Number(replaced?.[1])).toBeGreaterThan(0);
      expect(Number(replaced?.[1])).toBeLessThanOrEqual(100);
      expect(await totalKeys(target)).toBe(101);
      expect(await t.get('unrelated')).toBe('kept');
    } finally {
      t.disconnect();
      await target.stop();
    }
  });

  it('rdb: a restore that fails half-way (the target runs out of memory) removes the keys it had copied', async () => {
    // Prepare
    const target = await startRedis();
    const t = new Redis({ host: target.host, port: target.port, password: target.password });
    const used = Number(/^used_memory:(\d+)/m.exec(await t.info('memory'))?.[1]);
    await t.config('SET', 'maxmemory', String(used + 3 * 1024 * 1024));
    await t.config('SET', 'maxmemory-policy', 'noeviction');
    try {
      // Act
      const run = await restoreInto(bulk, target, bulkRdbId);
      // Assess
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('OOM');
      expect(run.stderr).toMatch(/the \d+ keys this restore had written were removed again/);
      expect(await totalKeys(target)).toBe(0);
    } finally {
      t.disconnect();
      await target.stop();
    }
  });
});
