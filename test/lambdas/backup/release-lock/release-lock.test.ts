import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../../../contracts/vault';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { releaseWorkflowLock } from '../../../../lambdas/backup/release-lock/release-lock';
import { acquireLock } from '../../../../lambdas/runtime/lock';
import { addConditionalWriteShim } from '../../../../lambdas/runtime/s3-conditional-shim';

let s3rver: LocalS3;
beforeAll(async () => {
  s3rver = await startS3rver(['vault']);
});
afterAll(async () => {
  await s3rver.stop();
});

const prepared = (backupId: string) => ({
  prepare: {
    status: 'ready',
    database: 'orders',
    engine: 'postgres',
    backupId,
    prefix: 'p/',
    taskFamily: 'f',
    taskTimeoutSeconds: 60,
    trigger: 'manual',
  },
});

describe('releaseWorkflowLock', () => {
  it('releases only a lock that still names this backup', async () => {
    // Prepare
    const s3 = addConditionalWriteShim(s3rver.client());
    await acquireLock(s3, {
      bucket: 'vault',
      database: 'orders',
      backupId: 'orders-20260401T100000Z-full',
      owner: 'later-run',
      now: new Date(),
      ttlSeconds: 60,
    });

    // Act
    const foreign = await releaseWorkflowLock({ state: prepared('orders-20260331T100000Z-full') }, { s3, bucket: 'vault' });
    const own = await releaseWorkflowLock({ state: prepared('orders-20260401T100000Z-full') }, { s3, bucket: 'vault' });

    // Assess
    expect(foreign).toEqual({ released: false, reason: expect.stringContaining('held by orders-20260401T100000Z-full') });
    expect(own.released).toBe(true);
    expect(await s3.send(new GetObjectCommand({ Bucket: 'vault', Key: keys.lock('orders') })).catch((e: Error) => e.name)).toBe(
      'NoSuchKey',
    );
  });

  it('does nothing when Prepare took no lock', async () => {
    // Act
    const result = await releaseWorkflowLock({ state: { database: 'orders' } }, { s3: s3rver.client(), bucket: 'vault' });

    // Assess
    expect(result).toEqual({ released: false, reason: 'this execution took no lock' });
  });
});
