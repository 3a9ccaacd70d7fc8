import { randomBytes, randomUUID } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, ManifestSchema } from '../../contracts/vault';
import { getJson } from '../../contracts/vault-io';
import { type EngineServer, startRedis } from '../../dev/servers/engines';
import { backedUp, causeMessage, type E2e, getBytes, startE2e, targetSecret } from './harness';

/**
 * Redis fidelity through the synthesized backup and restore state machines, judged by Redis itself rather than
 * by Strongbox's inventory: DEBUG DIGEST over every logical database (values and types, and which keys carry an
 * expiry), XINFO STREAM FULL for what the digest leaves out of a stream (consumer groups, their pending entries
 * and consumers), and PEXPIRETIME of every key, which must be the same instant to the millisecond. One source is
 * backed up twice, as `cache-rdb` (redis-cli --rdb) and `cache-logical` (SCAN + DUMP/PEXPIRETIME); every restore
 * runs after the backups' short-lived keys have expired, so each one is a delayed restore.
 */

const MODES = ['rdb', 'logical'] as const;
type Mode = (typeof MODES)[number];
const DATABASES = [0, 1, 2, 5];
/** Keys that are in both backups and expire before the first restore, by logical database. */
const EPHEMERAL: Record<number, string[]> = { 0: ['ephemeral:a'], 1: ['ephemeral:b', 'ephemeral:c'] };
const EPHEMERAL_COUNT = Object.values(EPHEMERAL).flat().length;
/** How long they live: longer than the two backups take on a busy machine. */
const EPHEMERAL_MS = 30_000;
/** Enough incompressible data that the artifact outgrows the restore's 4 MiB checksum hold-back. */
const BULK_KEYS = 30_000;

let source: EngineServer;
let e2e: E2e;
const backupIds: Partial<Record<Mode, string>> = {};
/** Per restore execution: the Restore task's last stdout JSON (its result) and its stderr tail. */
const taskResults = new Map<string, Record<string, unknown>>();
const taskStderr = new Map<string, string>();

async function withClient<T>(server: EngineServer, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host: server.host, port: server.port, password: server.password, lazyConnect: true });
  await r.connect();
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function seed(r: Redis): Promise<void> {
  const base = Date.now() + 6 * 3_600_000;
  // db0: every type, in both of its encodings where Redis has two.
  await r.select(0);
  await r.set('str:plain', 'Zoë 🚀 日本語');
  await r.set('str:empty', '');
  await r.set('str:int', '1234567');
  await r.set('str:big', randomBytes(1_000_000));
  await r.set(Buffer.from([0x00, 0xff, 0x10, 0x0a]), randomBytes(64));
  await r.rpush('list:small', 'a', 'b', 'c');
  await r.rpush('list:big', ...Array.from({ length: 5000 }, (_, i) => `item-${i}`));
  await r.sadd('set:ints', ...Array.from({ length: 100 }, (_, i) => i));
  await r.sadd('set:words', ...Array.from({ length: 600 }, (_, i) => `word-${i}`));
  await r.zadd('zset:small', 1.5, 'one', -2, 'two', 'inf', 'top', '-inf', 'bottom');
  await r.zadd('zset:big', ...Array.from({ length: 400 }, (_, i) => [i / 7, `m-${i}`]).flat());
  await r.hset('hash:small', { sku: 'A-1', qty: '2', note: 'ü' });
  await r.hset('hash:big', Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`f-${i}`, `v-${i}`])));
  for (let i = 0; i < 50; i++) {
    await r.xadd('stream:orders', `${1_700_000_000_000 + i}-${i % 3}`, 'order', String(i), 'total', `${i}.50`);
  }
  await r.xgroup('CREATE', 'stream:orders', 'billing', '0');
  await r.xgroup('CREATE', 'stream:orders', 'audit', '$');
  await r.xreadgroup('GROUP', 'billing', 'alice', 'COUNT', 10, 'STREAMS', 'stream:orders', '>');
  await r.xreadgroup('GROUP', 'billing', 'bob', 'COUNT', 5, 'STREAMS', 'stream:orders', '>');
  await r.xack('stream:orders', 'billing', `${1_700_000_000_000}-0`, `${1_700_000_000_001}-1`);
  await r.pfadd('hll:visitors', ...Array.from({ length: 2000 }, (_, i) => `visitor-${i}`));
  for (const offset of [0, 7, 1000, 65_535, 1_000_000]) {
    await r.setbit('bitmap:logins', offset, 1);
  }
  await r.set('ephemeral:a', 'expires between backup and restore');
  // db1: expiries on every type, at arbitrary milliseconds.
  await r.select(1);
  await r.set('exp:str', 'v');
  await r.rpush('exp:list', 'x', 'y');
  await r.sadd('exp:set', 'm');
  await r.zadd('exp:zset', 1, 'z');
  await r.hset('exp:hash', { k: 'v' });
  await r.xadd('exp:stream', '*', 'f', 'v');
  await r.pfadd('exp:hll', 'a', 'b');
  await r.setbit('exp:bitmap', 42, 1);
  const expiring = ['exp:str', 'exp:list', 'exp:set', 'exp:zset', 'exp:hash', 'exp:stream', 'exp:hll', 'exp:bitmap'];
  for (const [i, key] of expiring.entries()) {
    await r.pexpireat(key, base + i * 997 + 13);
  }
  await r.set('no-expiry', 'kept for ever');
  await r.set('ephemeral:b', 'gone');
  await r.hset('ephemeral:c', { gone: 'too' });
  // db2: bulk, some with expiries.
  await r.select(2);
  for (let i = 0; i < BULK_KEYS; i += 1000) {
    const batch = r.pipeline();
    for (let j = i; j < i + 1000; j++) {
      batch.set(`bulk:${j}`, randomBytes(256));
      if (j % 10 === 0) {
        batch.pexpireat(`bulk:${j}`, base + j);
      }
    }
    await batch.exec();
  }
  // db5: a sparse database number.
  await r.select(5);
  await r.set('far:db', 'five');
  await r.set('far:exp', 'five, expiring');
  await r.pexpireat('far:exp', base + 5);
}

/** Sets the short-lived keys' expiry; they must outlive both backups and be gone before the first restore. */
async function armEphemeral(r: Redis, inMs: number): Promise<void> {
  for (const [db, names] of Object.entries(EPHEMERAL)) {
    await r.select(Number(db));
    for (const name of names) {
      await r.pexpire(name, inMs);
    }
  }
  await r.select(0);
}

/** What the source and a restored target are compared on; every field is Redis's own view. */
async function fingerprint(server: EngineServer): Promise<{
  digest: string;
  expiries: Record<string, number>;
  streams: Record<string, unknown>;
}> {
  return withClient(server, async (r) => {
    const expiries: Record<string, number> = {};
    const streams: Record<string, unknown> = {};
    for (const db of DATABASES) {
      await r.select(db);
      let cursor = '0';
      do {
        const [next, page] = await r.scanBuffer(cursor, 'COUNT', 1000);
        cursor = String(next);
        const batch = r.pipeline();
        for (const key of page) {
          batch.pexpiretime(key);
          batch.type(key);
        }
        const results = (await batch.exec()) ?? [];
        for (const [i, key] of page.entries()) {
          const name = `db${db} ${key.toString('hex')}`;
          expiries[name] = Number(results[2 * i]?.[1]);
          if (results[2 * i + 1]?.[1] === 'stream') {
            streams[name] = await r.call('XINFO', 'STREAM', key, 'FULL');
          }
        }
      } while (cursor !== '0');
    }
    return { digest: String(await r.call('DEBUG', 'DIGEST')), expiries, streams };
  });
}

async function restore(mode: Mode, target: EngineServer, extra: Record<string, unknown> = {}) {
  const database = `cache-${mode}`;
  const secretArn = targetSecret(e2e.strongbox, `${database}-${target.port}`, target);
  const name = `fidelity-${mode}-${randomUUID()}`;
  const result = await e2e.strongbox.restore(
    { database, backupId: backupIds[mode], target: { host: target.host, port: target.port, secretArn }, ...extra },
    { name },
  );
  return { result, task: taskResults.get(name), stderr: taskStderr.get(name) ?? '' };
}

beforeAll(async () => {
  source = await startRedis();
  await withClient(source, seed);
  e2e = await startE2e(
    MODES.map((mode) => ({ name: `cache-${mode}`, server: source, dump: `{ redisMode: ${mode} }` })),
    {
      onTaskOutput: (line) => {
        if (line.stateName === 'Restore' && line.stream === 'stdout' && line.json) {
          taskResults.set(line.executionName, line.json);
        }
      },
      onTaskFailure: (failure) => {
        taskStderr.set(failure.executionName, failure.stderrTail);
      },
    },
  );
  await withClient(source, (r) => armEphemeral(r, EPHEMERAL_MS));
  const [rdb, logical] = await Promise.all(MODES.map((mode) => backedUp(e2e.strongbox, `cache-${mode}`)));
  Object.assign(backupIds, { rdb, logical });
  await withClient(source, async (r) => {
    await r.select(1);
    const expiresAt = await r.pexpiretime('ephemeral:b');
    expect(expiresAt, 'the backups took longer than the ephemeral keys live').toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, expiresAt - Date.now() + 50));
    // Touching them makes the source delete them for good: DEBUG DIGEST also hashes keys past their instant.
    for (const [db, names] of Object.entries(EPHEMERAL)) {
      await r.select(Number(db));
      expect(await r.exists(...names)).toBe(0);
    }
  });
}, 300_000);

afterAll(async () => {
  await e2e?.stop();
  await source?.stop();
});

describe.each(MODES)('Redis fidelity, %s mode, end to end', (mode) => {
  it('round-trips every type, logical database and expiry: DEBUG DIGEST, consumer groups and every PEXPIRETIME equal the source', async () => {
    // Prepare
    const target = await startRedis();
    try {
      // Act
      const { result } = await restore(mode, target);

      // Assess
      expect(result.status, result.cause).toBe('SUCCEEDED');
      const [restored, original] = await Promise.all([fingerprint(target), fingerprint(source)]);
      expect(restored.digest).toBe(original.digest);
      expect(restored.digest).not.toBe('0'.repeat(40));
      expect(restored.streams).toEqual(original.streams);
      expect(Object.keys(restored.streams)).toHaveLength(2);
      expect(restored.expiries).toEqual(original.expiries);
      expect(Object.values(restored.expiries).filter((at) => at > 0)).toHaveLength(8 + BULK_KEYS / 10 + 1);
    } finally {
      await target.stop();
    }
  });

  it('restores seconds after the backup with expiries unchanged, and leaves out and counts the keys that expired in between', async () => {
    // Prepare
    const target = await startRedis();
    try {
      // Act
      const { result, task } = await restore(mode, target);

      // Assess
      expect(result.status, result.cause).toBe('SUCCEEDED');
      expect(task).toMatchObject({ ok: true, expiredSkipped: EPHEMERAL_COUNT });
      const present = await withClient(target, async (r) => {
        const found: string[] = [];
        for (const [db, names] of Object.entries(EPHEMERAL)) {
          await r.select(Number(db));
          for (const name of names) {
            if ((await r.exists(name)) === 1) found.push(name);
          }
        }
        return found;
      });
      expect(present).toEqual([]);
      expect((await fingerprint(target)).expiries).toEqual((await fingerprint(source)).expiries);
    } finally {
      await target.stop();
    }
  });

  it('fails on a corrupted artifact and leaves the target exactly as it was (DEBUG DIGEST unchanged)', async () => {
    // Prepare: a target holding keys of its own (so overwrite is confirmed), and the stored artifact with one byte
    // flipped near its end, so the logical stream has delivered most keys when the checksum verdict comes.
    const target = await startRedis();
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const manifest = await getJson(s3, bucket, keys.manifest(backupIds[mode] as string), ManifestSchema);
    const artifactKey = manifest?.value.artifact.key as string;
    const original = await getBytes(s3, bucket, artifactKey);
    const corrupted = Buffer.from(original);
    corrupted[Math.floor(corrupted.length * 0.9)] ^= 0xff;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: artifactKey, Body: corrupted }));
    await withClient(target, async (r) => {
      await r.set('theirs:1', 'keep me');
      await r.select(2);
      await r.hset('theirs:2', { also: 'kept' });
      await r.pexpireat('theirs:2', Date.now() + 3_600_000);
    });
    const before = await fingerprint(target);
    try {
      // Act
      const { result, stderr } = await restore(mode, target, { overwrite: true, confirm: `cache-${mode}` });

      // Assess
      expect(result.status).toBe('FAILED');
      expect(result.path).toContain('Restore');
      expect(result.path).not.toContain('Validate');
      expect(`${stderr} ${causeMessage(result.cause)}`).toContain('checksum mismatch');
      if (mode === 'logical') {
        // The stream had delivered keys before the verdict; they were taken back out.
        expect(stderr).toMatch(/the [1-9]\d* keys this restore had added were removed again/);
      }
      expect(await fingerprint(target)).toEqual(before);
    } finally {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: artifactKey, Body: original }));
      await target.stop();
    }
  });
});
