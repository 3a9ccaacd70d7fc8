import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { InputValidationError } from '../../../contracts/errors';
import type { DrItemResult, DrState } from '../../../contracts/payloads/dr-plan';
import { RestoreInputSchema } from '../../../contracts/payloads/restore';
import type { Plan } from '../../../contracts/plan';
import { advanceDrPlan, publishDrReport, publishRehearsalMetrics, reportDrPlan, startDrPlan } from '../../../lambdas/dr-plan/dr-plan';
import { metricsRecorder, planOf, SECRET } from '../fixtures';
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

// One SNS mock for the file: every report publishes, and no test needs a different answer.
const sns = mockClient(SNSClient);

beforeEach(() => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: '1' });
});

afterAll(() => {
  sns.restore();
});

describe('DR plan bookkeeping', () => {
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

describe('DR plan rehearsal bookkeeping', () => {
  const timed: Plan = { ...plan, drPlans: { ...plan.drPlans, 'region-loss': { ...plan.drPlans!['region-loss'], rtoSeconds: 600 } } };
  const at = (seconds: number) => new Date(Date.parse(execution.startTime) + seconds * 1000);
  const drilled = (database: string, group: number, from: number, to: number): DrItemResult => ({
    ...restored(database, group),
    startDate: at(from).getTime(),
    stopDate: at(to).getTime(),
    backupId: `${database}-20260310T030000Z-full`,
    restoreSeconds: to - from - 1,
  });
  /** A rehearsal of region-loss whose groups end at the given seconds after the start. */
  function rehearsed(groupEnds: readonly number[]) {
    let state = startDrPlan({ plan: 'region-loss', rehearsal: true }, execution, timed);
    state = advanceDrPlan(state, [drilled('users', 0, 1, 40)], at(groupEnds[0]));
    state = advanceDrPlan(
      state,
      [drilled('orders', 1, groupEnds[0] + 1, groupEnds[1] - 5), drilled('billing', 1, groupEnds[0] + 1, groupEnds[1] - 1)],
      at(groupEnds[1]),
    );
    return advanceDrPlan(state, [drilled('sessions', 2, groupEnds[1] + 1, groupEnds[2] - 1)], at(groupEnds[2]));
  }

  it('starts a rehearsal with a drill input per database and the restore input a real run would start', () => {
    // Prepare
    const input = { plan: 'region-loss', rehearsal: true };

    // Act
    const state = startDrPlan(input, execution, timed);

    // Assess
    expect(state.rehearsal).toBe(true);
    expect(state.groupEnds).toEqual([]);
    expect(state.groups.map((g) => g.map((i) => i.drillInput))).toEqual([
      [{ database: 'users', trigger: 'manual' }],
      [
        { database: 'orders', trigger: 'manual' },
        { database: 'billing', trigger: 'manual' },
      ],
      [{ database: 'sessions', trigger: 'manual' }],
    ]);
    expect(
      startDrPlan({ plan: 'region-loss' }, execution, timed)
        .groups.flat()
        .map((i) => i.drillInput),
    ).toEqual([undefined, undefined, undefined, undefined]);
  });

  it.each([
    [
      'an overwrite',
      { plan: 'region-loss', rehearsal: true, overwrite: true, confirm: 'region-loss' },
      'overwrite: found true; expected no "overwrite" or "confirm" with "rehearsal": true; a rehearsal restores into throwaway engines and touches no target',
    ],
    ['rehearsal as a string', { plan: 'region-loss', rehearsal: 'yes' }, 'rehearsal: found "yes"; expected true or false'],
  ])('rejects a rehearsal with %s', (_what, input, line) => {
    // Act
    const error = thrown(() => startDrPlan(input, execution, timed));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toBe(`Invalid DR plan input:\n${line}`);
  });

  it('reports each group and the plan RTO from the start to the last group, met within drPlans[].rto', () => {
    // Prepare
    const state = rehearsed([45, 130, 200]);

    // Act
    const report = reportDrPlan(state, timed);

    // Assess
    expect(state.groupEnds).toEqual([at(45), at(130), at(200)].map((d) => d.toISOString()));
    expect(report).toMatchObject({
      status: 'succeeded',
      rehearsal: true,
      restored: ['users', 'orders', 'billing', 'sessions'],
      failed: [],
    });
    expect(report.rto).toEqual({ measuredSeconds: 200, targetSeconds: 600, met: true });
    expect(report.groups).toEqual([
      {
        group: 1,
        status: 'passed',
        seconds: 45,
        databases: [{ database: 'users', status: 'passed', seconds: 39, backupId: 'users-20260310T030000Z-full', restoreSeconds: 38 }],
      },
      {
        group: 2,
        status: 'passed',
        seconds: 85,
        databases: [
          { database: 'orders', status: 'passed', seconds: 79, backupId: 'orders-20260310T030000Z-full', restoreSeconds: 78 },
          { database: 'billing', status: 'passed', seconds: 83, backupId: 'billing-20260310T030000Z-full', restoreSeconds: 82 },
        ],
      },
      {
        group: 3,
        status: 'passed',
        seconds: 70,
        databases: [
          { database: 'sessions', status: 'passed', seconds: 68, backupId: 'sessions-20260310T030000Z-full', restoreSeconds: 67 },
        ],
      },
    ]);
    expect(report.summary).toBe(
      'DR plan rehearsal region-loss passed: took 200 s against the plan RTO of 600 s: met. group 1 passed in 45 s (users passed 39 s); group 2 passed in 85 s (orders passed 79 s, billing passed 83 s); group 3 passed in 70 s (sessions passed 68 s). No target was touched.',
    );
  });

  it('flags a rehearsal that restored everything but took longer than the plan RTO, and alarms on it', async () => {
    // Prepare
    const report = reportDrPlan(rehearsed([300, 500, 700]), timed);
    const { metrics, recorded } = metricsRecorder();

    // Act
    publishRehearsalMetrics(report, metrics);
    await publishDrReport(report, new SNSClient({}), CHAT);

    // Assess
    expect(report.status).toBe('succeeded');
    expect(report.rto).toEqual({ measuredSeconds: 700, targetSeconds: 600, met: false });
    expect(report.summary).toMatch(/^DR plan rehearsal region-loss FAILED: took 700 s against the plan RTO of 600 s: BREACHED\. group 1/);
    expect(recorded).toEqual([
      { dimensions: { Plan: 'region-loss' }, defaultsCleared: true, name: 'DrPlanRehearsalFailed', unit: 'Count', value: 1 },
      { dimensions: { Plan: 'region-loss' }, defaultsCleared: true, name: 'DrPlanRtoBreached', unit: 'Count', value: 1 },
      { dimensions: { Plan: 'region-loss' }, defaultsCleared: true, name: 'DrPlanRehearsalSeconds', unit: 'Seconds', value: 700 },
    ]);
    expect(sns.commandCalls(PublishCommand).map((c) => c.args[0].input.Subject)).toEqual([
      'Strongbox DR plan rehearsal FAILED: region-loss',
    ]);
  });

  it('publishes 0 for a rehearsal within its RTO, and nothing for a real run', () => {
    // Prepare
    const passed = reportDrPlan(rehearsed([45, 130, 200]), timed);
    let real = startDrPlan({ plan: 'region-loss' }, execution, timed);
    real = advanceDrPlan(real, [restored('users', 0)]);
    const realReport = reportDrPlan(real, timed);
    const { metrics, recorded } = metricsRecorder();

    // Act
    publishRehearsalMetrics(passed, metrics);
    publishRehearsalMetrics(realReport, metrics);

    // Assess
    expect(recorded.map((m) => [m.name, m.value])).toEqual([
      ['DrPlanRehearsalFailed', 0],
      ['DrPlanRtoBreached', 0],
      ['DrPlanRehearsalSeconds', 200],
    ]);
    expect(realReport).not.toHaveProperty('rehearsal');
    expect(realReport).not.toHaveProperty('rto');
    expect(real).not.toHaveProperty('groupEnds');
  });

  it('stops at the group whose drill failed, timing the failed drill from its DescribeExecution cause, later groups not run', () => {
    // Prepare
    let state = startDrPlan({ plan: 'region-loss', rehearsal: true }, execution, timed);
    state = advanceDrPlan(state, [drilled('users', 0, 1, 40)], at(45));
    const cause = JSON.stringify({
      Status: 'FAILED',
      StartDate: at(46).getTime(),
      StopDate: at(52).getTime(),
      Error: 'NothingToDrillError',
      Cause: '"billing" has no verified backup to drill; the newest backups failed or are not verified yet',
    });

    // Act
    state = advanceDrPlan(
      state,
      [drilled('orders', 1, 46, 90), { database: 'billing', group: 1, status: 'failed', error: 'States.TaskFailed', cause }],
      at(91),
    );
    const report = reportDrPlan(state, timed);

    // Assess
    expect(state.status).toBe('failed');
    expect(report).toMatchObject({ status: 'failed', restored: ['users', 'orders'], notRestored: ['billing', 'sessions'] });
    expect(report.failed).toEqual([
      {
        database: 'billing',
        error: 'NothingToDrillError',
        cause: '"billing" has no verified backup to drill; the newest backups failed or are not verified yet',
      },
    ]);
    expect(report.groups?.map((g) => [g.status, g.seconds, g.databases.map((d) => [d.database, d.status, d.seconds])])).toEqual([
      ['passed', 45, [['users', 'passed', 39]]],
      [
        'failed',
        46,
        [
          ['orders', 'passed', 44],
          ['billing', 'failed', 6],
        ],
      ],
      ['not run', undefined, [['sessions', 'not run', undefined]]],
    ]);
    expect(report.rto).toEqual({ measuredSeconds: 91, targetSeconds: 600, met: false });
    expect(report.summary).toMatch(
      /^DR plan rehearsal region-loss FAILED: stopped at group 2 of 3 after 91 s, so the plan RTO of 600 s was not shown\. /,
    );
  });

  it('reports the measured RTO without a verdict against a target when the plan sets no rto', () => {
    // Prepare
    let state = startDrPlan({ plan: 'az-loss', rehearsal: true }, execution, plan);
    state = advanceDrPlan(state, [drilled('orders', 0, 1, 20)], at(25));

    // Act
    const report = reportDrPlan(state, plan);

    // Assess
    expect(report.rto).toEqual({ measuredSeconds: 25, met: true });
    expect(report.summary).toMatch(/^DR plan rehearsal az-loss passed: took 25 s against no plan RTO \(drPlans\[\]\.rto is not set\)\. /);
  });
});
