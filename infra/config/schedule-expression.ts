/**
 * Parsing and gap analysis for EventBridge Scheduler expressions.
 *
 * Config validation needs two answers that the Scheduler API only gives at deploy time (too late):
 * is the expression well formed, and what is the longest time between two runs. The second answer is
 * what lets synth refuse a schedule that cannot meet the database's RPO.
 *
 * Supported grammar (the recurring subset of Scheduler):
 *   rate(<n> minute|minutes|hour|hours|day|days)
 *   cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)
 * with `*`, `?`, lists, ranges, steps, month names (JAN-DEC), day names (SUN-SAT, 1 = SUN), and
 * `L`, `W`, `#` in the day fields. The gap of an expression that uses `L`, `W` or `#` is computed with
 * those days resolved per month, so the figure stays exact.
 */

export class ScheduleExpressionError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'ScheduleExpressionError';
  }
}

export interface RateExpression {
  readonly type: 'rate';
  readonly seconds: number;
}

export interface CronExpression {
  readonly type: 'cron';
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly dayOfMonth: DayOfMonthField;
  readonly months: ReadonlySet<number>;
  readonly dayOfWeek: DayOfWeekField;
  readonly years: YearField;
}

export type ScheduleExpression = RateExpression | CronExpression;

type DayOfMonthField =
  | { readonly kind: 'any' }
  | { readonly kind: 'set'; readonly days: ReadonlySet<number>; readonly last: boolean; readonly nearestWeekday?: number };
type DayOfWeekField =
  | { readonly kind: 'any' }
  | { readonly kind: 'set'; readonly days: ReadonlySet<number> }
  | { readonly kind: 'nth'; readonly day: number; readonly nth: number }
  | { readonly kind: 'last'; readonly day: number };
type YearField = { readonly kind: 'any' } | { readonly kind: 'set'; readonly years: ReadonlySet<number> };

const RATE_UNITS: Record<string, number> = {
  minute: 60,
  minutes: 60,
  hour: 3600,
  hours: 3600,
  day: 86400,
  days: 86400,
};

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

export function parseScheduleExpression(expression: string): ScheduleExpression {
  const rate = /^rate\((\d+)\s+([a-z]+)\)$/.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2];
    const unitSeconds = RATE_UNITS[unit];
    if (unitSeconds === undefined) {
      throw new ScheduleExpressionError(`rate unit "${unit}" is not one of minute(s), hour(s), day(s)`);
    }
    if (value < 1) {
      throw new ScheduleExpressionError('rate value must be a positive whole number');
    }
    if ((value === 1) !== !unit.endsWith('s')) {
      throw new ScheduleExpressionError(`rate(${value} ${unit}) must use the ${value === 1 ? 'singular' : 'plural'} unit`);
    }
    return { type: 'rate', seconds: value * unitSeconds };
  }
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (!cron) {
    throw new ScheduleExpressionError('expected cron(<min> <hour> <day-of-month> <month> <day-of-week> <year>) or rate(<n> <unit>)');
  }
  const fields = cron[1].trim().split(/\s+/);
  if (fields.length !== 6) {
    throw new ScheduleExpressionError(`cron needs 6 fields (minutes hours day-of-month month day-of-week year), found ${fields.length}`);
  }
  const [min, hour, dom, month, dow, year] = fields;
  if ((dom === '?') === (dow === '?')) {
    throw new ScheduleExpressionError('exactly one of day-of-month and day-of-week must be "?"');
  }
  return {
    type: 'cron',
    minutes: parseNumericField(min, 'minutes', 0, 59),
    hours: parseNumericField(hour, 'hours', 0, 23),
    dayOfMonth: parseDayOfMonth(dom),
    months: parseNumericField(month, 'month', 1, 12, MONTH_NAMES, 1),
    dayOfWeek: parseDayOfWeek(dow),
    years: year === '*' ? { kind: 'any' } : { kind: 'set', years: parseNumericField(year, 'year', 1970, 2199) },
  };
}

function parseNumericField(text: string, field: string, min: number, max: number, names?: readonly string[], nameBase = 0): Set<number> {
  const values = new Set<number>();
  const toNumber = (token: string): number => {
    const named = names?.indexOf(token.toUpperCase()) ?? -1;
    const value = named >= 0 ? named + nameBase : /^\d+$/.test(token) ? Number(token) : Number.NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ScheduleExpressionError(`${field} value "${token}" is outside ${min}-${max}`);
    }
    return value;
  };
  for (const part of text.split(',')) {
    const [rangeText, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) {
      throw new ScheduleExpressionError(`${field} step "${stepText}" must be a positive whole number`);
    }
    let from: number;
    let to: number;
    if (rangeText === '*' || rangeText === '?') {
      from = min;
      to = max;
    } else if (rangeText.includes('-')) {
      const [a, b] = rangeText.split('-');
      from = toNumber(a);
      to = toNumber(b);
      if (from > to) {
        throw new ScheduleExpressionError(`${field} range "${rangeText}" runs backwards`);
      }
    } else {
      from = toNumber(rangeText);
      to = stepText === undefined ? from : max;
    }
    for (let v = from; v <= to; v += step) {
      values.add(v);
    }
  }
  return values;
}

function parseDayOfMonth(text: string): DayOfMonthField {
  if (text === '?' || text === '*') {
    return { kind: 'any' };
  }
  if (text === 'L') {
    return { kind: 'set', days: new Set(), last: true };
  }
  const weekday = /^(\d{1,2})W$/.exec(text);
  if (weekday) {
    const day = Number(weekday[1]);
    if (day < 1 || day > 31) {
      throw new ScheduleExpressionError(`day-of-month "${text}" is outside 1-31`);
    }
    return { kind: 'set', days: new Set(), last: false, nearestWeekday: day };
  }
  return { kind: 'set', days: parseNumericField(text, 'day-of-month', 1, 31), last: false };
}

function parseDayOfWeek(text: string): DayOfWeekField {
  if (text === '?' || text === '*') {
    return { kind: 'any' };
  }
  const nth = /^([A-Za-z]{3}|\d)#([1-5])$/.exec(text);
  if (nth) {
    return { kind: 'nth', day: [...parseNumericField(nth[1], 'day-of-week', 1, 7, DAY_NAMES, 1)][0], nth: Number(nth[2]) };
  }
  const last = /^([A-Za-z]{3}|\d)L$/.exec(text);
  if (last) {
    return { kind: 'last', day: [...parseNumericField(last[1], 'day-of-week', 1, 7, DAY_NAMES, 1)][0] };
  }
  return { kind: 'set', days: parseNumericField(text, 'day-of-week', 1, 7, DAY_NAMES, 1) };
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function dayMatches(expr: CronExpression, year: number, month: number, day: number): boolean {
  if (expr.years.kind === 'set' && !expr.years.years.has(year)) {
    return false;
  }
  if (!expr.months.has(month)) {
    return false;
  }
  const dom = expr.dayOfMonth;
  const length = daysInMonth(year, month);
  if (dom.kind === 'set') {
    if (dom.last) {
      return day === length;
    }
    if (dom.nearestWeekday !== undefined) {
      return day === nearestWeekday(year, month, Math.min(dom.nearestWeekday, length));
    }
    return dom.days.has(day);
  }
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;
  const dow = expr.dayOfWeek;
  switch (dow.kind) {
    case 'any':
      return true;
    case 'set':
      return dow.days.has(weekday);
    case 'nth':
      return weekday === dow.day && Math.ceil(day / 7) === dow.nth;
    case 'last':
      return weekday === dow.day && day + 7 > length;
  }
}

function nearestWeekday(year: number, month: number, day: number): number {
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  const length = daysInMonth(year, month);
  if (weekday === 6) {
    return day === 1 ? 3 : day - 1;
  }
  if (weekday === 0) {
    return day === length ? day - 2 : day + 1;
  }
  return day;
}

/**
 * The longest interval, in seconds, between two consecutive runs, over a horizon long enough to see
 * every pattern the grammar can express (leap years included). Wall-clock time is used: a DST shift
 * can stretch one interval by an hour, which the RPO check absorbs through its flexible-window margin.
 *
 * Returns `Infinity` when the expression fires fewer than twice in the horizon.
 */
export function longestGapSeconds(expression: ScheduleExpression, from = new Date(Date.UTC(2026, 0, 1))): number {
  if (expression.type === 'rate') {
    return expression.seconds;
  }
  const minutesOfDay: number[] = [];
  for (const h of [...expression.hours].sort((a, b) => a - b)) {
    for (const m of [...expression.minutes].sort((a, b) => a - b)) {
      minutesOfDay.push(h * 60 + m);
    }
  }
  const horizonDays = 366 * 4 + 1;
  let previous: number | undefined;
  let longest = 0;
  let runs = 0;
  const startDay = Math.floor(from.getTime() / 86_400_000);
  for (let offset = 0; offset < horizonDays; offset++) {
    const date = new Date((startDay + offset) * 86_400_000);
    if (!dayMatches(expression, date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate())) {
      continue;
    }
    for (const minute of minutesOfDay) {
      const at = (startDay + offset) * 1440 + minute;
      if (previous !== undefined) {
        longest = Math.max(longest, at - previous);
      }
      previous = at;
      runs++;
    }
  }
  return runs < 2 ? Number.POSITIVE_INFINITY : longest * 60;
}
