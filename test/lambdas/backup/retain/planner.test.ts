import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compactTimestamp } from '../../../../contracts/vault';
import { type BackupStatus, type HistoryEntry, planRetention, type RetentionPolicy } from '../../../../lambdas/backup/retain/planner';

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'America/Sao_Paulo', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Pacific/Chatham'];
const DAY = 86_400_000;

/** Reference labels straight from Intl (no offset cache), and ISO weeks by the textbook rule. */
function labels(timeZone: string, at: number): Record<'daily' | 'weekly' | 'monthly' | 'yearly', string> {
  const date = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(at));
  const [y, m, d] = date.split('-').map(Number);
  const utc = new Date(Date.UTC(y, m - 1, d));
  const dow = (utc.getUTCDay() + 6) % 7;
  utc.setUTCDate(utc.getUTCDate() - dow + 3);
  const isoYear = utc.getUTCFullYear();
  // Week 1 is the week of 4 January; `utc` is now this week's Thursday.
  const january4 = Date.UTC(isoYear, 0, 4);
  const firstThursday = january4 + (3 - ((new Date(january4).getUTCDay() + 6) % 7)) * DAY;
  const week = 1 + Math.round((utc.getTime() - firstThursday) / (7 * DAY));
  return { daily: date, weekly: `${isoYear}-W${week}`, monthly: date.slice(0, 7), yearly: date.slice(0, 4) };
}

/** The small reference model: keep/delete/skip per the documented semantics, computed the obvious way. */
function referenceModel(history: readonly HistoryEntry[], policy: RetentionPolicy, now: number) {
  const verified = history
    .filter((e) => e.status === 'verified')
    .sort((a, b) => b.takenAt - a.takenAt || (a.backupId < b.backupId ? 1 : -1));
  const keep = new Set<string>();
  const counts: Record<string, number> = {};
  if (verified[0]) keep.add(verified[0].backupId);
  for (const g of ['daily', 'weekly', 'monthly', 'yearly'] as const) {
    const seen = new Set<string>();
    for (const entry of verified) {
      const label = labels(policy.timeZone, entry.takenAt)[g];
      if (!seen.has(label) && seen.size < policy[g]) {
        seen.add(label);
        keep.add(entry.backupId);
      }
    }
    counts[g] = seen.size;
  }
  const result = new Map<string, 'keep' | 'delete' | 'skip-locked'>();
  for (const entry of history) {
    if (keep.has(entry.backupId) || (entry.status !== 'verified' && now - entry.takenAt < policy.graceSeconds * 1000)) {
      result.set(entry.backupId, 'keep');
    } else if (entry.lock && (entry.lock.legalHold || (entry.lock.retainUntil ?? 0) > now)) {
      result.set(entry.backupId, 'skip-locked');
    } else {
      result.set(entry.backupId, 'delete');
    }
  }
  return { result, counts };
}

const STATUSES: BackupStatus[] = ['verified', 'verified', 'verified', 'verified', 'failed', 'unverified', 'incomplete'];

const scenario = fc
  .record({
    timeZone: fc.constantFrom(...ZONES),
    now: fc.integer({ min: Date.UTC(2021, 0, 1), max: Date.UTC(2031, 0, 1) }),
    policy: fc.record({
      daily: fc.integer({ min: 0, max: 10 }),
      weekly: fc.integer({ min: 0, max: 6 }),
      monthly: fc.integer({ min: 0, max: 14 }),
      yearly: fc.integer({ min: 0, max: 4 }),
      legalHoldYearly: fc.boolean(),
      graceSeconds: fc.integer({ min: 3600, max: 48 * 3600 }),
    }),
    entries: fc.array(
      fc.record({
        // Irregular ages: clustered within days and spread over three years, some in the future (clock skew).
        ageSeconds: fc.oneof(fc.integer({ min: -3600, max: 3 * 86400 }), fc.integer({ min: 0, max: 3 * 365 * 86400 })),
        status: fc.constantFrom(...STATUSES),
        lock: fc.option(fc.record({ legalHold: fc.boolean(), retainDays: fc.integer({ min: -30, max: 30 }) }), { freq: 4 }),
      }),
      { maxLength: 60 },
    ),
  })
  .map(({ timeZone, now, policy, entries }) => {
    const byId = new Map<string, HistoryEntry>();
    for (const e of entries) {
      const takenAt = Math.floor((now - e.ageSeconds * 1000) / 1000) * 1000;
      const backupId = `db-${compactTimestamp(new Date(takenAt))}-full`;
      byId.set(backupId, {
        backupId,
        takenAt,
        status: e.status,
        ...(e.lock ? { lock: { legalHold: e.lock.legalHold, retainUntil: now + e.lock.retainDays * DAY } } : {}),
      });
    }
    return { now, history: [...byId.values()], policy: { ...policy, timeZone } as RetentionPolicy };
  });

describe('planRetention (property-based)', () => {
  it('matches the reference model, keeps the newest verified and every locked backup, and has exact GFS counts', () => {
    fc.assert(
      fc.property(scenario, ({ now, history, policy }) => {
        // Act
        const plan = planRetention(history, policy, now);
        const model = referenceModel(history, policy, now);

        // Assess
        const actual = new Map(plan.decisions.map((d) => [d.backupId, d.action]));
        expect(actual).toEqual(model.result);
        const newest = history.filter((e) => e.status === 'verified').sort((a, b) => b.takenAt - a.takenAt)[0];
        if (newest) {
          expect(actual.get(newest.backupId)).toBe('keep');
        }
        for (const entry of history) {
          if (entry.lock && (entry.lock.legalHold || (entry.lock.retainUntil ?? 0) > now)) {
            expect(actual.get(entry.backupId)).not.toBe('delete');
          }
        }
        for (const g of ['daily', 'weekly', 'monthly', 'yearly'] as const) {
          expect(plan.decisions.filter((d) => d.slots.includes(g)).length).toBe(model.counts[g]);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('is idempotent: planning again after applying the deletions deletes nothing more', () => {
    fc.assert(
      fc.property(scenario, ({ now, history, policy }) => {
        // Prepare
        const first = planRetention(history, policy, now);
        const deleted = new Set(first.decisions.filter((d) => d.action === 'delete').map((d) => d.backupId));

        // Act
        const second = planRetention(
          history.filter((e) => !deleted.has(e.backupId)),
          policy,
          now,
        );

        // Assess
        expect(second.decisions.filter((d) => d.action === 'delete')).toEqual([]);
        expect(second.decisions.map((d) => [d.backupId, d.action])).toEqual(
          first.decisions.filter((d) => !deleted.has(d.backupId)).map((d) => [d.backupId, d.action]),
        );
      }),
      { numRuns: 1000 },
    );
  });
});

describe('reference ISO weeks', () => {
  it('puts 3 January 2021 in 2020-W53 and 4 January 2021 in 2021-W1', () => {
    // Act
    const sunday = labels('UTC', Date.UTC(2021, 0, 3, 12)).weekly;
    const monday = labels('UTC', Date.UTC(2021, 0, 4, 12)).weekly;

    // Assess
    expect([sunday, monday]).toEqual(['2020-W53', '2021-W1']);
  });
});

describe('planRetention (examples)', () => {
  const policy: RetentionPolicy = {
    daily: 2,
    weekly: 2,
    monthly: 2,
    yearly: 1,
    legalHoldYearly: true,
    graceSeconds: 6 * 3600,
    timeZone: 'Europe/Berlin',
  };
  const entry = (iso: string, status: BackupStatus = 'verified'): HistoryEntry => {
    const takenAt = Date.parse(iso);
    return { backupId: `db-${compactTimestamp(new Date(takenAt))}-full`, takenAt, status };
  };

  it('reads days in the database time zone: 23:30 UTC on 31 March is 1 April in Berlin', () => {
    // Prepare
    const history = [entry('2026-03-31T23:30:00Z'), entry('2026-03-31T20:00:00Z'), entry('2026-03-30T20:00:00Z')];

    // Act
    const plan = planRetention(history, { ...policy, weekly: 0, monthly: 0, yearly: 0 }, Date.parse('2026-04-01T06:00:00Z'));

    // Assess: the first two fall on different Berlin days, so both are daily representatives.
    expect(plan.decisions.map((d) => d.action)).toEqual(['keep', 'keep', 'delete']);
  });

  it('locks and tags the representative of a closed month until the slot ends, with a legal hold for closed years', () => {
    // Prepare: the newest backup of January 2026 (Berlin), and newer ones in February.
    const january = entry('2026-01-31T12:00:00Z');
    const history = [january, entry('2026-02-10T12:00:00Z'), entry('2026-02-11T12:00:00Z')];

    // Act
    const plan = planRetention(history, policy, Date.parse('2026-02-11T13:00:00Z'));

    // Assess: January is closed; with monthly=2 its slot lasts until 1 March 00:00 Berlin (23:00 UTC on 28 Feb).
    const decision = plan.decisions.find((d) => d.backupId === january.backupId)!;
    expect(decision.tierAction).toEqual({ tier: 'monthly', retainUntil: Date.parse('2026-02-28T23:00:00Z'), legalHold: false });
    const open = plan.decisions.find((d) => d.backupId === history[2].backupId)!;
    expect(open.tierAction).toBeUndefined();
  });

  it('keeps unverified backups inside the grace period and deletes older leftovers', () => {
    // Prepare
    const now = Date.parse('2026-05-05T12:00:00Z');
    const history = [entry('2026-05-05T10:00:00Z', 'incomplete'), entry('2026-05-04T10:00:00Z', 'failed'), entry('2026-05-05T09:00:00Z')];

    // Act
    const plan = planRetention(history, policy, now);

    // Assess
    expect(plan.decisions.map((d) => [d.status, d.action])).toEqual([
      ['incomplete', 'keep'],
      ['failed', 'delete'],
      ['verified', 'keep'],
    ]);
  });
});
