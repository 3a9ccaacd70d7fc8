import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyMatcher, LOGICAL_MAGIC, parseKeyspace, readLogical } from '../../../../tasks/src/engines/redis';
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
  await client.select(3);
  await client.set('other-db', '3');
  await client.select(0);
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
});
