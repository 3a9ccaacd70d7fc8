import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLock, renewLock } from '../../contracts/lock';
import { keys, LockSchema } from '../../contracts/vault';
import { getJson, putJson } from '../../contracts/vault-io';
import { type LocalS3, startS3rver } from '../../dev/servers/s3rver';
import { addConditionalWriteShim } from '../../lambdas/runtime/s3-conditional-shim';

const BUCKET = 'vault';
let s3rver: LocalS3;
let s3: S3Client;
beforeAll(async () => {
  s3rver = await startS3rver([BUCKET]);
  s3 = addConditionalWriteShim(s3rver.client());
});
afterAll(async () => {
  await s3rver.stop();
});

const lease = (database: string, owner: string, now: Date) => ({
  bucket: BUCKET,
  database,
  backupId: `${database}-20260401T100000Z-logs`,
  owner,
  now,
  ttlSeconds: 60,
  key: keys.logLock(database),
});

describe('renewLock', () => {
  it("moves its own lease's expiry on and keeps the rest of the lock", async () => {
    // Prepare
    const taken = await acquireLock(s3, lease('renewed', 'stream-logs/a', new Date('2026-04-01T10:00:00Z')));

    // Act
    const outcome = await renewLock(s3, {
      bucket: BUCKET,
      key: keys.logLock('renewed'),
      backupId: 'renewed-20260401T100000Z-logs',
      owner: 'stream-logs/a',
      now: new Date('2026-04-01T10:00:30Z'),
      ttlSeconds: 60,
    });

    // Assess
    expect(taken.acquired).toBe(true);
    expect(outcome).toEqual({ renewed: true, lock: expect.objectContaining({ expiresAt: '2026-04-01T10:01:30.000Z' }) });
    expect((await getJson(s3, BUCKET, keys.logLock('renewed'), LockSchema))?.value).toEqual({
      database: 'renewed',
      backupId: 'renewed-20260401T100000Z-logs',
      owner: 'stream-logs/a',
      acquiredAt: '2026-04-01T10:00:00.000Z',
      expiresAt: '2026-04-01T10:01:30.000Z',
    });
  });

  it('leaves a lock that another holder took over, and one that is gone, saying so', async () => {
    // Prepare
    await acquireLock(s3, lease('taken', 'stream-logs/a', new Date()));
    const other = lease('taken', 'stream-logs/b', new Date());
    await putJson(s3, BUCKET, keys.logLock('taken'), {
      database: 'taken',
      backupId: other.backupId,
      owner: other.owner,
      acquiredAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    });
    const renew = (database: string) =>
      renewLock(s3, {
        bucket: BUCKET,
        key: keys.logLock(database),
        backupId: `${database}-20260401T100000Z-logs`,
        owner: 'stream-logs/a',
        now: new Date(),
        ttlSeconds: 60,
      });

    // Act
    const [takenOver, missing] = await Promise.all([renew('taken'), renew('missing')]);

    // Assess
    expect(takenOver).toEqual({
      renewed: false,
      reason: 'locks/logs/taken.json is held by taken-20260401T100000Z-logs (stream-logs/b), not this holder',
    });
    expect(missing).toEqual({ renewed: false, reason: 'no lock at locks/logs/missing.json' });
    expect((await getJson(s3, BUCKET, keys.logLock('taken'), LockSchema))?.value.owner).toBe('stream-logs/b');
  });
});
