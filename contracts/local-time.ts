/**
 * Wall-clock arithmetic in an IANA time zone with nothing but Intl, shared by Prepare (blackout windows) and
 * Retain (GFS periods). Offsets are cached per UTC day, because retention maps hundreds of thousands of
 * instants and Intl formatting is the expensive part; a day whose two ends disagree (a DST change) falls back
 * to the exact per-instant lookup.
 */

const DAY_MS = 86_400_000;

export interface LocalParts {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  /** ISO weekday: 1 = Monday ... 7 = Sunday. */
  readonly weekday: number;
}

export class ZoneClock {
  private readonly format: Intl.DateTimeFormat;
  private readonly dayOffsets = new Map<number, number | null>();

  public constructor(public readonly timeZone: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** Local time minus UTC, in milliseconds, at the instant `utcMs`. */
  public offset(utcMs: number): number {
    const day = Math.floor(utcMs / DAY_MS);
    let cached = this.dayOffsets.get(day);
    if (cached === undefined) {
      const start = this.exactOffset(day * DAY_MS);
      const end = this.exactOffset(day * DAY_MS + DAY_MS - 1000);
      cached = start === end ? start : null;
      this.dayOffsets.set(day, cached);
    }
    return cached ?? this.exactOffset(utcMs);
  }

  /** The local wall-clock time encoded as if it were UTC: read its fields with getUTC*. */
  public localMs(utcMs: number): number {
    return utcMs + this.offset(utcMs);
  }

  public parts(utcMs: number): LocalParts {
    const local = new Date(this.localMs(utcMs));
    return {
      year: local.getUTCFullYear(),
      month: local.getUTCMonth() + 1,
      day: local.getUTCDate(),
      hour: local.getUTCHours(),
      minute: local.getUTCMinutes(),
      weekday: ((local.getUTCDay() + 6) % 7) + 1,
    };
  }

  /**
   * The UTC instant of a local wall-clock time (given as local-as-UTC milliseconds). A time skipped by a DST
   * change resolves to the instant just after the gap; a repeated one to its first occurrence.
   */
  public utcOf(localMs: number): number {
    const first = localMs - this.offset(localMs);
    const second = localMs - this.offset(first);
    return this.offset(second) === localMs - second ? second : Math.max(first, second);
  }

  private exactOffset(utcMs: number): number {
    const whole = Math.floor(utcMs / 1000) * 1000;
    const values: Record<string, number> = {};
    for (const part of this.format.formatToParts(new Date(whole))) {
      if (part.type !== 'literal') {
        values[part.type] = Number(part.value);
      }
    }
    const asUtc = Date.UTC(values.year, values.month - 1, values.day, values.hour, values.minute, values.second);
    return asUtc - whole;
  }
}

/** ISO-8601 week of a local calendar date: the week belongs to the year that holds its Thursday. */
export function isoWeek(year: number, month: number, day: number): { isoYear: number; week: number } {
  const date = Date.UTC(year, month - 1, day);
  const weekdayIndex = (new Date(date).getUTCDay() + 6) % 7;
  const thursday = date + (3 - weekdayIndex) * DAY_MS;
  const isoYear = new Date(thursday).getUTCFullYear();
  return { isoYear, week: 1 + Math.floor((thursday - Date.UTC(isoYear, 0, 1)) / (7 * DAY_MS)) };
}
