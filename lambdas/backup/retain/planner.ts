import { isoWeek, ZoneClock } from '../../../contracts/local-time';

/**
 * The GFS retention planner: pure, history in, decisions out. Retain (retain.ts) does the S3 I/O around it.
 *
 * Semantics (all periods are calendar periods of the database's time zone: local day, ISO-8601 week
 * Monday-Sunday, month, year):
 * - For each of daily/weekly/monthly/yearly with count N, walk the VERIFIED backups from newest to oldest and
 *   keep the newest backup of each period, for the first N distinct periods that contain a verified backup
 *   (the "N most recent periods with a backup", as restic and borg count them). A schedule that pauses
 *   therefore never makes older backups expire faster. The current, still open period counts.
 * - The newest verified backup is always kept, even with all counts at 0.
 * - A backup that is not verified (no manifest yet, no verification.json yet, or verification failed) is kept
 *   while it is younger than the grace period (it may still be in progress) and deleted after it. This keeps
 *   everything newer than the newest verified backup for the grace period.
 * - Every other verified backup is deleted.
 * - A representative of a CLOSED weekly/monthly/yearly period is final: it gets the tier of its highest such
 *   slot (tag `strongbox:tier`), an Object Lock retain-until at the start of the N-th period after its own
 *   (the earliest moment N newer periods can exist, so the lock never outlives the slot's minimum), and a legal
 *   hold when it is a yearly representative and `legalHoldYearly` is set. Open periods are left alone, because
 *   their representative changes with every new backup and a lock would pin each provisional one.
 * - A backup to delete whose objects are under legal hold or unexpired retention is skipped and reported.
 */

export const GRANULARITIES = ['daily', 'weekly', 'monthly', 'yearly'] as const;
export type Granularity = (typeof GRANULARITIES)[number];
export type Tier = Exclude<Granularity, 'daily'>;

export type BackupStatus = 'verified' | 'failed' | 'unverified' | 'incomplete';

export interface ObjectLockState {
  readonly legalHold: boolean;
  /** Epoch ms; undefined when no retention is set. */
  readonly retainUntil?: number;
}

export interface HistoryEntry {
  readonly backupId: string;
  /** Epoch ms, from the backupId. */
  readonly takenAt: number;
  readonly status: BackupStatus;
  /** The strictest lock among the backup's objects, when the caller looked it up. */
  readonly lock?: ObjectLockState;
}

export interface RetentionPolicy {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  readonly yearly: number;
  readonly legalHoldYearly: boolean;
  readonly graceSeconds: number;
  readonly timeZone: string;
}

export interface TierAction {
  readonly tier: Tier;
  /** Epoch ms the backup's objects must stay locked until. */
  readonly retainUntil: number;
  readonly legalHold: boolean;
}

export interface Decision {
  readonly backupId: string;
  readonly takenAt: number;
  readonly status: BackupStatus;
  readonly action: 'keep' | 'delete' | 'skip-locked';
  /** Why it is kept: its GFS slots, `newest`, or `grace`. Empty for deletions. */
  readonly slots: readonly (Granularity | 'newest' | 'grace')[];
  readonly tierAction?: TierAction;
  readonly reason: string;
}

export interface RetentionPlan {
  readonly decisions: readonly Decision[];
  readonly newestVerified?: string;
}

const DAY_MS = 86_400_000;
const TIER_RANK: Record<Tier, number> = { weekly: 1, monthly: 2, yearly: 3 };

/** Period index of a local date (as local-as-UTC ms) for each granularity; consecutive periods differ by 1. */
function periodIndex(granularity: Granularity, localMs: number): number {
  const day = Math.floor(localMs / DAY_MS);
  switch (granularity) {
    case 'daily':
      return day;
    case 'weekly':
      // 1970-01-01 was a Thursday, so ISO weeks (Monday first) start at day -3.
      return Math.floor((day + 3) / 7);
    case 'monthly': {
      const date = new Date(localMs);
      return date.getUTCFullYear() * 12 + date.getUTCMonth();
    }
    case 'yearly':
      return new Date(localMs).getUTCFullYear();
  }
}

/** Local start (local-as-UTC ms) of a period index. */
function periodStart(granularity: Granularity, index: number): number {
  switch (granularity) {
    case 'daily':
      return index * DAY_MS;
    case 'weekly':
      return (index * 7 - 3) * DAY_MS;
    case 'monthly':
      return Date.UTC(Math.floor(index / 12), index % 12, 1);
    case 'yearly':
      return Date.UTC(index, 0, 1);
  }
}

export function planRetention(history: readonly HistoryEntry[], policy: RetentionPolicy, now: number): RetentionPlan {
  const clock = new ZoneClock(policy.timeZone);
  const graceMs = policy.graceSeconds * 1000;
  const verified = history
    .filter((entry) => entry.status === 'verified')
    .sort((a, b) => b.takenAt - a.takenAt || (a.backupId < b.backupId ? 1 : a.backupId > b.backupId ? -1 : 0));
  const newest = verified[0];

  const slots = new Map<string, Set<Granularity | 'newest' | 'grace'>>();
  const tiers = new Map<string, { tier: Tier; retainUntil: number; legalHold: boolean }>();
  const addSlot = (backupId: string, slot: Granularity | 'newest' | 'grace') => {
    let set = slots.get(backupId);
    if (!set) {
      set = new Set();
      slots.set(backupId, set);
    }
    set.add(slot);
  };
  if (newest) {
    addSlot(newest.backupId, 'newest');
  }

  const nowLocal = clock.localMs(now);
  const localTimes = verified.map((entry) => clock.localMs(entry.takenAt));
  for (const granularity of GRANULARITIES) {
    const count = policy[granularity];
    if (count <= 0) {
      continue;
    }
    let kept = 0;
    // A set, not "differs from the previous one": where DST ends at midnight, local time steps back across a
    // day boundary, so newest-first instants do not always give non-increasing local periods.
    const seen = new Set<number>();
    for (let i = 0; i < verified.length && kept < count; i++) {
      const index = periodIndex(granularity, localTimes[i]);
      if (seen.has(index)) {
        continue;
      }
      seen.add(index);
      kept++;
      const entry = verified[i];
      addSlot(entry.backupId, granularity);
      const closed = periodStart(granularity, index + 1) <= nowLocal;
      if (granularity !== 'daily' && closed) {
        const retainUntil = clock.utcOf(periodStart(granularity, index + count));
        const current = tiers.get(entry.backupId);
        const legalHold = granularity === 'yearly' && policy.legalHoldYearly;
        if (!current) {
          tiers.set(entry.backupId, { tier: granularity, retainUntil, legalHold });
        } else {
          tiers.set(entry.backupId, {
            tier: TIER_RANK[granularity] > TIER_RANK[current.tier] ? granularity : current.tier,
            retainUntil: Math.max(retainUntil, current.retainUntil),
            legalHold: current.legalHold || legalHold,
          });
        }
      }
    }
  }

  const decisions: Decision[] = history.map((entry) => {
    const held = slots.get(entry.backupId);
    if (entry.status === 'verified' && held) {
      const tierAction = tiers.get(entry.backupId);
      return {
        backupId: entry.backupId,
        takenAt: entry.takenAt,
        status: entry.status,
        action: 'keep',
        slots: [...held],
        ...(tierAction ? { tierAction } : {}),
        reason: `keeps ${[...held].join(', ')}`,
      };
    }
    if (entry.status !== 'verified' && now - entry.takenAt < graceMs) {
      return {
        backupId: entry.backupId,
        takenAt: entry.takenAt,
        status: entry.status,
        action: 'keep',
        slots: ['grace'],
        reason: `${entry.status} and younger than the ${policy.graceSeconds}s grace period`,
      };
    }
    const why = entry.status === 'verified' ? 'verified but holds no GFS slot' : `${entry.status} leftover older than the grace period`;
    const lock = entry.lock;
    if (lock && (lock.legalHold || (lock.retainUntil !== undefined && lock.retainUntil > now))) {
      return {
        backupId: entry.backupId,
        takenAt: entry.takenAt,
        status: entry.status,
        action: 'skip-locked',
        slots: [],
        reason: `${why}, but ${lock.legalHold ? 'under legal hold' : `retained until ${new Date(lock.retainUntil!).toISOString()}`}`,
      };
    }
    return { backupId: entry.backupId, takenAt: entry.takenAt, status: entry.status, action: 'delete', slots: [], reason: why };
  });
  return { decisions, ...(newest ? { newestVerified: newest.backupId } : {}) };
}

/** Local calendar labels of an instant, for reports and tests: `2026-03-29`, `2026-W13`, `2026-03`, `2026`. */
export function periodLabels(timeZone: string, at: number): Record<Granularity, string> {
  const local = new ZoneClock(timeZone).parts(at);
  const pad = (n: number) => String(n).padStart(2, '0');
  const week = isoWeek(local.year, local.month, local.day);
  return {
    daily: `${local.year}-${pad(local.month)}-${pad(local.day)}`,
    weekly: `${week.isoYear}-W${pad(week.week)}`,
    monthly: `${local.year}-${pad(local.month)}`,
    yearly: String(local.year),
  };
}
