import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { InputValidationError } from '../../../../contracts/errors';
import { keys, LockSchema } from '../../../../contracts/vault';
import { prepare } from '../../../../lambdas/backup/prepare/prepare';
import { addConditionalWriteShim } from '../../../../lambdas/runtime/s3-conditional-shim';
import { s3rverForFile } from '../../../support/engine-vault';
import { executionOf, testPlan } from '../../fixtures';

const BUCKET = 'vault';
const plan = testPlan();
const s3rver = s3rverForFile(BUCKET);

const execution = executionOf('backup');
const deps = () => ({ s3: addConditionalWriteShim(s3rver.client()), bucket: BUCKET, plan });

describe('prepare', () => {
  it('fails a malformed input at the first state, naming the field, the value and the fix', async () => {
    // Act
    const error = await prepare(
      { input: { database: 'orders', kind: 'incremental' }, execution: execution('a', '2026-04-01T10:00:00Z') },
      deps(),
    ).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toContain('kind: found "incremental"; expected kind to be one of full');
  });

  it('lists the configured databases when the database is unknown', async () => {
    // Act
    const error = await prepare(
      { input: { database: 'ordres', kind: 'full' }, execution: execution('a', '2026-04-01T10:00:00Z') },
      deps(),
    ).catch((e: unknown) => e);

    // Assess
    expect((error as Error).name).toBe('InputValidationError');
    expect((error as Error).message).toContain(
      'database: found "ordres"; expected one of the configured databases: billing, cache, orders',
    );
  });

  it('takes the lock once: a second execution is skipped, a retry of the first gets its own lock back', async () => {
    // Prepare
    const input = { database: 'orders', kind: 'full', trigger: 'schedule' };

    // Act
    const first = await prepare({ input, execution: execution('one', '2026-04-01T10:00:00Z') }, deps());
    const second = await prepare({ input, execution: execution('two', '2026-04-01T10:00:05Z') }, deps());
    const retry = await prepare({ input, execution: execution('one', '2026-04-01T10:00:00Z') }, deps());

    // Assess
    expect(first).toMatchObject({
      status: 'ready',
      backupId: 'orders-20260401T100000Z-full',
      taskFamily: 'sbx-orders-dump',
      taskTimeoutSeconds: 3600,
    });
    expect(second).toMatchObject({ status: 'skipped', reason: 'locked' });
    expect(second.status === 'skipped' && second.notice).toContain('orders-20260401T100000Z-full is still running');
    expect(retry).toEqual(first);
    const lock = LockSchema.parse(
      JSON.parse(
        await (await s3rver.client().send(new GetObjectCommand({ Bucket: BUCKET, Key: keys.lock('orders') }))).Body!.transformToString(),
      ),
    );
    expect(lock.expiresAt).toBe('2026-04-01T11:30:00.000Z');
  });

  it('takes over a lock that expired', async () => {
    // Act: the orders lock from the previous test expires at 11:30.
    const late = await prepare(
      { input: { database: 'orders', kind: 'full' }, execution: execution('three', '2026-04-01T11:31:00Z') },
      deps(),
    );

    // Assess
    expect(late).toMatchObject({ status: 'ready', backupId: 'orders-20260401T113100Z-full', trigger: 'manual' });
  });

  it('skips a run inside a blackout window read in the database time zone', async () => {
    // Act: 21:55 UTC is 23:55 in Berlin (CEST); billing blacks out 23:50-00:10.
    const inside = await prepare(
      { input: { database: 'billing', kind: 'full' }, execution: execution('b1', '2026-04-01T21:55:00Z') },
      deps(),
    );
    const after = await prepare(
      { input: { database: 'billing', kind: 'full' }, execution: execution('b2', '2026-04-01T22:10:00Z') },
      deps(),
    );

    // Assess
    expect(inside).toMatchObject({ status: 'skipped', reason: 'blackout' });
    expect(after).toMatchObject({ status: 'ready' });
  });
});

describe('s3rver and the conditional-write shim', () => {
  it('s3rver alone ignores If-None-Match, which is why the shim exists', async () => {
    // Prepare
    const raw = s3rver.client();
    await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'probe', Body: 'a' }));

    // Act
    const unshimmed = await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'probe', Body: 'b', IfNoneMatch: '*' })).then(
      () => 'written',
      () => 'refused',
    );
    const shimmed = await addConditionalWriteShim(s3rver.client())
      .send(new PutObjectCommand({ Bucket: BUCKET, Key: 'probe', Body: 'c', IfNoneMatch: '*' }))
      .then(
        () => 'written',
        (e: Error & { $metadata?: { httpStatusCode?: number } }) => `${e.name} ${e.$metadata?.httpStatusCode}`,
      );

    // Assess
    expect(unshimmed).toBe('written');
    expect(shimmed).toBe('PreconditionFailed 412');
  });
});
