import '../../../local/executor/polyfill';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { ExecutionError } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../../contracts/plan';
import { TASK_CONTAINER_NAME, TASK_ENV } from '../../../contracts/task-env';
import { BackupWorkflow } from '../../../infra/constructs/backup-workflow';
import { BaseBackupWorkflow } from '../../../infra/constructs/base-backup-workflow';
import { LAMBDA_TRANSIENT_ERRORS, RUN_TASK_CAPACITY_ERRORS } from '../../../infra/constructs/retries';
import { ValidationError } from '../../../infra/constructs/validation-error';
import type { AslDefinition } from '../../../local/executor/runtime';
import { testPlan } from '../../lambdas/fixtures';
import {
  constructionError,
  definitionOf,
  functionEnvironment,
  policyText,
  replicaVaultProps,
  runRecorded,
  workflowProps,
  workflowStack,
} from './workflow-stack';

/** The fixture plan with WAL archiving and base backups on for orders (postgres). */
function planWithBases(): Plan {
  const plan = testPlan();
  return {
    ...plan,
    databases: { ...plan.databases, orders: { ...plan.databases.orders, logs: { kind: 'wal', intervalSeconds: 300, windowDays: 7 } } },
  };
}

function build(plan: Plan) {
  const parts = workflowStack(plan);
  const replica = replicaVaultProps(parts.stack);
  const backup = new BackupWorkflow(parts.stack, 'Backup', { ...workflowProps(parts), plan, ...replica });
  const workflow = new BaseBackupWorkflow(parts.stack, 'BaseBackup', {
    ...workflowProps(parts),
    ...replica,
    plan,
    backupFunctions: backup.functions,
  });
  return { parts, backup, workflow, replica };
}

type States = Record<string, Record<string, unknown>>;
let built: ReturnType<typeof build>;
let definition: AslDefinition;
let states: States;
let template: ReturnType<typeof definitionOf>['template'];

const statementsOf = (fn: { function: lambda.IFunction }) => policyText(built.parts.stack, template, fn.function.role);

beforeAll(() => {
  built = build(planWithBases());
  ({ template, definition } = definitionOf(built.parts.stack, '-bases'));
  states = definition.States as unknown as States;
});

describe('BaseBackupWorkflow template', () => {
  it('runs base-backup in the database task with the baseId Prepare minted, then verifies, replicates and retains', () => {
    // Prepare
    const functionName = (fn: { function: { node: { defaultChild: unknown } } }) =>
      built.parts.stack.getLogicalId(fn.function.node.defaultChild as never);

    // Act
    const task = states.BaseBackup as { Parameters: { 'TaskDefinition.$': string; Overrides: { ContainerOverrides: unknown[] } } };

    // Assess
    expect(definition.StartAt).toBe('PrepareBase');
    expect(task.Parameters['TaskDefinition.$']).toBe('$.prepare.taskFamily');
    expect(task.Parameters.Overrides.ContainerOverrides).toEqual([
      {
        Name: TASK_CONTAINER_NAME,
        Environment: [
          { Name: TASK_ENV.command, Value: 'base-backup' },
          { Name: TASK_ENV.backupId, 'Value.$': '$.prepare.backupId' },
          { Name: TASK_ENV.trigger, 'Value.$': '$.prepare.trigger' },
        ],
      },
    ]);
    expect(JSON.stringify(task)).not.toMatch(/password|secret/i);
    expect(states.BaseBackup.Next).toBe('VerifyBase');
    expect(states.VerifyBase.Next).toBe('ReplicateBase');
    expect(states.ReplicateBase.Next).toBe('RetainBases');
    expect(states.RetainBases.Next).toBe('ReleaseLock');
    expect(states.VerifyBase.Parameters).toEqual({ 'database.$': '$.prepare.database', 'baseId.$': '$.prepare.backupId' });
    expect(JSON.stringify(states.NotifyFailure)).toContain(functionName(built.backup.functions.notify));
    expect(JSON.stringify(states.ReleaseLock)).toContain(functionName(built.backup.functions.releaseLock));
    expect(JSON.stringify(states.ReleaseLockAfterFailure)).toContain(functionName(built.backup.functions.releaseLock));
    for (const name of ['PrepareBase', 'BaseBackup', 'VerifyBase', 'ReplicateBase', 'RetainBases', 'ReleaseLock']) {
      expect((states[name].Catch as { Next: string }[])[0].Next, name).toBe('NotifyFailure');
      expect(states[name].TimeoutSeconds, name).toBeGreaterThan(0);
    }
  });

  it('retries RunTask on capacity faults only and every Lambda step on transient faults', () => {
    // Prepare
    const lambdaSteps = [
      'PrepareBase',
      'VerifyBase',
      'ReplicateBase',
      'RetainBases',
      'ReleaseLock',
      'NotifyFailure',
      'ReleaseLockAfterFailure',
    ];

    // Act
    const retries = lambdaSteps.map((name) => states[name].Retry);

    // Assess
    expect(states.BaseBackup.Retry).toEqual([
      expect.objectContaining({ ErrorEquals: [...RUN_TASK_CAPACITY_ERRORS], MaxAttempts: 4, JitterStrategy: 'FULL' }),
    ]);
    for (const retry of retries) {
      expect(retry).toEqual([
        expect.objectContaining({ ErrorEquals: [...LAMBDA_TRANSIENT_ERRORS], MaxAttempts: 6, JitterStrategy: 'FULL' }),
      ]);
    }
  });

  it("lets PrepareBase take only the base databases' backup lock", () => {
    // Act
    const text = statementsOf(built.workflow.functions.prepare);

    // Assess
    expect(text).toContain('strongbox-vault-primary/locks/orders.json*');
    expect(text).not.toMatch(/locks\/billing|locks\/\*|locks\/logs|backups\/|bases\/|s3:DeleteObject/);
  });

  it('lets VerifyBase read the bases and write only verification.json and the latest-base pointer', () => {
    // Act
    const text = statementsOf(built.workflow.functions.verify);

    // Assess
    expect(text).toContain('strongbox-vault-primary/bases/orders/*');
    expect(text).toContain('strongbox-vault-primary/bases/orders/*/verification.json');
    expect(text).toContain('strongbox-vault-primary/index/orders/latest-base.json*');
    expect(text).not.toMatch(/bases\/billing|backups\/|logs\/|s3:DeleteObject/);
  });

  it('lets ReplicateBase read the primary bases and write the replica bases only', () => {
    // Prepare
    const fn = built.workflow.functions.replicate.function;
    const env = functionEnvironment(built.parts.stack, template, fn);

    // Act
    const text = statementsOf(built.workflow.functions.replicate);

    // Assess
    expect(env).toMatchObject({
      STRONGBOX_REPLICA_BUCKET: 'strongbox-vault-replica',
      STRONGBOX_REPLICA_KMS_KEY: built.replica.replicaKmsKey,
    });
    expect(text).toContain('strongbox-vault-primary/bases/orders/*');
    expect(text).toContain('strongbox-vault-replica/bases/orders/*');
    expect(text).not.toMatch(/backups\/|logs\/|locks\//);
  });

  it("lets RetainBases prune the database's bases and WAL in both vaults, reading no data body", () => {
    // Act
    const text = statementsOf(built.workflow.functions.retain);

    // Assess
    expect(text).toContain('strongbox-vault-primary/bases/orders/*/manifest.json');
    expect(text).toContain('strongbox-vault-primary/logs/orders/*/manifest.json');
    expect(text).toContain('strongbox-vault-primary/index/orders/log-cursor.json*');
    expect(text).toContain('strongbox-vault-replica/bases/orders/*');
    expect(text).toContain('strongbox-vault-replica/logs/orders/*');
    expect(text).not.toMatch(/base\.tar\.zst|backups\/|logs\/billing/);
  });

  it('refuses a plan without a postgres database with logs, saying what to add', () => {
    // Prepare
    const parts = workflowStack(testPlan());

    // Act
    const error = constructionError(
      () =>
        new BaseBackupWorkflow(parts.stack, 'BaseBackup', {
          ...workflowProps(parts),
          plan: testPlan(),
          backupFunctions: { releaseLock: undefined as never, notify: undefined as never },
          replicaVault: undefined as never,
          replicaKmsKey: 'alias/strongbox-vault-replica',
        }),
    );

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect(error?.message).toBe(
      'Test/BaseBackup: the plan of "sbx" has no postgres database with a logs block; build BaseBackupWorkflow only when one takes base backups',
    );
  });
});

describe('BaseBackupWorkflow definition run by aws-local-stepfunctions', () => {
  const context = {
    Execution: { Id: 'arn:aws:states:eu-west-1:123456789012:execution:sbx-bases:run-1', StartTime: '2026-04-01T02:00:00.000Z' },
  };
  const ready = {
    status: 'ready',
    database: 'orders',
    engine: 'postgres',
    backupId: 'orders-20260401T020000Z-base',
    prefix: 'bases/orders/2026/04/01/orders-20260401T020000Z-base/',
    taskFamily: 'sbx-orders-dump',
    taskTimeoutSeconds: 3600,
    trigger: 'schedule',
  };
  const run = (overrides: Record<string, (input: never) => unknown>, calls: string[]) => {
    const handlers: Record<string, (input: never) => unknown> = {
      PrepareBase: () => ready,
      BaseBackup: () => ({
        TaskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/c/1',
        StoppedReason: 'Essential container exited',
        Containers: [{ ExitCode: 0 }],
      }),
      VerifyBase: () => ({ passed: true, method: 'reread', bytes: 4, sha256: 'a'.repeat(64) }),
      ReplicateBase: () => ({ bucket: 'strongbox-vault-replica', copied: 4, alreadyPresent: 0, bytes: 4, lagSeconds: 1 }),
      RetainBases: () => ({ dryRun: false, bases: 1, kept: 1, deleted: [], skippedLocked: [] }),
      ReleaseLock: () => ({ released: true, reason: 'released' }),
      NotifySkipped: () => ({ published: ['chat'] }),
      NotifyFailure: () => ({ error: 'VerificationError', cause: 'orders-20260401T020000Z-base failed verification' }),
      ReleaseLockAfterFailure: () => ({ released: true, reason: 'released' }),
      ...overrides,
    };
    return runRecorded(definition, handlers, calls, { database: 'orders', trigger: 'schedule' }, context);
  };

  it('backs up, verifies, replicates, retains and releases the lock; a skipped run posts its notice', async () => {
    // Prepare
    const based: string[] = [];
    const skipped: string[] = [];
    const verified: unknown[] = [];

    // Act
    await run(
      {
        VerifyBase: (input: never) => {
          verified.push(input);
          return { passed: true, method: 'reread', bytes: 4, sha256: 'a'.repeat(64) };
        },
      },
      based,
    );
    await run({ PrepareBase: () => ({ status: 'skipped', database: 'orders', reason: 'locked', notice: 'busy' }) }, skipped);

    // Assess
    expect(based).toEqual(['PrepareBase', 'BaseBackup', 'VerifyBase', 'ReplicateBase', 'RetainBases', 'ReleaseLock']);
    expect(verified).toEqual([{ database: 'orders', baseId: 'orders-20260401T020000Z-base' }]);
    expect(skipped).toEqual(['PrepareBase', 'NotifySkipped']);
  });

  it('takes a failed verification through NotifyFailure and the lock release to a readable Fail, replicating nothing', async () => {
    // Prepare
    const calls: string[] = [];
    const failing = () => {
      const error = new Error('orders-20260401T020000Z-base failed verification');
      error.name = 'VerificationError';
      throw error;
    };

    // Act
    const error = await run({ VerifyBase: failing }, calls).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ExecutionError);
    expect(calls).toEqual(['PrepareBase', 'BaseBackup', 'VerifyBase', 'NotifyFailure', 'ReleaseLockAfterFailure']);
    expect(`${(error as Error).message} ${String((error as Error).cause)}`).toContain('failed verification');
  });
});
