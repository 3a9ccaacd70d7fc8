import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TASK_CONTAINER_NAME, TASK_ENV } from '../../../contracts/task-env';
import { taskFamily } from '../../../infra/config/plan';
import { BackupWorkflow } from '../../../infra/constructs/backup-workflow';
import { Vault, type VaultAttributes } from '../../../infra/constructs/vault';
import { testPlan } from '../../lambdas/fixtures';

// aws-local-stepfunctions 3 targets Node 22; Node 20 lacks Promise.withResolvers.
const P = Promise as unknown as { withResolvers?: () => unknown };
P.withResolvers ??= () => {
  let resolve: unknown;
  let reject: unknown;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

const plan = testPlan();
const vault: VaultAttributes = {
  bucketName: 'sbx-vault',
  bucketArn: 'arn:aws:s3:::sbx-vault',
  region: 'eu-west-1',
  keyArn: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
};
const replicaVault: VaultAttributes = {
  bucketName: 'sbx-vault-replica',
  bucketArn: 'arn:aws:s3:::sbx-vault-replica',
  region: 'eu-central-1',
  keyAliasName: 'alias/sbx-vault-replica',
};

interface Built {
  template: Template;
  stack: Stack;
  workflow: BackupWorkflow;
  definition: { StartAt: string; States: Record<string, Record<string, unknown>>; TimeoutSeconds?: number };
}

function build(): Built {
  const app = new App({ autoSynth: false });
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
    vpcId: 'vpc-0abc12345def67890',
    availabilityZones: ['eu-west-1a'],
    privateSubnetIds: ['subnet-0abc12345def67890'],
  });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
  const dumpTasks = Object.fromEntries(
    Object.keys(plan.databases).map((name) => {
      const taskDefinition = new ecs.FargateTaskDefinition(stack, `Task-${name}`, { family: taskFamily(plan.app, name) });
      taskDefinition.addContainer(TASK_CONTAINER_NAME, { image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox') });
      return [name, { taskDefinition }];
    }),
  );
  const workflow = new BackupWorkflow(stack, 'Backup', {
    plan,
    vault: Vault.fromAttributes(stack, 'Vault', vault),
    replicaVault: Vault.fromAttributes(stack, 'ReplicaVault', replicaVault),
    replicaKmsKey: 'arn:aws:kms:eu-central-1:123456789012:alias/sbx-vault-replica',
    cluster,
    taskSubnets: vpc.privateSubnets,
    taskSecurityGroups: [ec2.SecurityGroup.fromSecurityGroupId(stack, 'Sg', 'sg-0abc12345def67890')],
    chatTopic: new sns.Topic(stack, 'Chat'),
    pagerTopic: new sns.Topic(stack, 'Pager'),
    dumpTasks,
  });
  const template = Template.fromStack(stack);
  const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0];
  const definition = JSON.parse(resolve(machine.Properties.DefinitionString) as string);
  return { template, stack, workflow, definition };
}

/** Flattens CloudFormation intrinsics into plausible literal values, so the ASL can be parsed and run. */
function resolve(value: unknown): unknown {
  if (typeof value === 'string' || value === null || typeof value !== 'object') {
    return value;
  }
  if (Array.isArray(value)) {
    return value.map(resolve);
  }
  const object = value as Record<string, unknown>;
  if ('Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolve(p)).join(separator);
  }
  if ('Ref' in object) {
    const ref = object.Ref as string;
    return { 'AWS::Partition': 'aws', 'AWS::Region': 'eu-west-1', 'AWS::AccountId': '123456789012' }[ref] ?? ref;
  }
  if ('Fn::GetAtt' in object) {
    const [id] = object['Fn::GetAtt'] as [string, string];
    return id.includes('Cluster')
      ? `arn:aws:ecs:eu-west-1:123456789012:cluster/${id}`
      : `arn:aws:lambda:eu-west-1:123456789012:function:${id}`;
  }
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, resolve(v)]));
}

/** Every statement of the inline policies attached to `role`, with resources flattened to strings. */
function statementsOf(built: Built, role: unknown): { Action: string | string[]; Resource: string | string[]; Condition?: unknown }[] {
  const roleId = built.stack.getLogicalId((role as { node: { defaultChild: never } }).node.defaultChild);
  return Object.values(built.template.findResources('AWS::IAM::Policy')).flatMap((policy) => {
    const roles = (policy.Properties.Roles as { Ref: string }[]).map((r) => r.Ref);
    return roles.includes(roleId) ? (resolve(policy.Properties.PolicyDocument.Statement) as never[]) : [];
  });
}

const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
function resourcesFor(statements: ReturnType<typeof statementsOf>, action: string): string[] {
  return statements.filter((s) => list(s.Action).includes(action)).flatMap((s) => list(s.Resource));
}

let built: Built;
beforeAll(() => {
  built = build();
});

describe('BackupWorkflow template', () => {
  it('logs at level ALL without execution data and traces with X-Ray', () => {
    // Assess
    built.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: false }),
    });
  });

  it('sizes the execution timeout from the longest task timeout plus a margin', () => {
    // Assess: billing has 180 minutes; 15 minutes of Fargate provisioning and one hour for the Lambdas.
    expect(built.definition.TimeoutSeconds).toBe(180 * 60 + 900 + 3600);
    expect(built.definition.States.Dump.TimeoutSeconds).toBe(180 * 60 + 900);
  });

  it('catches every task into NotifyFailure, sets explicit timeouts, and ends failures with a readable cause', () => {
    // Prepare
    const states = built.definition.States;
    const failurePath = ['NotifyFailure', 'ReleaseLockAfterFailure'];

    // Assess
    for (const [name, state] of Object.entries(states)) {
      if (state.Type !== 'Task') continue;
      expect(state.TimeoutSeconds, name).toEqual(expect.any(Number));
      if (!failurePath.includes(name)) {
        expect(state.Catch, name).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' }]);
      }
    }
    expect(states.Failed).toEqual(expect.objectContaining({ Type: 'Fail', ErrorPath: '$.failure.error', CausePath: '$.failure.cause' }));
    expect(JSON.stringify(built.definition)).not.toContain('JSONata');
    expect(JSON.stringify(built.definition)).not.toContain('States.Format');
  });

  it('runs the dump as ECS RunTask .sync on Fargate with the family from Prepare and retries transient ECS errors', () => {
    // Prepare
    const dump = built.definition.States.Dump as Record<string, never>;

    // Assess
    expect(dump.Resource).toBe('arn:aws:states:::ecs:runTask.sync');
    expect(dump.Parameters).toMatchObject({
      'TaskDefinition.$': '$.prepare.taskFamily',
      LaunchType: 'FARGATE',
      NetworkConfiguration: { AwsvpcConfiguration: { Subnets: ['subnet-0abc12345def67890'], AssignPublicIp: 'DISABLED' } },
      Overrides: {
        ContainerOverrides: [
          {
            Name: TASK_CONTAINER_NAME,
            Environment: [
              { Name: TASK_ENV.command, Value: 'backup' },
              { Name: TASK_ENV.backupId, 'Value.$': '$.prepare.backupId' },
              { Name: TASK_ENV.trigger, 'Value.$': '$.prepare.trigger' },
            ],
          },
        ],
      },
    });
    expect(Object.keys(dump.ResultSelector)).toEqual(['taskArn.$', 'stoppedReason.$', 'exitCode.$']);
    expect(dump.Retry).toEqual([
      expect.objectContaining({ ErrorEquals: expect.arrayContaining(['ECS.AmazonECSException']), BackoffRate: 2 }),
    ]);
    expect(built.definition.States.Verify.Retry).toEqual([
      expect.objectContaining({ ErrorEquals: expect.arrayContaining(['Lambda.ServiceException']), BackoffRate: 2 }),
    ]);
  });

  it('builds every function on node24.x arm64 with tracing, a log group, and no plan in the environment', () => {
    // Assess
    const functions = built.template.findResources('AWS::Lambda::Function');
    expect(Object.keys(functions)).toHaveLength(6);
    for (const fn of Object.values(functions)) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
      expect(fn.Properties.LoggingConfig.LogGroup).toBeDefined();
      expect(JSON.stringify(fn.Properties.Environment)).not.toContain('STRONGBOX_PLAN');
    }
  });
});

describe('BackupWorkflow least privilege', () => {
  it('lets Prepare write only the lock', () => {
    // Act
    const statements = statementsOf(built, built.workflow.functions.prepare.function.role);

    // Assess
    expect(resourcesFor(statements, 's3:PutObject')).toEqual(['arn:aws:s3:::sbx-vault/locks/*']);
    expect(resourcesFor(statements, 's3:DeleteObject')).toEqual([]);
  });

  it('lets Verify read backups but write only verification.json and the index', () => {
    // Act
    const statements = statementsOf(built, built.workflow.functions.verify.function.role);

    // Assess
    expect(resourcesFor(statements, 's3:PutObject').sort()).toEqual([
      'arn:aws:s3:::sbx-vault/backups/*/verification.json',
      'arn:aws:s3:::sbx-vault/index/*',
    ]);
    expect(resourcesFor(statements, 's3:GetObject')).toContain('arn:aws:s3:::sbx-vault/backups/*');
    expect(resourcesFor(statements, 's3:DeleteObject')).toEqual([]);
  });

  it('lets Replicate read the source and write only the replica', () => {
    // Act
    const statements = statementsOf(built, built.workflow.functions.replicate.function.role);

    // Assess
    expect(resourcesFor(statements, 's3:PutObject')).toEqual(['arn:aws:s3:::sbx-vault-replica/backups/*']);
    expect(resourcesFor(statements, 's3:GetObject')).toContain('arn:aws:s3:::sbx-vault/backups/*');
    expect(resourcesFor(statements, 's3:DeleteObject')).toEqual(['arn:aws:s3:::sbx-vault-replica/backups/*']);
  });

  it('lets Retain delete, tag and lock in both vaults but never read a data object', () => {
    // Act
    const statements = statementsOf(built, built.workflow.functions.retain.function.role);

    // Assess
    expect(resourcesFor(statements, 's3:GetObject')).toEqual(['arn:aws:s3:::sbx-vault/backups/*/verification.json']);
    for (const action of ['s3:DeleteObject', 's3:PutObjectTagging', 's3:PutObjectRetention', 's3:PutObjectLegalHold']) {
      expect(resourcesFor(statements, action).sort(), action).toEqual([
        'arn:aws:s3:::sbx-vault-replica/backups/*',
        'arn:aws:s3:::sbx-vault/backups/*',
      ]);
    }
    expect(resourcesFor(statements, 's3:PutObject')).toEqual([]);
  });

  it('lets only the state machine pass the task roles, and only to ECS tasks', () => {
    // Prepare
    const policies = Object.values(built.template.findResources('AWS::IAM::Policy'));
    const passing = policies.filter((p) => JSON.stringify(p.Properties.PolicyDocument).includes('iam:PassRole'));
    const machineRole = built.stack.getLogicalId(built.workflow.stateMachine.role.node.defaultChild as never);

    // Assess
    expect(passing).toHaveLength(1);
    expect(passing[0].Properties.Roles).toEqual([{ Ref: machineRole }]);
    const pass = (resolve(passing[0].Properties.PolicyDocument.Statement) as { Action: string; Condition?: unknown }[]).find(
      (s) => s.Action === 'iam:PassRole',
    );
    expect(pass?.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    // By role path and family pattern, so the policy does not grow with the fleet; never a restore role.
    expect(JSON.stringify(resolve(pass))).toContain(':role/strongbox/sbx/dump/*');
    expect(JSON.stringify(resolve(pass))).toContain(':role/strongbox/sbx/execution/*');
    expect(JSON.stringify(resolve(pass))).not.toContain('/restore/');
    const runTask = statementsOf(built, built.workflow.stateMachine.role).filter((s) => list(s.Action).includes('ecs:RunTask'));
    expect(runTask.flatMap((s) => list(s.Resource))).toEqual(['arn:aws:ecs:eu-west-1:123456789012:task-definition/sbx-*-dump:*']);
  });

  it('refuses a plan database without a dump task, naming it', () => {
    // Prepare
    const stack = new Stack(new App({ autoSynth: false }), 'Bad');
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-0abc12345def67890',
      availabilityZones: ['a'],
      privateSubnetIds: ['subnet-1'],
    });

    // Act
    const act = () =>
      new BackupWorkflow(stack, 'B', {
        plan,
        vault: Vault.fromAttributes(stack, 'Vault', vault),
        replicaVault: Vault.fromAttributes(stack, 'ReplicaVault', replicaVault),
        replicaKmsKey: 'alias/x',
        cluster: new ecs.Cluster(stack, 'C', { vpc }),
        taskSubnets: vpc.privateSubnets,
        taskSecurityGroups: [],
        chatTopic: new sns.Topic(stack, 'T'),
        dumpTasks: {},
      });

    // Assess
    expect(act).toThrow(/no dump task for database "orders"/);
  });
});

describe('BackupWorkflow definition run by aws-local-stepfunctions', () => {
  const context = {
    Execution: { Id: 'arn:aws:states:eu-west-1:123456789012:execution:sbx-backup:run-1', StartTime: '2026-04-01T10:00:00.000Z' },
  };
  const ready = {
    status: 'ready',
    database: 'orders',
    engine: 'postgres',
    backupId: 'orders-20260401T100000Z-full',
    prefix: 'backups/orders/2026/04/01/orders-20260401T100000Z-full/',
    taskFamily: 'sbx-orders-dump',
    taskTimeoutSeconds: 3600,
    trigger: 'schedule',
  };

  function handlers(calls: { state: string; input: unknown }[], overrides: Record<string, (input: never) => unknown> = {}) {
    const record = (state: string, result: (input: never) => unknown) => async (input: never) => {
      calls.push({ state, input });
      return result(input);
    };
    const defaults: Record<string, (input: never) => unknown> = {
      Prepare: () => ready,
      Dump: () => ({
        TaskArn: 'arn:aws:ecs:task/1',
        StoppedReason: 'Essential container in task exited',
        Containers: [{ ExitCode: 0 }],
        Big: 'x'.repeat(1000),
      }),
      Verify: () => ({ verified: true, method: 'reread', bytes: 10, sha256: 'a'.repeat(64) }),
      Replicate: () => ({ bucket: 'r', copied: 3, alreadyPresent: 0, bytes: 10, lagSeconds: 4 }),
      Retain: () => ({ dryRun: false, backups: 1, kept: 1, deleted: [], skippedLocked: [], tiered: [], truncated: false }),
      ReleaseLock: () => ({ released: true, reason: 'ok' }),
      Notify: () => ({ published: ['chat'] }),
      NotifySkipped: () => ({ published: ['chat'] }),
      NotifyFailure: (input: { state: { error: { Error: string; Cause: string } } }) => ({
        error: input.state.error.Error,
        cause: `readable: ${input.state.error.Cause}`,
      }),
      ReleaseLockAfterFailure: () => ({ released: true, reason: 'ok' }),
    };
    return Object.fromEntries(Object.entries({ ...defaults, ...overrides }).map(([state, fn]) => [state, record(state, fn)]));
  }

  it('runs the happy path in order and keeps only the small dump fields', async () => {
    // Prepare
    const calls: { state: string; input: unknown }[] = [];
    const machine = new StateMachine(built.definition as never);

    // Act
    const result = (await machine.run(
      { database: 'orders', kind: 'full', trigger: 'schedule' },
      {
        overrides: { taskResourceLocalHandlers: handlers(calls) as never },
        context: context as never,
      },
    ).result) as Record<string, unknown>;

    // Assess
    expect(calls.map((c) => c.state)).toEqual(['Prepare', 'Dump', 'Verify', 'Replicate', 'Retain', 'ReleaseLock', 'Notify']);
    expect(calls[0].input).toEqual({
      input: { database: 'orders', kind: 'full', trigger: 'schedule' },
      execution: { executionArn: context.Execution.Id, startTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
    });
    expect(calls[1].input).toMatchObject({
      TaskDefinition: 'sbx-orders-dump',
      Overrides: { ContainerOverrides: [{ Environment: [{ Value: 'backup' }, { Value: ready.backupId }, { Value: 'schedule' }] }] },
    });
    expect(calls[2].input).toEqual({ database: 'orders', backupId: ready.backupId });
    expect(result.dump).toEqual({ taskArn: 'arn:aws:ecs:task/1', stoppedReason: 'Essential container in task exited', exitCode: 0 });
    expect(calls[6].input).toMatchObject({ outcome: 'succeeded', state: { prepare: ready, replicate: { lagSeconds: 4 } } });
  });

  it('skips with a notice when Prepare skips', async () => {
    // Prepare
    const calls: { state: string; input: unknown }[] = [];
    const machine = new StateMachine(built.definition as never);
    const skipped = { status: 'skipped', database: 'orders', reason: 'locked', notice: 'busy' };

    // Act
    await machine.run(
      { database: 'orders', kind: 'full' },
      {
        overrides: { taskResourceLocalHandlers: handlers(calls, { Prepare: () => skipped }) as never },
        context: context as never,
      },
    ).result;

    // Assess
    expect(calls.map((c) => c.state)).toEqual(['Prepare', 'NotifySkipped']);
  });

  it('on a failure notifies, releases the lock and fails with the readable cause', async () => {
    // Prepare
    const calls: { state: string; input: unknown }[] = [];
    const machine = new StateMachine(built.definition as never);
    const failing = () => {
      const error = new Error('orders-20260401T100000Z-full failed verification: sha256 mismatch');
      error.name = 'VerificationError';
      throw error;
    };

    // Act
    const run = machine.run(
      { database: 'orders', kind: 'full' },
      {
        overrides: { taskResourceLocalHandlers: handlers(calls, { Verify: failing }) as never },
        context: context as never,
      },
    ).result;

    // Assess
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionError);
    expect(calls.map((c) => c.state)).toEqual(['Prepare', 'Dump', 'Verify', 'NotifyFailure', 'ReleaseLockAfterFailure']);
    expect(calls[3].input).toMatchObject({ outcome: 'failed', state: { error: { Error: 'VerificationError' }, prepare: ready } });
    expect(String((error as Error & { cause?: unknown }).message) + JSON.stringify(error)).toMatch(/VerificationError|readable/);
  });
});
