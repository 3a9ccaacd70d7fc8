import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EngineServer, startRedis } from '../../dev/servers/engines';
import { backedUp, causeMessage, type E2e, startE2e, targetSecret } from './harness';

/**
 * The console restore of Redis, end to end on the synthesized definition. The source allows SYNC, so its
 * backups are RDB files; the task loads one into a throwaway redis-server and copies the keys into the running
 * target with DUMP/RESTORE, which is also how key patterns select.
 */

let source: EngineServer;
let target: EngineServer;
let e2e: E2e;
let secretArn: string;
let first: string;

function client(server: EngineServer, db = 0): Redis {
  return new Redis({ host: server.host, port: server.port, password: server.password, db, lazyConnect: true });
}

async function withClient<T>(server: EngineServer, db: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = client(server, db);
  await r.connect();
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

const sortedKeys = (server: EngineServer, db = 0) => withClient(server, db, async (r) => (await r.keys('*')).sort());

beforeAll(async () => {
  [source, target] = await Promise.all([startRedis(), startRedis()]);
  await withClient(source, 0, async (r) => {
    for (let i = 1; i <= 40; i++) {
      await r.set(`user:${i}`, `Zoë ${i}`);
    }
    await r.hset('cart:1', { sku: 'A-1', qty: '2' });
    await r.set('session:abc', 'x', 'EX', 3600);
  });
  await withClient(source, 3, (r) => r.rpush('queue:jobs', 'a', 'b', 'c'));
  e2e = await startE2e([{ name: 'sessions', server: source }], {
    onTaskFailure: (failure) => process.stderr.write(`task failed (${failure.stateName}):\n${failure.stderrTail}\n`),
  });
  secretArn = targetSecret(e2e.strongbox, 'sessions-scratch', target);
  first = await backedUp(e2e.strongbox, 'sessions');
}, 240_000);

beforeEach(async () => {
  await withClient(target, 0, (r) => r.flushall());
});

afterAll(async () => {
  await e2e?.stop();
  await Promise.all([source?.stop(), target?.stop()]);
});

describe('restore state machine, end to end on Redis', () => {
  it('restores a backup by backupId into a running Redis, every keyspace, values and TTLs intact', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'sessions',
      backupId: first,
      target: { host: target.host, port: target.port, secretArn },
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(result.path).toEqual(['Resolve', 'KeepResolved', 'DryRun?', 'Guard', 'Restore', 'Validate', 'Notify', 'Restored']);
    expect((await sortedKeys(target)).length).toBe(42);
    expect(await withClient(target, 0, (r) => r.get('user:7'))).toBe('Zoë 7');
    expect(await withClient(target, 0, (r) => r.hgetall('cart:1'))).toEqual({ sku: 'A-1', qty: '2' });
    expect(await withClient(target, 0, (r) => r.ttl('session:abc'))).toBeGreaterThan(3000);
    expect(await withClient(target, 3, (r) => r.lrange('queue:jobs', 0, -1))).toEqual(['a', 'b', 'c']);
  });

  it('restores by pointInTime', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'sessions',
      pointInTime: new Date().toISOString(),
      target: { host: target.host, port: target.port, secretArn },
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect((result.output as { resolved: { backupId: string } }).resolved.backupId).toBe(first);
    expect((await sortedKeys(target)).length).toBe(42);
  });

  it('restores "latest" after a newer backup', async () => {
    // Prepare
    await withClient(source, 0, (r) => r.set('user:41', 'new'));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await backedUp(e2e.strongbox, 'sessions');

    // Act
    const result = await e2e.strongbox.restore({
      database: 'sessions',
      latest: true,
      target: { host: target.host, port: target.port, secretArn },
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect((result.output as { resolved: { backupId: string } }).resolved.backupId).toBe(second);
    expect(await withClient(target, 0, (r) => r.get('user:41'))).toBe('new');
  });

  it('restores only the keys matching a pattern', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'sessions',
      latest: true,
      target: { host: target.host, port: target.port, secretArn },
      include: ['cart:*', 'queue:[jk]obs'],
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await sortedKeys(target, 0)).toEqual(['cart:1']);
    expect(await sortedKeys(target, 3)).toEqual(['queue:jobs']);
  });

  it('refuses a target that already holds keys, at Guard, and leaves them alone', async () => {
    // Prepare
    await withClient(target, 0, (r) => r.set('precious', 'keep me'));

    // Act
    const result = await e2e.strongbox.restore({
      database: 'sessions',
      latest: true,
      target: { host: target.host, port: target.port, secretArn },
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreRefusedError');
    expect(causeMessage(result.cause)).toBe(
      `Refusing to restore "sessions" into a non-empty target 127.0.0.1:${target.port} (1 key in db0): that would mix or replace data. Set "overwrite": true and "confirm": "sessions" in the input to go ahead.`,
    );
    expect(await sortedKeys(target)).toEqual(['precious']);
  });
});
