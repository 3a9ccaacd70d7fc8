import { describe, expect, it } from 'vitest';
import { InputValidationError } from '../../../../contracts/errors';
import type { Plan } from '../../../../contracts/plan';
import { keys, LockSchema } from '../../../../contracts/vault';
import { getJson } from '../../../../contracts/vault-io';
import { prepare } from '../../../../lambdas/backup/prepare/prepare';
import { releaseWorkflowLock } from '../../../../lambdas/backup/release-lock/release-lock';
import { prepareLogs } from '../../../../lambdas/logs/prepare/prepare';
import { addConditionalWriteShim } from '../../../../lambdas/runtime/s3-conditional-shim';
import { s3rverForFile } from '../../../support/engine-vault';
import { executionOf, testPlan } from '../../fixtures';

const BUCKET = 'vault';
const s3rver = s3rverForFile(BUCKET);

/** The fixture plan with binlog archiving on for billing (mariadb). */
function planWithLogs(): Plan {
  const plan = testPlan();
  const billing = plan.databases.billing;
  return {
    ...plan,
    databases: { ...plan.databases, billing: { ...billing, logs: { kind: 'binlog', intervalSeconds: 300, windowDays: 7 } } },
  };
}

const execution = executionOf('logs');
const deps = () => ({ s3: addConditionalWriteShim(s3rver.client()), bucket: BUCKET, plan: planWithLogs() });

describe('prepareLogs', () => {
  it('refuses a database without a logs block, naming the ones that have one', async () => {
    // Act
    const error = await prepareLogs({ input: { database: 'orders' }, execution: execution('a', '2026-04-01T10:00:00Z') }, deps()).catch(
      (e: unknown) => e,
    );

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toBe(
      'Invalid log archive input:\ndatabase: found "orders"; expected a database with a logs block: billing',
    );
  });

  it('takes the archiving lock apart from the backup lock, skips an overlapping run, and the backup ReleaseLock frees it', async () => {
    // Prepare
    const input = { database: 'billing', trigger: 'schedule' };

    // Act
    const first = await prepareLogs({ input, execution: execution('one', '2026-04-01T10:00:00Z') }, deps());
    const overlapping = await prepareLogs({ input, execution: execution('two', '2026-04-01T10:05:00Z') }, deps());
    const backup = await prepare(
      { input: { database: 'billing', kind: 'full', trigger: 'schedule' }, execution: execution('backup', '2026-04-01T10:05:01Z') },
      deps(),
    );
    const held = await getJson(s3rver.client(), BUCKET, keys.logLock('billing'), LockSchema);
    const released = await releaseWorkflowLock({ state: { prepare: first } }, deps());
    const afterRelease = await prepareLogs({ input, execution: execution('three', '2026-04-01T10:10:00Z') }, deps());

    // Assess
    expect(first).toMatchObject({
      status: 'ready',
      backupId: 'billing-20260401T100000Z-logs',
      lockKey: 'locks/logs/billing.json',
      prefix: 'logs/billing/binlog/',
      trigger: 'schedule',
    });
    expect(held?.value.owner).toBe(execution('one', '').executionArn);
    expect(overlapping).toMatchObject({ status: 'skipped', reason: 'locked' });
    expect((overlapping as { notice: string }).notice).toMatch(/^billing: archiving run billing-20260401T100000Z-logs is still running/);
    expect(backup).toMatchObject({ status: 'ready', backupId: 'billing-20260401T100501Z-full' });
    expect(released).toEqual({ released: true, reason: 'released locks/logs/billing.json held by billing-20260401T100000Z-logs' });
    expect(afterRelease).toMatchObject({ status: 'ready', backupId: 'billing-20260401T101000Z-logs' });
  });
});
