import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrReportSchema } from '../../../contracts/payloads/dr-plan';
import type { Plan } from '../../../contracts/plan';
import { DrPlanWorkflow } from '../../../infra/constructs/dr-plan-workflow';
import { RestoreWorkflow } from '../../../infra/constructs/restore-workflow';
import { LocalStateMachine, type TaskBinding, TaskFailedError } from '../../../local/executor/runtime';
import { SECRET } from '../../lambdas/fixtures';
import { drPlanFixture } from '../../lambdas/restore/resolve/fixtures';
import { definitionOf, workflowProps, workflowStack } from './workflow-stack';

const plan: Plan = drPlanFixture();

function synth() {
  const parts = workflowStack(plan);
  const restore = new RestoreWorkflow(parts.stack, 'Restore', {
    plan,
    ...workflowProps(parts),
  });
  new DrPlanWorkflow(parts.stack, 'Dr', { plan, restoreStateMachine: restore.stateMachine, chatTopic: parts.chatTopic });
  return definitionOf(parts.stack, '-dr-plan');
}

describe('DrPlanWorkflow', () => {
  const { template, definition } = synth();
  const sns = mockClient(SNSClient);
  type Handler = (event: unknown, context: unknown) => Promise<unknown>;
  let handler: Handler;

  beforeAll(async () => {
    process.env.STRONGBOX_PLAN = JSON.stringify(plan);
    process.env.STRONGBOX_CHAT_TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:chat';
    handler = (await import('../../../lambdas/dr-plan/handler')).handler as unknown as Handler;
  });

  afterAll(() => {
    sns.restore();
  });

  /** Runs the synthesized definition; the nested restores are stubbed: `failing` databases fail like a refused restore. */
  function machine(failing: readonly string[], started: { database: string; input: unknown }[]): LocalStateMachine {
    const context = { functionName: 'dr-plan', awsRequestId: 'local', getRemainingTimeInMillis: () => 60_000 };
    return new LocalStateMachine(
      'strongbox-dr-plan',
      definition,
      (name): TaskBinding => ({
        description: name,
        invoke: async (input) => {
          if (name !== 'RestoreDatabase') {
            return handler(input, context);
          }
          // The state's Parameters: { StateMachineArn, Input }, as StartExecution receives them.
          const restoreInput = (input as { Input: { database: string } }).Input;
          started.push({ database: restoreInput.database, input: restoreInput });
          await new Promise((resolve) => setTimeout(resolve, 20));
          if (failing.includes(restoreInput.database)) {
            throw new TaskFailedError(
              'States.TaskFailed',
              JSON.stringify({
                Error: 'RestoreRefusedError',
                Cause: `Refusing to restore "${restoreInput.database}" into a non-empty target`,
              }),
            );
          }
          return { ExecutionArn: `arn:aws:states:eu-west-1:000000000000:execution:strongbox-restore:${restoreInput.database}` };
        },
      }),
    );
  }

  it('starts nested restore executions .sync without the parent field the strict restore input would reject', () => {
    // Assess
    const map = definition.States.RestoreGroup as unknown as {
      ItemProcessor: { States: Record<string, Record<string, unknown>> };
      MaxConcurrency: number;
    };
    expect(map.MaxConcurrency ?? 0).toBe(0); // 0 (or absent): no limit, the whole group at once
    expect(map.ItemProcessor.States.RestoreDatabase).toMatchObject({
      Resource: 'arn:aws:states:::states:startExecution.sync:2',
      Parameters: { 'Input.$': '$.restoreInput' },
    });
    expect(JSON.stringify(map.ItemProcessor.States.RestoreDatabase)).not.toContain('AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID');
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'strongbox-dr-plan' });
  });

  it('restores every group in order and succeeds with a report', async () => {
    // Prepare
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    const started: { database: string; input: unknown }[] = [];

    // Act
    const result = await machine([], started).execute({ plan: 'region-loss' }, { name: 'dr-ok' });

    // Assess
    expect(result.cause).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    const report = DrReportSchema.parse(result.output);
    expect(report).toMatchObject({
      status: 'succeeded',
      restored: ['users', 'orders', 'billing', 'sessions'],
      failed: [],
      notRestored: [],
    });
    expect(started[0].database).toBe('users');
    expect(
      started
        .slice(1, 3)
        .map((s) => s.database)
        .sort(),
    ).toEqual(['billing', 'orders']);
    expect(started[3].database).toBe('sessions');
    expect(started[0].input).toEqual({
      database: 'users',
      latest: true,
      target: { host: 'users.dr.internal', port: 5432, database: 'users', secretArn: SECRET },
      requestedBy: 'DR plan region-loss (dr-ok)',
    });
  });

  it('stops when the second group fails and reports what was and was not restored', async () => {
    // Prepare
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: '2' });
    const started: { database: string; input: unknown }[] = [];

    // Act
    const result = await machine(['billing'], started).execute({ plan: 'region-loss' }, { name: 'dr-fail' });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DrPlanFailedError');
    expect(result.cause).toBe(
      'DR plan region-loss stopped at group 2 of 3: billing failed (RestoreRefusedError: Refusing to restore "billing" into a non-empty target). Restored: users, orders. Not restored: billing, sessions.',
    );
    expect(started.map((s) => s.database).sort()).toEqual(['billing', 'orders', 'users']);
    const message = JSON.parse(String(sns.commandCalls(PublishCommand)[0].args[0].input.Message));
    expect(message.content.title).toBe('DR plan region-loss failed');
  });

  it('fails an unknown plan at the first state with the known plans listed', async () => {
    // Prepare
    const started: { database: string; input: unknown }[] = [];

    // Act
    const result = await machine([], started).execute({ plan: 'regoin-loss' });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InputValidationError');
    expect(result.cause).toContain('plan: found "regoin-loss"; expected one of the drPlans in the config: region-loss');
    expect(result.path[0]).toBe('Start');
    expect(result.path.at(-1)).toBe('PlanRefused');
    expect(result.path).not.toContain('RestoreGroup');
    expect(started).toEqual([]);
  });
});
