import { ZoneClock } from '../../../contracts/local-time';
import type { DatabasePlan } from '../../../contracts/plan';

const WEEKDAYS = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const;
type Blackout = DatabasePlan['blackouts'][number];

function minutesOf(clock: string): number {
  const [h, m] = clock.split(':').map(Number);
  return h * 60 + m;
}

/**
 * The blackout window that `at` falls in, read in the database's time zone, or undefined.
 *
 * A window is [start, end): a run at exactly `end` may start. A window whose end is not after its start wraps
 * midnight, and its `days` name the day on which it STARTS: `{start: "23:00", end: "01:00", days: [SUN]}`
 * covers Sunday 23:00 to Monday 01:00. Without `days` a window applies every day.
 */
export function activeBlackout(blackouts: readonly Blackout[], timeZone: string, at: Date): Blackout | undefined {
  if (blackouts.length === 0) {
    return undefined;
  }
  const local = new ZoneClock(timeZone).parts(at.getTime());
  const minute = local.hour * 60 + local.minute;
  const today = WEEKDAYS[local.weekday - 1];
  const yesterday = WEEKDAYS[(local.weekday + 5) % 7];
  const appliesOn = (window: Blackout, day: (typeof WEEKDAYS)[number]) => window.days === undefined || window.days.includes(day);
  return blackouts.find((window) => {
    const start = minutesOf(window.start);
    const end = minutesOf(window.end);
    if (start < end) {
      return appliesOn(window, today) && minute >= start && minute < end;
    }
    return (appliesOn(window, today) && minute >= start) || (appliesOn(window, yesterday) && minute < end);
  });
}
