import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrillRecord, keys } from '../../../contracts/vault';
import { putJson } from '../../../contracts/vault-io';
import { type LocalS3, startS3rver } from '../../../dev/servers/s3rver';
import { DrillWorkflow } from '../../../infra/constructs/drill-workflow';
import { LocalStateMachine, type TaskBinding, TaskFailedError } from '../../../local/executor/runtime';
import { databasePlan, planOf } from '../../lambdas/fixtures';
import { restoreRoleArn, seedBackup } from '../../lambdas/restore/resolve/fixtures';
import { definitionOf, workflowProps, workflowStack } from './workflow-stack';

const BUCKET = 'strongbox-vault-primary';
const plan = planOf([databasePlan('orders', 'postgres')]);

function synth() {
  const parts = workflowStack(plan);
  new DrillWorkflow(parts.stack, 'Drill', {
    plan,
    ...workflowProps(parts),
  });
  return definitionOf(parts.stack, '-drill');
}

describe('DrillWorkflow', () => {
  const { template, definition } = synth();
  const sns = mockClient(SNSClient);
  let s3rver: LocalS3;
  let backupId: string;
  type Handler = (event: unknown, context: unknown) => Promise<unknown>;
  const handlers: Record<string, Handler> = {};

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    await seedBackup(s3rver.client(), BUCKET, 'orders', '2026-03-01T03:00:00Z');
    backupId = await seedBackup(s3rver.client(), BUCKET, 'orders', '2026-03-02T03:00:00Z');
    await seedBackup(s3rver.client(), BUCKET, 'orders', '2026-03-03T03:00:00Z', { verified: false });
    process.env.STRONGBOX_PLAN = JSON.stringify(plan);
    process.env.STRONGBOX_RESTORE_ROLE_ARN_TEMPLATE = restoreRoleArn('{database}');
    process.env.STRONGBOX_VAULT_BUCKET = BUCKET;
    process.env.STRONGBOX_CHAT_TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:chat';
    process.env.STRONGBOX_S3_ENDPOINT = s3rver.endpoint;
    handlers.Prepare = (await import('../../../lambdas/drill/prepare/handler')).handler as unknown as Handler;
    handlers.Report = (await import('../../../lambdas/drill/report/handler')).handler as unknown as Handler;
    handlers.ReportFailure = handlers.Report;
  });

  afterAll(async () => {
    sns.restore();
    delete process.env.STRONGBOX_S3_ENDPOINT;
    await s3rver.stop();
  });

  /** The Drill task is stood in for: it writes `record` as the task would, and fails like ECS when it did not pass. */
  function machine(record: (id: string) => DrillRecord, drilled: unknown[]): LocalStateMachine {
    const context = { functionName: 'local', awsRequestId: 'local', getRemainingTimeInMillis: () => 60_000 };
    return new LocalStateMachine(
      'strongbox-drill',
      definition,
      (name): TaskBinding => ({
        description: name,
        invoke: async (input) => {
          if (name !== 'Drill') {
            return handlers[name](input, context);
          }
          drilled.push(input);
          const env = (input as { Overrides: { ContainerOverrides: { Environment: { Name: string; Value: string }[] }[] } }).Overrides
            .ContainerOverrides[0].Environment;
          const id = env.find((e) => e.Name === 'STRONGBOX_BACKUP_ID')!.Value;
          const written = record(id);
          await putJson(s3rver.client(), BUCKET, keys.drill(id), written);
          if (!written.passed) {
            throw new TaskFailedError('States.TaskFailed', 'Essential container in task exited');
          }
          return { TaskArn: 'arn:aws:ecs:eu-west-1:000000000000:task/strongbox-tasks/1' };
        },
      }),
    );
  }

  const base = (id: string): DrillRecord => ({
    schemaVersion: 1,
    backupId: id,
    passed: true,
    drilledAt: new Date().toISOString(), // written by the task, during the run
    restoreSeconds: 12.5,
    mismatches: [],
    checks: [],
  });

  it('runs the drill command of the database task family (RunTask .sync), no target involved', () => {
    // Assess
    expect(definition.StartAt).toBe('Prepare');
    expect(definition.States.Drill).toMatchObject({
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      Parameters: {
        'TaskDefinition.$': '$.prepared.taskFamily',
        Overrides: {
          'TaskRoleArn.$': '$.prepared.taskRoleArn',
          ContainerOverrides: [{ Name: 'dump', 'Environment.$': '$.prepared.environment' }],
        },
      },
    });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'strongbox-drill' });
  });

  it('drills the newest verified backup and reports the pass with the restore time', async () => {
    // Prepare
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    const drilled: unknown[] = [];

    // Act
    const result = await machine(base, drilled).execute({ database: 'orders' });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(JSON.stringify(drilled[0])).toContain(`"Name":"STRONGBOX_BACKUP_ID","Value":"${backupId}"`);
    expect(JSON.stringify(drilled[0])).toContain('"Name":"STRONGBOX_COMMAND","Value":"drill"');
    const message = JSON.parse(String(sns.commandCalls(PublishCommand)[0].args[0].input.Message));
    expect(message.content.description).toContain(`Drill of orders passed: ${backupId} restored into a throwaway engine in 12.5 s`);
  });

  it('fails the execution with the mismatches when the drill does not pass', async () => {
    // Prepare
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: '2' });
    const failing = (id: string): DrillRecord => ({
      ...base(id),
      passed: false,
      mismatches: [{ name: 'public.orders', expected: 2001, actual: 2000 }],
    });

    // Act
    const result = await machine(failing, []).execute({ database: 'orders' });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DrillFailedError');
    expect(result.cause).toBe(`Drill of orders FAILED: ${backupId} restored in 12.5 s but public.orders: expected 2001, found 2000`);
    expect(result.path).toEqual(['Prepare', 'Drill', 'ReportFailure', 'DrillFailed']);
  });

  it('fails a null input at Prepare with its message, not a path error', async () => {
    // Act
    const result = await machine(base, []).execute(null);

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InputValidationError');
    expect(result.cause).toMatch(/^Invalid drill input:\n\(input\): found null; expected/);
    expect(result.path[0]).toBe('Prepare');
    expect(result.path).not.toContain('Drill');
    expect(result.path.at(-1)).toBe('DrillFailed');
  });
});

describe('DrillWorkflow, PostgreSQL chain drills', () => {
  /** Every S3 action the Prepare function's role is granted, with the resources of each statement. */
  function prepareGrants(databases: Parameters<typeof planOf>[0]) {
    const parts = workflowStack(planOf(databases));
    const workflow = new DrillWorkflow(parts.stack, 'Drill', { plan: planOf(databases), ...workflowProps(parts) });
    const roleId = parts.stack.getLogicalId((workflow.functions.prepare.function.role as iam.Role).node.defaultChild as iam.CfnRole);
    const policies = Template.fromStack(parts.stack).findResources('AWS::IAM::Policy');
    const statements = Object.values(policies)
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown; Condition?: unknown }[]);
    return JSON.stringify(statements);
  }
  const wal = { kind: 'wal' as const, intervalSeconds: 300, windowDays: 7 };

  it('lets Prepare list and read the base manifests under bases/ once a PostgreSQL database archives WAL', () => {
    // Act
    const grants = prepareGrants([{ ...databasePlan('orders', 'postgres'), logs: wal }]);

    // Assess
    expect(grants).toContain('arn:aws:s3:::strongbox-vault-primary/bases/*');
    expect(grants).toContain('"s3:prefix":["bases/*"]');
  });

  it('grants Prepare nothing under bases/ when no database archives WAL', () => {
    // Act
    const grants = prepareGrants([
      databasePlan('orders', 'postgres'),
      { ...databasePlan('billing', 'mariadb'), logs: { ...wal, kind: 'binlog' as const } },
    ]);

    // Assess
    expect(grants).toContain('arn:aws:s3:::strongbox-vault-primary/logs/*');
    expect(grants).not.toContain('bases/');
  });
});
