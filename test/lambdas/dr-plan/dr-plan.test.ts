import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { InputValidationError } from '../../../contracts/errors';
import type { DrItemResult, DrState } from '../../../contracts/payloads/dr-plan';
import { RestoreInputSchema } from '../../../contracts/payloads/restore';
import type { Plan } from '../../../contracts/plan';
import { advanceDrPlan, reportDrPlan, startDrPlan } from '../../../lambdas/dr-plan/dr-plan';
import { planOf, SECRET } from '../fixtures';
import { drPlanFixture } from '../restore/resolve/fixtures';

const CHAT = 'arn:aws:sns:eu-west-1:123456789012:chat';
const plan: Plan = drPlanFixture();
const execution = {
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:strongbox-dr-plan:dr-1',
  name: 'dr-1',
  startTime: '2026-03-10T12:00:00.000Z',
};
const restoreArn = (database: string) => `arn:aws:states:eu-west-1:123456789012:execution:strongbox-restore:${database}`;
const restored = (database: string, group: number): DrItemResult => ({
  database,
  group,
  status: 'restored',
  executionArn: restoreArn(database),
});
const REFUSED = 'Refusing to restore "billing" into a non-empty target billing.dr.internal:3306 (3 tables)';

/** What `fn` throws (or returns, when it does not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    return e;
  }
}

/** A nested restore's failure as startExecution.sync reports it: DescribeExecution JSON whose Cause is Lambda's error JSON. */
function describeExecutionCause(database: string, errorType: string, errorMessage: string, key: 'Cause' | 'cause' = 'Cause'): string {
  return JSON.stringify({
    ExecutionArn: restoreArn(database),
    StateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:strongbox-restore',
    Name: database,
    Status: 'FAILED',
    StartDate: 1773144000000,
    StopDate: 1773144060000,
    Input: JSON.stringify({ database, latest: true }),
    Error: errorType,
    [key]: JSON.stringify({
      errorType,
      errorMessage,
      trace: [`${errorType}: ${errorMessage}`, '    at guardRestore (/var/task/index.js:1:2345)'],
    }),
  });
}

describe('DR plan bookkeeping', () => {
  const sns = mockClient(SNSClient);

  beforeEach(() => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: '1' });
  });

  afterAll(() => {
    sns.restore();
  });

  it('starts with the first group current and one restore input per database, group by group', () => {
    // Prepare
    const input = { plan: 'region-loss', requestedBy: 'carol, INC-42' };

    // Act
    const state = startDrPlan(input, execution, plan);

    // Assess
    const requestedBy = 'DR plan region-loss (dr-1): carol, INC-42';
    expect(state).toEqual({
      plan: 'region-loss',
      groups: [
        [
          {
            database: 'users',
            group: 0,
            restoreInput: {
              database: 'users',
              latest: true,
              target: { host: 'users.dr.internal', port: 5432, database: 'users', secretArn: SECRET },
              requestedBy,
            },
          },
        ],
        [
          {
            database: 'orders',
            group: 1,
            restoreInput: {
              database: 'orders',
              latest: true,
              target: { host: 'orders.dr.internal', port: 5432, database: 'orders', secretArn: SECRET },
              requestedBy,
            },
          },
          {
            database: 'billing',
            group: 1,
            restoreInput: {
              database: 'billing',
              latest: true,
              target: { host: 'billing.dr.internal', port: 3306, secretArn: SECRET },
              requestedBy,
            },
          },
        ],
        [
          {
            database: 'sessions',
            group: 2,
            restoreInput: { database: 'sessions', latest: true, target: { host: 'sessions.dr.internal', port: 6379 }, requestedBy },
          },
        ],
      ],
      next: 1,
      current: [state.groups[0][0]],
      results: [],
      status: 'running',
      startedAt: '2026-03-10T12:00:00.000Z',
      executionArn: execution.executionArn,
    });
  });

  it('builds restore inputs the strict restore input schema accepts', () => {
    // Prepare
    const input = { plan: 'region-loss', overwrite: true, confirm: 'region-loss' };

    // Act
    const state = startDrPlan(input, execution, plan);

    // Assess
    const problems = state.groups.flat().flatMap((item) => {
      const parsed = RestoreInputSchema.safeParse(item.restoreInput);
      return parsed.success ? [] : [`${item.database}: ${parsed.error.message}`];
    });
    expect(problems).toEqual([]);
  });

  it('asks every restore to overwrite, confirmed with its own database name, when confirm equals the plan name', () => {
    // Prepare
    const confirmed = { plan: 'region-loss', overwrite: true, confirm: 'region-loss' };

    // Act
    const [yes, no] = [confirmed, { plan: 'region-loss' }].map((input) => startDrPlan(input, execution, plan));

    // Assess
    expect(yes.groups.flat().map((i) => [i.database, i.restoreInput.overwrite, i.restoreInput.confirm])).toEqual([
      ['users', true, 'users'],
      ['orders', true, 'orders'],
      ['billing', true, 'billing'],
      ['sessions', true, 'sessions'],
    ]);
    for (const item of no.groups.flat()) {
      expect(item.restoreInput).not.toHaveProperty('overwrite');
      expect(item.restoreInput).not.toHaveProperty('confirm');
    }
    expect(yes.groups[0][0].restoreInput.requestedBy).toBe('DR plan region-loss (dr-1)');
  });

  it("keeps a long requestedBy within the restore input's 200 characters", () => {
    // Prepare
    const input = { plan: 'region-loss', requestedBy: 'r'.repeat(200) };

    // Act
    const state = startDrPlan(input, execution, plan);

    // Assess
    const requestedBy = String(state.groups[0][0].restoreInput.requestedBy);
    expect(requestedBy).toHaveLength(200);
    expect(requestedBy.startsWith('DR plan region-loss (dr-1): rrr')).toBe(true);
    expect(RestoreInputSchema.safeParse(state.groups[0][0].restoreInput).success).toBe(true);
  });

  it('rejects an unknown plan, listing the plans in the config', () => {
    // Prepare
    const input = { plan: 'regoin-loss' };

    // Act
    const error = thrown(() => startDrPlan(input, execution, plan));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toBe(
      'Invalid DR plan input:\nplan: found "regoin-loss"; expected one of the drPlans in the config: region-loss, az-loss',
    );
  });

  it.each([
    [
      'a config without drPlans',
      { plan: 'region-loss' },
      planOf(),
      'plan: found "region-loss"; expected one of the drPlans in the config: (none configured)',
    ],
    ['no plan', {}, plan, 'plan: found nothing; expected the name of a plan in drPlans, such as "region-loss"'],
    ['overwrite as a string', { plan: 'region-loss', overwrite: 'yes' }, plan, 'overwrite: found "yes"; expected true or false'],
    ['a misspelt field', { plan: 'region-loss', overwite: true }, plan, 'unknown field "overwite"; remove it'],
    [
      'a confirm naming a database',
      { plan: 'region-loss', overwrite: true, confirm: 'orders' },
      plan,
      'confirm: found "orders"; expected the plan name "region-loss" alongside "overwrite": true (a DR plan\'s confirm is the plan\'s name, not a database\'s)',
    ],
    [
      'overwrite without confirm',
      { plan: 'region-loss', overwrite: true },
      plan,
      'confirm: found nothing; expected the plan name "region-loss" alongside "overwrite": true (a DR plan\'s confirm is the plan\'s name, not a database\'s)',
    ],
    [
      'confirm without overwrite',
      { plan: 'region-loss', confirm: 'region-loss' },
      plan,
      'confirm: found "region-loss"; expected "overwrite": true alongside "confirm"; confirm alone allows nothing',
    ],
    ['null', null, plan, '(input): found null; expected a JSON object such as {"plan": "region-loss"}'],
  ])('rejects %s with a readable error', (_what, input, config, line) => {
    // Prepare
    const start = () => startDrPlan(input, execution, config);

    // Act
    const error = thrown(start);

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toBe(`Invalid DR plan input:\n${line}`);
  });

  it('moves to the next group after a group restored, and succeeds after the last', () => {
    // Prepare
    const start = startDrPlan({ plan: 'region-loss' }, execution, plan);

    // Act
    const second = advanceDrPlan(start, [restored('users', 0)]);
    const third = advanceDrPlan(second, [restored('billing', 1), restored('orders', 1)]);
    const done = advanceDrPlan(third, [restored('sessions', 2)]);

    // Assess
    expect(second).toMatchObject({ status: 'running', next: 2, current: start.groups[1], results: [restored('users', 0)] });
    expect(third).toMatchObject({ status: 'running', next: 3, current: start.groups[2] });
    expect(done).toEqual({
      ...start,
      next: 3,
      current: [],
      status: 'succeeded',
      results: [restored('users', 0), restored('billing', 1), restored('orders', 1), restored('sessions', 2)],
    });
  });

  it('stops at the first group with a failed restore, keeping every result of that group', () => {
    // Prepare
    const start = startDrPlan({ plan: 'region-loss' }, execution, plan);
    const second = advanceDrPlan(start, [restored('users', 0)]);
    const billingFailed: DrItemResult = { database: 'billing', group: 1, status: 'failed', error: 'States.TaskFailed', cause: REFUSED };

    // Act
    const stopped = advanceDrPlan(second, [restored('orders', 1), billingFailed]);

    // Assess
    expect(stopped).toEqual({
      ...second,
      current: [],
      status: 'failed',
      results: [restored('users', 0), restored('orders', 1), billingFailed],
    });
  });

  it('reports a plan that restored everything', () => {
    // Prepare
    let state = startDrPlan({ plan: 'region-loss' }, execution, plan);
    state = advanceDrPlan(state, [restored('users', 0)]);
    state = advanceDrPlan(state, [restored('orders', 1), restored('billing', 1)]);
    state = advanceDrPlan(state, [restored('sessions', 2)]);

    // Act
    const report = reportDrPlan(state);

    // Assess
    expect(report).toEqual({
      plan: 'region-loss',
      status: 'succeeded',
      restored: ['users', 'orders', 'billing', 'sessions'],
      failed: [],
      notRestored: [],
      summary: 'DR plan region-loss succeeded: restored users, orders, billing, sessions in 3 group(s).',
    });
  });

  it("reports a stopped plan with the nested restore's own message and the databases never restored", () => {
    // Prepare
    const message =
      'The restored target differs from the manifest of billing-20260301T030000Z-full (exact counts):\nbilling.items: expected 7, found 6';
    let state = startDrPlan({ plan: 'region-loss' }, execution, plan);
    state = advanceDrPlan(state, [restored('users', 0)]);
    state = advanceDrPlan(state, [
      restored('orders', 1),
      {
        database: 'billing',
        group: 1,
        status: 'failed',
        executionArn: restoreArn('billing'),
        error: 'States.TaskFailed',
        cause: describeExecutionCause('billing', 'RestoreMismatchError', message),
      },
    ]);

    // Act
    const report = reportDrPlan(state);

    // Assess
    expect(report).toEqual({
      plan: 'region-loss',
      status: 'failed',
      restored: ['users', 'orders'],
      failed: [{ database: 'billing', error: 'RestoreMismatchError', cause: message }],
      notRestored: ['billing', 'sessions'],
      summary: `DR plan region-loss stopped at group 2 of 3: billing failed (RestoreMismatchError: ${message}). Restored: users, orders. Not restored: billing, sessions.`,
    });
  });

  it.each([
    ['a lower-case cause field', describeExecutionCause('users', 'RestoreRefusedError', REFUSED, 'cause'), REFUSED, 'RestoreRefusedError'],
    ['a cause that is not JSON', REFUSED, REFUSED, 'States.TaskFailed'],
    ['a DescribeExecution cause that is plain text', JSON.stringify({ Status: 'FAILED', Cause: REFUSED }), REFUSED, 'States.TaskFailed'],
    [
      'a DescribeExecution of a restore whose cause is already readable',
      JSON.stringify({ Status: 'FAILED', Error: 'RestoreRefusedError', Cause: REFUSED }),
      REFUSED,
      'RestoreRefusedError',
    ],
    [
      'an errorMessage over 1000 characters',
      describeExecutionCause('users', 'RestoreRefusedError', 'x'.repeat(1200)),
      'x'.repeat(1000),
      'RestoreRefusedError',
    ],
  ])('keeps only the message from %s', (_what, cause, brief, error) => {
    // Prepare
    const state = advanceDrPlan(startDrPlan({ plan: 'region-loss' }, execution, plan), [
      { database: 'users', group: 0, status: 'failed', error: 'States.TaskFailed', cause },
    ]);

    // Act
    const report = reportDrPlan(state);

    // Assess
    expect(report.failed).toEqual([{ database: 'users', error, cause: brief }]);
    expect(report.summary).toBe(
      `DR plan region-loss stopped at group 1 of 3: users failed (${error}: ${brief}). Restored: none. Not restored: users, orders, billing, sessions.`,
    );
  });

  it('runs behind the middy handler: start from the baked plan, then report to chat', async () => {
    // Prepare
    process.env.STRONGBOX_PLAN = JSON.stringify(plan);
    process.env.STRONGBOX_CHAT_TOPIC_ARN = CHAT;
    const { handler } = await import('../../../lambdas/dr-plan/handler');
    const context = { functionName: 'dr-plan', awsRequestId: '1' } as unknown as Parameters<typeof handler>[1];

    // Act
    const state = (await handler({ action: 'start', input: { plan: 'az-loss' }, execution }, context)) as DrState;
    const finished = (await handler({ action: 'advance', state, groupResults: [restored('orders', 0)] }, context)) as DrState;
    const report = await handler({ action: 'report', state: finished }, context);

    // Assess
    expect(state.groups.flat().map((i) => i.database)).toEqual(['orders']);
    expect(finished.status).toBe('succeeded');
    expect(report).toMatchObject({ status: 'succeeded', summary: 'DR plan az-loss succeeded: restored orders in 1 group(s).' });
    const calls = sns.commandCalls(PublishCommand).map((call) => call.args[0].input);
    expect(calls).toEqual([{ TopicArn: CHAT, Subject: 'Strongbox DR plan succeeded: az-loss', Message: expect.any(String) }]);
    expect(JSON.parse(String(calls[0].Message))).toEqual({
      version: '1.0',
      source: 'custom',
      content: { title: 'DR plan az-loss succeeded', description: 'DR plan az-loss succeeded: restored orders in 1 group(s).' },
    });
  });
});
