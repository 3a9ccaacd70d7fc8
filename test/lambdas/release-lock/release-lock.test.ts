import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseWorkflowLock } from '../../../lambdas/release-lock/release-lock';
import { keys } from '../../../lambdas/shared/catalog';
import { acquireLock } from '../../../lambdas/shared/lock';
import { addConditionalWriteShim } from '../../../lambdas/shared/s3-conditional-shim';
import { type LocalS3, startS3rver } from '../../support/s3rver';

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
