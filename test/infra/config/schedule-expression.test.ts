import { describe, expect, it } from 'vitest';
import { longestGapSeconds, parseScheduleExpression, ScheduleExpressionError } from '../../../infra/config/schedule-expression';

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;

describe('parseScheduleExpression', () => {
  it.each([
    ['rate(1 minute)', 60],
    ['rate(15 minutes)', 15 * MINUTE],
    ['rate(1 hour)', HOUR],
    ['rate(3 days)', 3 * DAY],
  ])('reads %s as a rate of %i seconds', (expression, seconds) => {
    // Prepare
    const text = expression;

    // Act
    const parsed = parseScheduleExpression(text);

    // Assess
    expect(parsed).toEqual({ type: 'rate', seconds });
  });

  it('expands cron lists, ranges, steps and names', () => {
    // Prepare
    const text = 'cron(0/20 8-10,22 ? JAN-MAR MON-FRI 2026-2027)';

    // Act
    const parsed = parseScheduleExpression(text);

    // Assess
    expect(parsed.type).toBe('cron');
    if (parsed.type !== 'cron') {
      return;
    }
    expect([...parsed.minutes]).toEqual([0, 20, 40]);
    expect([...parsed.hours]).toEqual([8, 9, 10, 22]);
    expect([...parsed.months]).toEqual([1, 2, 3]);
    expect(parsed.dayOfWeek).toEqual({ kind: 'set', days: new Set([2, 3, 4, 5, 6]) });
    expect(parsed.years).toEqual({ kind: 'set', years: new Set([2026, 2027]) });
  });

  it.each([
    ['rate(1 minutes)', 'must use the singular unit'],
    ['rate(5 minute)', 'must use the plural unit'],
    ['rate(0 hours)', 'positive whole number'],
    ['rate(2 weeks)', 'rate unit "weeks" is not one of minute(s), hour(s), day(s)'],
    ['every 5 minutes', 'expected cron('],
    ['cron(0 3 * * ?)', 'cron needs 6 fields'],
    ['cron(0 3 * * * *)', 'exactly one of day-of-month and day-of-week must be "?"'],
    ['cron(60 3 * * ? *)', 'minutes value "60" is outside 0-59'],
    ['cron(0 24 * * ? *)', 'hours value "24" is outside 0-23'],
    ['cron(0 3 ? FOO MON *)', 'month value "FOO" is outside 1-12'],
    ['cron(0 3 ? * MON/0 *)', 'step "0" must be a positive whole number'],
    ['cron(0 10-3 * * ? *)', 'hours range "10-3" runs backwards'],
    ['cron(0 3 32W * ? *)', 'day-of-month "32W" is outside 1-31'],
  ])('rejects %s', (expression, message) => {
    // Prepare
    const parse = () => parseScheduleExpression(expression);

    // Act
    let error: unknown;
    try {
      parse();
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(ScheduleExpressionError);
    expect((error as Error).message).toContain(message);
  });
});

describe('longestGapSeconds', () => {
  it.each([
    ['rate(15 minutes)', 15 * MINUTE],
    ['cron(0/15 * * * ? *)', 15 * MINUTE],
    ['cron(0 * * * ? *)', HOUR],
    ['cron(0 3 * * ? *)', DAY],
    // 02:00 and 14:00: both gaps are 12 hours.
    ['cron(0 2,14 * * ? *)', 12 * HOUR],
    // 01:00 and 03:00: the long gap runs overnight, 22 hours.
    ['cron(0 1,3 * * ? *)', 22 * HOUR],
    // Weekdays only: Friday 09:00 to Monday 09:00.
    ['cron(0 9 ? * MON-FRI *)', 3 * DAY],
    ['cron(30 4 ? * SUN *)', 7 * DAY],
    // The 1st of each month: the longest month has 31 days.
    ['cron(0 0 1 * ? *)', 31 * DAY],
    // The last day of each month: Jan 31 to Mar 31 is never adjacent; longest is 31 days (e.g. Jul 31 -> Aug 31).
    ['cron(0 0 L * ? *)', 31 * DAY],
    // The first Monday of each month: five weeks at most.
    ['cron(0 0 ? * MON#1 *)', 35 * DAY],
    // February 29th only: one run in the four-year horizon, so no finite gap (any RPO check then fails).
    ['cron(0 0 29 FEB ? *)', Number.POSITIVE_INFINITY],
  ])('measures %s as %i seconds', (expression, seconds) => {
    // Prepare
    const parsed = parseScheduleExpression(expression);

    // Act
    const gap = longestGapSeconds(parsed);

    // Assess
    expect(gap).toBe(seconds);
  });

  it('returns Infinity for an expression that fires at most once', () => {
    // Prepare
    const parsed = parseScheduleExpression('cron(0 0 1 JAN ? 2026)');

    // Act
    const gap = longestGapSeconds(parsed);

    // Assess
    expect(gap).toBe(Number.POSITIVE_INFINITY);
  });
});
