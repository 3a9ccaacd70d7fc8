import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrReportSchema } from '../../../contracts/payloads/dr-plan';
import type { Plan } from '../../../contracts/plan';
import { DrPlanWorkflow } from '../../../infra/constructs/dr-plan-workflow';
import { DrillWorkflow } from '../../../infra/constructs/drill-workflow';
import { RestoreWorkflow } from '../../../infra/constructs/restore-workflow';
import { LocalStateMachine, type TaskBinding, TaskFailedError } from '../../../local/executor/runtime';
import { SECRET } from '../../lambdas/fixtures';
import { drPlanFixture } from '../../lambdas/restore/resolve/fixtures';
import { definitionOf, workflowProps, workflowStack } from './workflow-stack';

const plan: Plan = drPlanFixture();

function synth(withDrill = false) {
  const parts = workflowStack(plan);
  const restore = new RestoreWorkflow(parts.stack, 'Restore', {
    plan,
    ...workflowProps(parts),
  });
  const drill = withDrill ? new DrillWorkflow(parts.stack, 'Drill', { plan, ...workflowProps(parts) }) : undefined;
  new DrPlanWorkflow(parts.stack, 'Dr', {
    plan,
    restoreStateMachine: restore.stateMachine,
    drillStateMachine: drill?.stateMachine,
    chatTopic: parts.chatTopic,
  });
  return { ...definitionOf(parts.stack, '-dr-plan'), stack: parts.stack, drill };
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

  /**
   * Runs the synthesized definition; the nested restores are stubbed: `failing` databases fail like a refused
   * restore. Nested drills (RehearseDatabase) are recorded in `drilled` and pass, as `.sync:2` returns them.
   */
  function machine(
    failing: readonly string[],
    started: { database: string; input: unknown }[],
    asl = definition,
    drilled: { database: string; input: unknown }[] = [],
  ): LocalStateMachine {
    const context = { functionName: 'dr-plan', awsRequestId: 'local', getRemainingTimeInMillis: () => 60_000 };
    return new LocalStateMachine(
      'strongbox-dr-plan',
      asl,
      (name): TaskBinding => ({
        description: name,
        invoke: async (input) => {
          if (name === 'RehearseDatabase') {
            const drillInput = (input as { Input: { database: string } }).Input;
            drilled.push({ database: drillInput.database, input: drillInput });
            const startDate = Date.now();
            await new Promise((resolve) => setTimeout(resolve, 20));
            return {
              ExecutionArn: `arn:aws:states:eu-west-1:000000000000:execution:strongbox-drill:${drillInput.database}`,
              StartDate: startDate,
              StopDate: Date.now(),
              Output: { report: { backupId: `${drillInput.database}-20260310T030000Z-full`, restoreSeconds: 0.01 } },
            };
          }
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

  describe('rehearsal', () => {
    const rehearsal = synth(true);

    it('drills each database through the drill state machine (.sync, no parent field) when the item has a drill input', () => {
      // Prepare
      const map = rehearsal.definition.States.RestoreGroup as unknown as {
        ItemProcessor: { StartAt: string; States: Record<string, Record<string, unknown>> };
      };

      // Act
      const choice = map.ItemProcessor.States[map.ItemProcessor.StartAt] as {
        Choices: { Variable: string; IsPresent: boolean; Next: string }[];
      };

      // Assess
      expect(map.ItemProcessor.StartAt).toBe('Rehearsal?');
      expect(choice.Choices).toEqual([{ Variable: '$.drillInput', IsPresent: true, Next: 'RehearseDatabase' }]);
      expect(map.ItemProcessor.States.RehearseDatabase).toMatchObject({
        Resource: 'arn:aws:states:::states:startExecution.sync:2',
        Parameters: { 'Input.$': '$.drillInput', StateMachineArn: expect.stringMatching(/:stateMachine:strongbox-drill$/) },
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotRestored' }],
      });
      expect(JSON.stringify(map.ItemProcessor.States.RehearseDatabase)).not.toContain('AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID');
      const policies = Object.values(rehearsal.template.findResources('AWS::IAM::Policy')).filter((p) =>
        JSON.stringify(p.Properties.Roles).includes('DrStateMachineRole'),
      );
      const starts = policies
        .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[])
        .filter((st) => st.Action === 'states:StartExecution')
        .map((st) => JSON.stringify(st.Resource));
      expect(starts.some((r) => r.includes('DrillStateMachine'))).toBe(true);
    });

    it('rehearses group by group with nested drills only, and reports each group and the plan RTO', async () => {
      // Prepare
      sns.reset();
      sns.on(PublishCommand).resolves({ MessageId: '3' });
      const started: { database: string; input: unknown }[] = [];
      const drilled: { database: string; input: unknown }[] = [];

      // Act
      const result = await machine([], started, rehearsal.definition, drilled).execute(
        { plan: 'region-loss', rehearsal: true },
        { name: 'dr-rehearsal' },
      );

      // Assess
      expect(result.cause).toBeUndefined();
      expect(result.status).toBe('SUCCEEDED');
      expect(started).toEqual([]);
      expect(drilled.map((d) => d.database)).toEqual(expect.arrayContaining(['users', 'orders', 'billing', 'sessions']));
      expect(drilled[0]).toEqual({ database: 'users', input: { database: 'users', trigger: 'manual' } });
      expect(drilled[3].database).toBe('sessions');
      const report = DrReportSchema.parse(result.output);
      expect(report).toMatchObject({ status: 'succeeded', rehearsal: true, rto: { met: true } });
      expect(report.groups?.map((g) => g.databases.map((d) => [d.database, d.status, d.backupId]))).toEqual([
        [['users', 'passed', 'users-20260310T030000Z-full']],
        [
          ['orders', 'passed', 'orders-20260310T030000Z-full'],
          ['billing', 'passed', 'billing-20260310T030000Z-full'],
        ],
        [['sessions', 'passed', 'sessions-20260310T030000Z-full']],
      ]);
      expect(report.groups?.every((g) => (g.seconds ?? -1) >= 0)).toBe(true);
      expect(sns.commandCalls(PublishCommand)[0].args[0].input.Subject).toBe('Strongbox DR plan rehearsal passed: region-loss');
    });

    it('fails every database of a rehearsal on a machine built without the drill state machine, and restores nothing', async () => {
      // Prepare
      sns.reset();
      sns.on(PublishCommand).resolves({ MessageId: '4' });
      const started: { database: string; input: unknown }[] = [];

      // Act
      const result = await machine([], started).execute({ plan: 'region-loss', rehearsal: true });

      // Assess
      expect(result.status).toBe('FAILED');
      expect(result.cause).toMatch(
        /^DR plan rehearsal region-loss FAILED: stopped at group 1 of 3 .*users failed: DrPlanRehearsalUnavailableError/,
      );
      expect(started).toEqual([]);
    });
  });
});
