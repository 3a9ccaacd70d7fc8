import '../../../local/executor/polyfill';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ExecutionError } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../../contracts/plan';
import { TASK_CONTAINER_NAME, TASK_ENV } from '../../../contracts/task-env';
import { BackupWorkflow } from '../../../infra/constructs/backup-workflow';
import { LogArchiveWorkflow } from '../../../infra/constructs/log-archive-workflow';
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

/** The fixture plan with binlog archiving on for billing (mariadb). */
function planWithLogs(): Plan {
  const plan = testPlan();
  return {
    ...plan,
    databases: { ...plan.databases, billing: { ...plan.databases.billing, logs: { kind: 'binlog', intervalSeconds: 300, windowDays: 7 } } },
  };
}

function build(plan: Plan) {
  const parts = workflowStack(plan);
  const replica = replicaVaultProps(parts.stack);
  const backup = new BackupWorkflow(parts.stack, 'Backup', {
    ...workflowProps(parts),
    plan,
    ...replica,
    pagerTopic: new sns.Topic(parts.stack, 'Pager'),
  });
  const workflow = new LogArchiveWorkflow(parts.stack, 'LogArchive', {
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

beforeAll(() => {
  built = build(planWithLogs());
  ({ template, definition } = definitionOf(built.parts.stack, '-log-archive'));
  states = definition.States as unknown as States;
});

describe('LogArchiveWorkflow template', () => {
  it('runs archive-logs in the database task after Prepare, and shares the backup lock release and notifier', () => {
    // Prepare
    const functionName = (fn: { function: { node: { defaultChild: unknown } } }) =>
      built.parts.stack.getLogicalId(fn.function.node.defaultChild as never);

    // Act
    const archive = states.Archive as { Parameters: { 'TaskDefinition.$': string; Overrides: { ContainerOverrides: unknown[] } } };

    // Assess
    expect(definition.StartAt).toBe('Prepare');
    expect(archive.Parameters['TaskDefinition.$']).toBe('$.prepare.taskFamily');
    expect(archive.Parameters.Overrides.ContainerOverrides).toEqual([
      {
        Name: TASK_CONTAINER_NAME,
        Environment: [
          { Name: TASK_ENV.command, Value: 'archive-logs' },
          { Name: TASK_ENV.trigger, 'Value.$': '$.prepare.trigger' },
        ],
      },
    ]);
    expect(JSON.stringify(states.NotifyFailure)).toContain(functionName(built.backup.functions.notify));
    expect(JSON.stringify(states.ReleaseLock)).toContain(functionName(built.backup.functions.releaseLock));
    expect(JSON.stringify(states.ReleaseLockAfterFailure)).toContain(functionName(built.backup.functions.releaseLock));
    for (const name of ['Prepare', 'Archive', 'ReplicateSegments', 'ReleaseLock']) {
      expect((states[name].Catch as { Next: string }[])[0].Next, name).toBe('NotifyFailure');
      expect(states[name].TimeoutSeconds, name).toBeGreaterThan(0);
    }
  });

  it("retries as the backup machine does, and encrypts its execution log with the app's logs key", () => {
    // Prepare
    const groups = template.findResources('AWS::Logs::LogGroup');

    // Act
    const machineLogs = Object.entries(groups).find(([id]) => id.startsWith('LogArchiveStateMachineLogs'))?.[1];

    // Assess
    expect(states.Archive.Retry).toEqual([
      expect.objectContaining({ ErrorEquals: [...RUN_TASK_CAPACITY_ERRORS], MaxAttempts: 4, JitterStrategy: 'FULL' }),
    ]);
    for (const name of ['Prepare', 'ReplicateSegments', 'ReleaseLock', 'NotifyFailure', 'ReleaseLockAfterFailure']) {
      expect(states[name].Retry, name).toEqual([
        expect.objectContaining({ ErrorEquals: [...LAMBDA_TRANSIENT_ERRORS], MaxAttempts: 6, JitterStrategy: 'FULL' }),
      ]);
    }
    expect(machineLogs?.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^StrongboxLogsKey/), 'Arn'] });
  });

  it("lets Prepare touch only the archiving databases' locks", () => {
    // Act
    const text = policyText(built.parts.stack, template, built.workflow.prepare.function.role);

    // Assess
    expect(text).toContain('strongbox-vault-primary/locks/logs/billing.json*');
    expect(text).not.toMatch(/locks\/orders|locks\/\*|backups\/|s3:DeleteObject/);
  });

  it("copies the segments after Archive with its own function, which reads and writes only the archiving databases' segments", () => {
    // Prepare
    const fn = built.workflow.replicateSegments.function;
    const env = functionEnvironment(built.parts.stack, template, fn);

    // Act
    const text = policyText(built.parts.stack, template, fn.role);

    // Assess
    expect(states.Archive.Next).toBe('ReplicateSegments');
    expect(states.ReplicateSegments.Next).toBe('ReleaseLock');
    expect(states.ReplicateSegments.Parameters).toEqual({ 'database.$': '$.prepare.database' });
    expect(states.ReplicateSegments.ResultPath).toBe('$.replicate');
    expect(env).toMatchObject({
      STRONGBOX_REPLICA_BUCKET: 'strongbox-vault-replica',
      STRONGBOX_REPLICA_KMS_KEY: built.replica.replicaKmsKey,
    });
    expect(text).toContain('strongbox-vault-primary/logs/billing/*');
    expect(text).toContain('strongbox-vault-replica/logs/billing/*');
    expect(text).not.toMatch(/logs\/orders|logs\/\*|backups\/|locks\//);
  });

  it("lets the backup Retain read and delete the archiving database's segments only, in both vaults", () => {
    // Act
    const text = policyText(built.parts.stack, template, built.backup.functions.retain.function.role);

    // Assess
    expect(text).toContain('strongbox-vault-primary/logs/billing/*/manifest.json');
    expect(text).toContain('strongbox-vault-primary/logs/billing/*/verification.json');
    expect(text).toContain('strongbox-vault-primary/index/billing/log-cursor.json*');
    expect(text).toContain('strongbox-vault-replica/logs/billing/*');
    expect(text).not.toMatch(/logs\/orders|logs\/\*/);
  });

  it('refuses a plan in which no database archives its log, saying what to add', () => {
    // Prepare
    const parts = workflowStack(testPlan());
    const backup = { releaseLock: undefined as never, notify: undefined as never };

    // Act
    const error = constructionError(
      () =>
        new LogArchiveWorkflow(parts.stack, 'LogArchive', {
          ...workflowProps(parts),
          plan: testPlan(),
          backupFunctions: backup,
          replicaVault: undefined as never,
          replicaKmsKey: 'alias/strongbox-vault-replica',
        }),
    );

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect(error?.message).toBe(
      'Test/LogArchive: the plan of "sbx" has no database with a logs block; build LogArchiveWorkflow only when one archives its binlog',
    );
  });
});

describe('LogArchiveWorkflow definition run by aws-local-stepfunctions', () => {
  const context = {
    Execution: { Id: 'arn:aws:states:eu-west-1:123456789012:execution:sbx-log-archive:run-1', StartTime: '2026-04-01T10:00:00.000Z' },
  };
  const ready = {
    status: 'ready',
    database: 'billing',
    engine: 'mariadb',
    backupId: 'billing-20260401T100000Z-logs',
    prefix: 'logs/billing/binlog/',
    taskFamily: 'sbx-billing-dump',
    taskTimeoutSeconds: 3600,
    trigger: 'schedule',
    lockKey: 'locks/logs/billing.json',
  };
  const run = (overrides: Record<string, (input: never) => unknown>, calls: string[]) => {
    const handlers: Record<string, (input: never) => unknown> = {
      Prepare: () => ready,
      Archive: () => ({
        TaskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/c/1',
        StoppedReason: 'Essential container exited',
        Containers: [{ ExitCode: 0 }],
      }),
      ReplicateSegments: () => ({ bucket: 'strongbox-vault-replica', copied: 1, alreadyPresent: 0, unverified: [], bytes: 4 }),
      ReleaseLock: () => ({ released: true, reason: 'released' }),
      NotifyFailure: () => ({ error: 'ToolFailedError', cause: 'mariadb-binlog exited 1' }),
      ReleaseLockAfterFailure: () => ({ released: true, reason: 'released' }),
      ...overrides,
    };
    return runRecorded(definition, handlers, calls, { database: 'billing', trigger: 'schedule' }, context);
  };

  it('archives, copies the segments to the replica and releases the lock; a run skipped by the lock sends nothing', async () => {
    // Prepare
    const archived: string[] = [];
    const skipped: string[] = [];
    const replicated: unknown[] = [];

    // Act
    await run(
      {
        ReplicateSegments: (input: never) => {
          replicated.push(input);
          return { bucket: 'strongbox-vault-replica', copied: 1, alreadyPresent: 0, unverified: [], bytes: 4 };
        },
      },
      archived,
    );
    await run({ Prepare: () => ({ status: 'skipped', database: 'billing', reason: 'locked', notice: 'busy' }) }, skipped);

    // Assess
    expect(archived).toEqual(['Prepare', 'Archive', 'ReplicateSegments', 'ReleaseLock']);
    expect(replicated).toEqual([{ database: 'billing' }]);
    expect(skipped).toEqual(['Prepare']);
  });

  it('takes a failed archiving task through NotifyFailure and the lock release to a readable Fail', async () => {
    // Prepare
    const calls: string[] = [];
    const failing = () => {
      const error = new Error('the task exited 1');
      error.name = 'States.TaskFailed';
      throw error;
    };

    // Act
    const error = await run({ Archive: failing }, calls).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ExecutionError);
    expect(calls).toEqual(['Prepare', 'Archive', 'NotifyFailure', 'ReleaseLockAfterFailure']);
    expect(`${(error as Error).message} ${String((error as Error).cause)}`).toContain('mariadb-binlog exited 1');
  });

  it('takes a failed segment copy through NotifyFailure and the lock release, after archiving', async () => {
    // Prepare
    const calls: string[] = [];
    const failing = () => {
      const error = new Error('the copy of data.binlog.zst does not match the source');
      error.name = 'ReplicationError';
      throw error;
    };

    // Act
    const error = await run({ ReplicateSegments: failing }, calls).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ExecutionError);
    expect(calls).toEqual(['Prepare', 'Archive', 'ReplicateSegments', 'NotifyFailure', 'ReleaseLockAfterFailure']);
  });
});
