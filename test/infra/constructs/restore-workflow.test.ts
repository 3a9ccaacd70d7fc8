import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { Match } from 'aws-cdk-lib/assertions';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResolvedRestoreSchema, RestoreAuditSchema } from '../../../contracts/payloads/restore';
import { getJson, listObjects } from '../../../contracts/vault-io';
import { type LocalS3, startS3rver } from '../../../dev/servers/s3rver';
import { RestoreWorkflow } from '../../../infra/constructs/restore-workflow';
import { guardRestore } from '../../../lambdas/restore/guard/restore-guard';
import { LocalStateMachine, type TaskBinding } from '../../../local/executor/runtime';
import { databasePlan, planOf, SECRET } from '../../lambdas/fixtures';
import { restoreRoleArn, seedBackup } from '../../lambdas/restore/resolve/fixtures';
import { definitionOf, workflowProps, workflowStack } from './workflow-stack';

const BUCKET = 'strongbox-vault-primary';
const plan = planOf([
  databasePlan('orders', 'postgres', { host: 'orders.prod.internal', database: 'orders' }),
  databasePlan('sessions', 'redis'),
]);

function synth() {
  const parts = workflowStack(plan);
  new RestoreWorkflow(parts.stack, 'Restore', {
    plan,
    ...workflowProps(parts),
  });
  return definitionOf(parts.stack, '-restore');
}

describe('RestoreWorkflow template', () => {
  const { template, definition } = synth();

  it('chains Resolve -> Guard -> Restore (RunTask .sync) -> Validate -> Notify in JSONPath', () => {
    // Assess
    expect(definition.StartAt).toBe('Resolve');
    expect(definition.States.Resolve.Next).toBe('KeepResolved');
    // A dry run ends at DryRun? (Planned); every other run goes on to Guard.
    expect(definition.States.KeepResolved.Next).toBe('DryRun?');
    expect(definition.States['DryRun?'].Default).toBe('Guard');
    expect(definition.States['DryRun?'].Choices).toEqual([{ Variable: '$.resolved.dryRun', IsPresent: true, Next: 'Planned' }]);
    expect(definition.States.Guard.Next).toBe('Restore');
    expect(definition.States.Restore.Next).toBe('Validate');
    expect(definition.States.Validate.Next).toBe('Notify');
    // Resolve's refusal goes straight to the Fail state, through the states that read Lambda's error JSON.
    expect(definition.States.Resolve.Catch).toEqual([{ ErrorEquals: ['States.ALL'], Next: 'KeepError' }]);
    expect((definition.States.Resolve.Parameters as Record<string, unknown>)['input.$']).toBe('$$.Execution.Input');
    expect(definition.States.ParseLambdaError.Parameters).toEqual({ 'lambdaError.$': 'States.StringToJson($.error.Cause)' });
    expect(definition.States.RestoreFailed).toEqual({
      Type: 'Fail',
      Comment: expect.any(String),
      ErrorPath: '$.failure.error',
      CausePath: '$.failure.cause',
    });
    expect(definition.States.NotifyFailure).toMatchObject({
      ResultSelector: { 'error.$': '$.errorType', 'cause.$': '$.error' },
      ResultPath: '$.failure',
      Next: 'RestoreFailed',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.notifyError', Next: 'ReadError' }],
    });
    expect(definition.States.Restore).toMatchObject({
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      TimeoutSeconds: 7200,
      Parameters: {
        'TaskDefinition.$': '$.resolved.taskFamily',
        LaunchType: 'FARGATE',
        Overrides: {
          'TaskRoleArn.$': '$.resolved.taskRoleArn',
          ContainerOverrides: [{ Name: 'dump', 'Environment.$': '$.resolved.environment' }],
        },
      },
    });
    for (const name of ['Guard', 'Restore', 'Validate']) {
      expect(definition.States[name].Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' }]);
    }
    expect(JSON.stringify(definition)).not.toContain('QueryLanguage":"JSONata');
  });

  it('runs the task with the restore role: the state machine may pass the restore roles, never a dump task role', () => {
    // Prepare
    const passRole = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string; Resource: unknown }[])
      .filter((st) => st.Action === 'iam:PassRole');
    const resolve = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (f) => f.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === 'restore-resolve',
    );

    // Assess
    expect(passRole).toHaveLength(1);
    const passed = JSON.stringify(passRole[0].Resource);
    expect(passed).toContain(':role/strongbox/strongbox/restore/*');
    expect(passed).toContain(':role/strongbox/strongbox/execution/*');
    expect(passed).not.toContain('/dump/');
    const template_ = JSON.stringify(resolve?.Properties.Environment.Variables.STRONGBOX_RESTORE_ROLE_ARN_TEMPLATE);
    expect(template_).toContain(':role/strongbox/strongbox/restore/strongbox.{database}');
    expect(resolve?.Properties.Environment.Variables.STRONGBOX_RESTORE_ROLES).toBeUndefined();
  });

  it("gives Resolve the PostgreSQL task's disk and read access to the base manifests, to plan a WAL recovery", () => {
    // Prepare
    const resolve = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (f) => f.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === 'restore-resolve',
    );
    const reads = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes('restoreresolve'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
      .filter((st) => [st.Action].flat().some((a) => a.startsWith('s3:')))
      .map((st) => [[st.Action].flat().join(','), JSON.stringify(st.Resource)]);

    // Assess
    expect(resolve?.Properties.Environment.Variables.STRONGBOX_POSTGRES_TASK_STORAGE_GIB).toBe('100');
    expect(reads).toContainEqual(['s3:GetObject', '"arn:aws:s3:::strongbox-vault-primary/bases/*"']);
    expect(reads.filter(([actions]) => /Put|Delete/.test(actions))).toEqual([]);
  });

  it('reports a console stop through an EventBridge rule to Notify', () => {
    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['ABORTED', 'TIMED_OUT'], stateMachineArn: [Match.anyValue()] },
      },
    });
  });

  it('lets no restore role write to the vault except Notify under restores/', () => {
    // Assess
    const policies = template.findResources('AWS::IAM::Policy');
    const writes = Object.values(policies).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
        .filter((s) => [s.Action].flat().some((a) => a === 's3:PutObject' || a === 's3:DeleteObject' || a === 's3:PutObjectRetention'))
        .map((s) => JSON.stringify(s.Resource)),
    );
    expect(writes).toEqual(['"arn:aws:s3:::strongbox-vault-primary/restores/*"']);
  });

  it('lets Notify read back, under restores/, the error record a failed restore task wrote', () => {
    // Assess
    const notifyPolicies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes('restorenotify'),
    );
    const reads = notifyPolicies.flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]).filter((st) =>
        [st.Action].flat().includes('s3:GetObject'),
      ),
    );
    expect(reads.map((st) => st.Resource)).toEqual(['arn:aws:s3:::strongbox-vault-primary/restores/*']);
  });

  it("lets Guard read backups (the manifest's required roles) and nothing else of the vault", () => {
    // Assess
    const guard = Object.values(template.findResources('AWS::IAM::Policy')).find((p) =>
      JSON.stringify(p.Properties.Roles).includes('restoreguard'),
    );
    expect(guard).toBeDefined();
    const s3 = (guard!.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]).filter((s) =>
      [s.Action].flat().some((a) => a.startsWith('s3:')),
    );
    expect(s3.map((s) => [[s.Action].flat(), JSON.stringify(s.Resource)])).toEqual([
      [['s3:GetObject'], '"arn:aws:s3:::strongbox-vault-primary/backups/*"'],
    ]);
  });

  it.each(['restore-guard', 'restore-validate'])('runs %s inside the VPC, since it connects to the target', (service) => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: service }) },
      VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() },
    });
  });

  it("hands Guard's result to Notify, and lets Guard read the backups' manifests (DEFINER accounts) but write nothing", () => {
    // Prepare
    const guardReads = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes('restoreguard'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
      .filter((st) => [st.Action].flat().some((a) => a.startsWith('s3:')));

    // Assess
    expect(definition.States.Notify.Parameters).toMatchObject({ 'guard.$': '$.guard' });
    expect(guardReads.map((st) => [st.Action, JSON.stringify(st.Resource)])).toEqual([
      ['s3:GetObject', '"arn:aws:s3:::strongbox-vault-primary/backups/*"'],
    ]);
  });

  it('lets only Guard and Validate read target secrets, and only tagged ones', () => {
    // Prepare
    const readers = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes('secretsmanager:GetSecretValue'),
    );

    // Assess
    expect(readers.map((p) => JSON.stringify(p.Properties.Roles)).sort()).toEqual([
      expect.stringContaining('restoreguard'),
      expect.stringContaining('restorevalidate'),
    ]);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'secretsmanager:GetSecretValue',
            Condition: { StringEquals: { 'secretsmanager:ResourceTag/strongbox:restore-target': 'true' } },
          }),
        ]),
      },
    });
  });
});

describe('RestoreWorkflow definition run by aws-local-stepfunctions', () => {
  const { definition } = synth();
  let s3rver: LocalS3;
  const sns = mockClient(SNSClient);
  let backupId: string;
  const touched: string[] = [];
  type Handler = (event: unknown, context: unknown) => Promise<unknown>;
  let handlers: Record<string, Handler>;

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    backupId = await seedBackup(s3rver.client(), BUCKET, 'orders', '2026-03-01T03:00:00Z');
    process.env.STRONGBOX_PLAN = JSON.stringify(plan);
    process.env.STRONGBOX_RESTORE_ROLE_ARN_TEMPLATE = restoreRoleArn('{database}');
    process.env.STRONGBOX_VAULT_BUCKET = BUCKET;
    process.env.STRONGBOX_CHAT_TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:chat';
    process.env.STRONGBOX_S3_ENDPOINT = s3rver.endpoint;
    handlers = {
      Resolve: (await import('../../../lambdas/restore/resolve/handler')).handler,
      // Guard's logic without its target check: the target here is a name, not a server (test/e2e covers it).
      Guard: async (event) => guardRestore(ResolvedRestoreSchema.parse(event), { plan }),
      Notify: (await import('../../../lambdas/restore/notify/handler')).handler,
      NotifyFailure: (await import('../../../lambdas/restore/notify/handler')).handler,
    };
  });

  afterAll(async () => {
    sns.restore();
    delete process.env.STRONGBOX_S3_ENDPOINT;
    await s3rver.stop();
  });

  function machine(): LocalStateMachine {
    const context = { functionName: 'local', awsRequestId: 'local', getRemainingTimeInMillis: () => 60_000 };
    return new LocalStateMachine(
      'strongbox-restore',
      definition,
      (name): TaskBinding => ({
        description: name,
        invoke: async (input) => {
          touched.push(name);
          if (handlers[name]) {
            return handlers[name](input, context);
          }
          if (name === 'Restore') {
            return { TaskArn: 'arn:aws:ecs:eu-west-1:000000000000:task/strongbox-tasks/1' };
          }
          return { matched: true, compared: 1, mismatches: [] }; // Validate: the real one needs a live target
        },
      }),
    );
  }

  it.each([
    [
      { database: 'orders', target: { host: 'x', database: 'y', secretArn: SECRET } },
      'expected a recovery point: exactly one of "backupId", "pointInTime" or "latest": true',
    ],
    [
      { database: 'orders', latest: true, pointInTime: '2026-01-01T00:00:00Z', target: { host: 'x', database: 'y', secretArn: SECRET } },
      '"pointInTime" and "latest" are both set',
    ],
    [
      { database: 'nope', latest: true, target: { host: 'x' } },
      'database: found "nope"; expected one of the configured databases: orders, sessions',
    ],
    [
      { database: 'orders', latest: true, target: { host: 'x', port: '5432', database: 'y', secretArn: SECRET } },
      'target.port: found "5432"; expected a TCP port number 1-65535',
    ],
    [
      { database: 'sessions', latest: true, target: { host: 'x' }, confirm: 'sessions' },
      'confirm: found "sessions"; expected "overwrite": true alongside "confirm"',
    ],
  ])('fails a malformed input at Resolve with a readable cause and runs nothing else (%#)', async (input, cause) => {
    // Prepare
    touched.length = 0;

    // Act
    const result = await machine().execute(input);

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InputValidationError');
    expect(result.cause).toContain(cause);
    expect(result.cause).not.toMatch(/\n\s+at |"trace"/);
    expect(result.path[0]).toBe('Resolve');
    expect(result.path.at(-1)).toBe('RestoreFailed');
    expect(touched).toEqual(['Resolve']);
  });

  it('restores the latest verified backup and writes the audit record with who started it', async () => {
    // Prepare
    touched.length = 0;
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    const input = {
      database: 'orders',
      latest: true,
      target: { host: 'orders-copy.internal', database: 'orders_copy', secretArn: SECRET },
      requestedBy: 'alice, INC-7',
    };

    // Act
    const result = await machine().execute(input, { name: 'console-ok' });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(touched).toEqual(['Resolve', 'Guard', 'Restore', 'Validate', 'Notify']);
    const restoreCall = result.transitions.find((t) => t.state === 'Restore' && t.type === 'entered');
    expect(JSON.stringify(restoreCall?.input)).not.toContain('password');
    const listed: string[] = [];
    for await (const object of listObjects(s3rver.client(), BUCKET, 'restores/orders/')) {
      listed.push(object.key);
    }
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatch(/^restores\/orders\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\.json$/);
    const record = (await getJson(s3rver.client(), BUCKET, listed[0], RestoreAuditSchema))?.value;
    expect(record).toMatchObject({
      outcome: 'restored',
      backupId,
      startedBy: {
        executionName: 'console-ok',
        requestedBy: 'alice, INC-7',
        executionArn: expect.stringContaining(':execution:strongbox-restore:console-ok'),
      },
      target: { host: 'orders-copy.internal', port: 5432, database: 'orders_copy' },
    });
    const message = JSON.parse(String(sns.commandCalls(PublishCommand)[0].args[0].input.Message));
    expect(message.content.description).toMatch(
      /^Restore of orders succeeded: orders-20260301T030000Z-full restored to orders-copy\.internal:5432\/orders_copy in [\d.]+ s/,
    );
  });

  it('records the DEFINER accounts Guard let through (definers: "ignore") in the audit record and the chat message', async () => {
    // Prepare
    touched.length = 0;
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    const guard = handlers.Guard;
    handlers.Guard = async (event) => ({ ...((await guard(event, {})) as object), ignoredDefiners: ["'app'@'localhost'"] });
    const input = {
      database: 'orders',
      latest: true,
      target: { host: 'orders-copy.internal', database: 'orders_definers', secretArn: SECRET },
    };

    // Act
    const result = await machine()
      .execute(input, { name: 'console-definers' })
      .finally(() => {
        handlers.Guard = guard;
      });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    const listed: string[] = [];
    for await (const object of listObjects(s3rver.client(), BUCKET, 'restores/orders/')) {
      listed.push(object.key);
    }
    const records = await Promise.all(listed.map(async (key) => (await getJson(s3rver.client(), BUCKET, key, RestoreAuditSchema))?.value));
    expect(records.find((r) => r?.startedBy.executionName === 'console-definers')?.ignoredDefiners).toEqual(["'app'@'localhost'"]);
    const message = JSON.parse(String(sns.commandCalls(PublishCommand)[0].args[0].input.Message));
    expect(message.content.description).toContain("The target lacks the DEFINER account 'app'@'localhost' (definers: \"ignore\")");
  });

  it('refuses the source connection at Guard, records the refusal and never starts the task', async () => {
    // Prepare
    touched.length = 0;
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: '2' });
    const input = { database: 'orders', latest: true, target: { host: 'orders.prod.internal', database: 'orders', secretArn: SECRET } };

    // Act
    const result = await machine().execute(input, { name: 'console-source' });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreRefusedError');
    expect(result.cause).toContain('Refusing to restore "orders" onto its own source connection orders.prod.internal:5432/orders');
    expect(result.cause).toContain('Set "overwrite": true and "confirm": "orders" in the input to go ahead.');
    expect(touched).toEqual(['Resolve', 'Guard', 'NotifyFailure']);
    const message = JSON.parse(String(sns.commandCalls(PublishCommand)[0].args[0].input.Message));
    expect(message.content.title).toBe('Restore refused: orders');
  });
});
