import { describe, expect, it } from 'vitest';
import type { Plan } from '../../../../contracts/plan';
import { keys, LockSchema } from '../../../../contracts/vault';
import { getJson } from '../../../../contracts/vault-io';
import { prepareBase } from '../../../../lambdas/backup/prepare/base';
import { prepare } from '../../../../lambdas/backup/prepare/prepare';
import { releaseLock } from '../../../../lambdas/runtime/lock';
import { addConditionalWriteShim } from '../../../../lambdas/runtime/s3-conditional-shim';
import { s3rverForFile } from '../../../support/engine-vault';
import { executionOf, testPlan } from '../../fixtures';
import { ordersWithBases } from '../base-fixtures';

const BUCKET = 'vault';
const plan: Plan = { ...testPlan(), databases: { ...testPlan().databases, orders: ordersWithBases } };
const s3rver = s3rverForFile(BUCKET);

const execution = executionOf('bases');
const deps = () => ({ s3: addConditionalWriteShim(s3rver.client()), bucket: BUCKET, plan });

describe('prepareBase', () => {
  it('mints the baseId from the execution start and takes the backup lock, which a retried Prepare gets back', async () => {
    // Act
    const first = await prepareBase(
      { input: { database: 'orders', trigger: 'schedule' }, execution: execution('a', '2026-04-01T02:00:07.123Z') },
      deps(),
    );
    const retried = await prepareBase(
      { input: { database: 'orders', trigger: 'schedule' }, execution: execution('a', '2026-04-01T02:00:07.123Z') },
      deps(),
    );
    const lock = (await getJson(s3rver.client(), BUCKET, keys.lock('orders'), LockSchema))?.value;
    await releaseLock(s3rver.client(), BUCKET, 'orders', 'orders-20260401T020007Z-base');

    // Assess
    expect(first).toEqual({
      status: 'ready',
      database: 'orders',
      engine: 'postgres',
      backupId: 'orders-20260401T020007Z-base',
      prefix: 'bases/orders/2026/04/01/orders-20260401T020007Z-base/',
      taskFamily: plan.databases.orders.taskFamily,
      taskTimeoutSeconds: plan.databases.orders.taskTimeoutSeconds,
      trigger: 'schedule',
    });
    expect(retried).toEqual(first);
    expect(lock?.owner).toBe(execution('a', '').executionArn);
  });

  it('skips a base while a logical backup of the database holds the lock, and a backup while a base does', async () => {
    // Prepare
    const backup = await prepare(
      { input: { database: 'orders', kind: 'full' }, execution: execution('dump', '2026-04-02T02:00:00Z') },
      deps(),
    );

    // Act
    const base = await prepareBase({ input: { database: 'orders' }, execution: execution('base', '2026-04-02T02:00:30Z') }, deps());
    await releaseLock(s3rver.client(), BUCKET, 'orders', 'orders-20260402T020000Z-full');
    const baseAgain = await prepareBase({ input: { database: 'orders' }, execution: execution('base2', '2026-04-02T03:00:00Z') }, deps());
    const dumpWhileBase = await prepare(
      { input: { database: 'orders', kind: 'full' }, execution: execution('dump2', '2026-04-02T03:00:10Z') },
      deps(),
    );
    await releaseLock(s3rver.client(), BUCKET, 'orders', 'orders-20260402T030000Z-base');

    // Assess
    expect(backup.status).toBe('ready');
    expect(base).toMatchObject({ status: 'skipped', reason: 'locked' });
    expect(base.status === 'skipped' && base.notice).toMatch(
      /^orders: orders-20260402T020000Z-full is still running .* this base backup was skipped/,
    );
    expect(baseAgain).toMatchObject({ status: 'ready', backupId: 'orders-20260402T030000Z-base' });
    expect(dumpWhileBase).toMatchObject({ status: 'skipped', reason: 'locked' });
  });

  it('refuses a database without WAL archiving, listing those with it', async () => {
    // Act
    const error = await prepareBase({ input: { database: 'billing' }, execution: execution('c', '2026-04-01T02:00:00Z') }, deps()).catch(
      (e: unknown) => e as Error,
    );

    // Assess
    expect((error as Error).name).toBe('InputValidationError');
    expect((error as Error).message).toBe(
      'Invalid base backup input:\ndatabase: found "billing"; expected a postgres database with a logs block: orders',
    );
  });
});
