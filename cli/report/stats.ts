import type { DatabasePlan } from '../../contracts/plan';
import type { ListedObject } from '../../contracts/vault-io';
import type { Granularity } from '../../lambdas/backup/retain/planner';
import { planRetention } from '../../lambdas/backup/retain/planner';
import type { BackupFacts } from './history';

/**
 * The numbers behind `strongbox stats`, computed from what the vault holds (pure: facts in, numbers out).
 * GFS slots come from the retain planner itself, so they are the slots Retain keeps (and tags) the backups for.
 */

const DAY_MS = 86_400_000;
export const RUN_WINDOW = 50;
/** Recent runs compared with the ones before them for the "slower than before" trend. */
export const RECENT_RUNS = 5;
/** Below this size a dump's throughput is mostly start-up time, so the floor is not applied. */
export const THROUGHPUT_MIN_BYTES = 64 * 1024 * 1024;

export interface StatsOptions {
  readonly now: Date;
  readonly graceSeconds: number;
  /** MB/s the recent backups must average (for dumps of THROUGHPUT_MIN_BYTES or more). */
  readonly throughputFloorMBps: number;
}

export interface Spread {
  readonly mean: number;
  readonly p95: number;
}

export interface Growth {
  readonly days: number;
  readonly from: string;
  readonly to: string;
  /** Relative change of the uncompressed dump size (the data). */
  readonly data: number;
  /** Relative change of the stored artifact size (the backup). */
  readonly backup: number;
}

export interface TrendFlag {
  readonly kind: 'slower' | 'throughput' | 'storage';
  readonly message: string;
}

export interface DatabaseStats {
  readonly database: string;
  readonly engine: string;
  readonly tier: string;
  readonly backups: {
    readonly folders: number;
    readonly verified: number;
    readonly failedVerification: number;
    readonly unverified: number;
    readonly incomplete: number;
  };
  /** Verified backups per GFS slot the planner gives them (one backup can hold several). */
  readonly slots: Readonly<Record<Granularity | 'newest', number>>;
  /** Backups per storage class of their artifact. */
  readonly storageClasses: Readonly<Record<string, number>>;
  readonly bytes: { readonly primary: number; readonly replica: number };
  readonly growth: { readonly days7?: Growth; readonly days30?: Growth };
  /** Dumps that finished (manifest) against dumps that failed (failure.json without a manifest). */
  readonly success: { readonly runs: number; readonly succeeded: number; readonly failed: number; readonly rate?: number };
  readonly runs: { readonly count: number; readonly durationSeconds?: Spread; readonly throughputMBps?: Spread };
  readonly compression: { readonly latest?: number; readonly mean?: number };
  readonly drill: {
    readonly last?: { readonly backupId: string; readonly drilledAt: string; readonly passed: boolean; readonly restoreSeconds: number };
    readonly rtoSeconds: number;
    readonly withinRto?: boolean;
  };
  readonly oldestRestorable?: { readonly backupId: string; readonly takenAt: string };
  readonly newestRestorable?: { readonly backupId: string; readonly takenAt: string };
  /** Backups the planner would delete that are still stored (Retain runs after every backup). */
  readonly pendingDeletion: number;
  readonly flags: readonly TrendFlag[];
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function spread(values: readonly number[]): Spread | undefined {
  return values.length === 0 ? undefined : { mean: mean(values), p95: percentile(values, 95) };
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;
const pct = (ratio: number) => `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(0)}%`;

function growthOver(verified: readonly BackupFacts[], days: number, now: Date): Growth | undefined {
  const to = verified.at(-1);
  const before = now.getTime() - days * DAY_MS;
  const from = [...verified].reverse().find((b) => b.takenAt.getTime() <= before);
  if (!to?.manifest || !from?.manifest || from === to) {
    return undefined;
  }
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b - 1);
  return {
    days,
    from: from.backupId,
    to: to.backupId,
    data: round(ratio(to.manifest.artifact.uncompressedBytes, from.manifest.artifact.uncompressedBytes)),
    backup: round(ratio(to.manifest.artifact.bytes, from.manifest.artifact.bytes)),
  };
}

export function databaseStats(
  db: DatabasePlan,
  backups: readonly BackupFacts[],
  replica: ReadonlyMap<string, ReadonlyMap<string, ListedObject>>,
  options: StatsOptions,
): DatabaseStats {
  const verified = backups.filter((b) => b.status === 'verified');
  const plan = planRetention(
    backups.map((b) => ({ backupId: b.backupId, takenAt: b.takenAt.getTime(), status: b.status })),
    { ...db.retention, graceSeconds: options.graceSeconds, timeZone: db.timezone },
    options.now.getTime(),
  );
  const slots: Record<Granularity | 'newest', number> = { daily: 0, weekly: 0, monthly: 0, yearly: 0, newest: 0 };
  for (const decision of plan.decisions) {
    for (const slot of decision.slots) {
      if (slot !== 'grace') {
        slots[slot]++;
      }
    }
  }
  const storageClasses: Record<string, number> = {};
  for (const b of backups) {
    if (b.artifact) {
      const cls = b.artifact.storageClass ?? 'STANDARD';
      storageClasses[cls] = (storageClasses[cls] ?? 0) + 1;
    }
  }
  const sumFolders = (folders: Iterable<ReadonlyMap<string, ListedObject>>) => {
    let total = 0;
    for (const objects of folders) {
      for (const o of objects.values()) {
        total += o.size;
      }
    }
    return total;
  };
  const withManifest = backups.filter((b) => b.manifest);
  const failedRuns = backups.filter((b) => !b.manifest && b.failure).length;
  const runs = withManifest.slice(-RUN_WINDOW).map((b) => b.manifest!);
  const ratios = runs.map((m) => m.artifact.uncompressedBytes / Math.max(1, m.artifact.bytes));
  const lastDrilled = [...backups]
    .filter((b) => b.drill)
    .sort((a, b) => a.drill!.drilledAt.localeCompare(b.drill!.drilledAt))
    .at(-1);
  const days7 = growthOver(verified, 7, options.now);
  const days30 = growthOver(verified, 30, options.now);
  const pendingDeletion = plan.decisions.filter((d) => d.action === 'delete').length;

  const flags: TrendFlag[] = [];
  if (runs.length >= 2 * RECENT_RUNS) {
    const recent = mean(runs.slice(-RECENT_RUNS).map((m) => m.durationSeconds));
    const before = mean(runs.slice(0, -RECENT_RUNS).map((m) => m.durationSeconds));
    if (recent > before * 1.5 && recent - before >= 10) {
      flags.push({
        kind: 'slower',
        message: `backups are slower than before: the last ${RECENT_RUNS} took ${recent.toFixed(0)} s on average against ${before.toFixed(0)} s for the ${runs.length - RECENT_RUNS} before (${pct(recent / before - 1)})`,
      });
    }
  }
  const sized = runs.filter((m) => m.artifact.uncompressedBytes >= THROUGHPUT_MIN_BYTES).slice(-RECENT_RUNS);
  if (sized.length > 0) {
    const recent = mean(sized.map((m) => m.throughputMBps));
    if (recent < options.throughputFloorMBps) {
      flags.push({
        kind: 'throughput',
        message: `throughput below the floor: the last ${sized.length} backups of 64 MiB or more averaged ${recent.toFixed(1)} MB/s against a floor of ${options.throughputFloorMBps} MB/s`,
      });
    }
  }
  const growth = days30 ?? days7;
  if (growth && growth.backup - growth.data > 0.1) {
    flags.push({
      kind: 'storage',
      message: `storage is growing faster than the data: over ${growth.days} days the backups grew ${pct(growth.backup)} while the data grew ${pct(growth.data)} (compression is getting worse)`,
    });
  }
  if (pendingDeletion > 1) {
    flags.push({
      kind: 'storage',
      message: `storage is growing faster than the data: ${pendingDeletion} backups outside every GFS slot are still stored (Retain prunes after every backup: is it failing?)`,
    });
  }
  const point = (b: BackupFacts | undefined) => (b ? { backupId: b.backupId, takenAt: b.takenAt.toISOString() } : undefined);
  const oldest = point(verified[0]);
  const newest = point(verified.at(-1));
  return {
    database: db.name,
    engine: db.engine,
    tier: db.tier,
    backups: {
      folders: backups.length,
      verified: verified.length,
      failedVerification: backups.filter((b) => b.status === 'failed').length,
      unverified: backups.filter((b) => b.status === 'unverified').length,
      incomplete: backups.filter((b) => b.status === 'incomplete').length,
    },
    slots,
    storageClasses,
    bytes: { primary: sumFolders(backups.map((b) => b.objects)), replica: sumFolders(replica.values()) },
    growth: { ...(days7 && { days7 }), ...(days30 && { days30 }) },
    success: {
      runs: withManifest.length + failedRuns,
      succeeded: withManifest.length,
      failed: failedRuns,
      ...(withManifest.length + failedRuns > 0 && { rate: round(withManifest.length / (withManifest.length + failedRuns), 4) }),
    },
    runs: {
      count: runs.length,
      ...(runs.length > 0 && { durationSeconds: spread(runs.map((m) => m.durationSeconds))! }),
      ...(runs.length > 0 && { throughputMBps: spread(runs.map((m) => m.throughputMBps))! }),
    },
    compression: {
      ...(ratios.length > 0 && { latest: round(ratios.at(-1)!, 2), mean: round(mean(ratios), 2) }),
    },
    drill: {
      ...(lastDrilled?.drill && {
        last: {
          backupId: lastDrilled.backupId,
          drilledAt: lastDrilled.drill.drilledAt,
          passed: lastDrilled.drill.passed,
          restoreSeconds: lastDrilled.drill.restoreSeconds,
        },
        withinRto: lastDrilled.drill.passed && lastDrilled.drill.restoreSeconds <= db.rtoSeconds,
      }),
      rtoSeconds: db.rtoSeconds,
    },
    ...(oldest && { oldestRestorable: oldest }),
    ...(newest && { newestRestorable: newest }),
    pendingDeletion,
    flags,
  };
}

export interface FleetStats {
  readonly databases: number;
  readonly backups: number;
  readonly verified: number;
  readonly bytes: { readonly primary: number; readonly replica: number };
  readonly storageClasses: Readonly<Record<string, number>>;
  readonly slots: Readonly<Record<Granularity | 'newest', number>>;
  readonly success: { readonly runs: number; readonly succeeded: number; readonly failed: number; readonly rate?: number };
  readonly oldestRestorable?: { readonly database: string; readonly backupId: string; readonly takenAt: string };
  readonly drillsFailedLast: readonly string[];
  readonly flagged: readonly string[];
}

export function fleetStats(all: readonly DatabaseStats[]): FleetStats {
  const sum = (f: (s: DatabaseStats) => number) => all.reduce((total, s) => total + f(s), 0);
  const storageClasses: Record<string, number> = {};
  const slots: Record<Granularity | 'newest', number> = { daily: 0, weekly: 0, monthly: 0, yearly: 0, newest: 0 };
  for (const s of all) {
    for (const [cls, n] of Object.entries(s.storageClasses)) {
      storageClasses[cls] = (storageClasses[cls] ?? 0) + n;
    }
    for (const slot of Object.keys(slots) as (keyof typeof slots)[]) {
      slots[slot] += s.slots[slot];
    }
  }
  const runs = sum((s) => s.success.runs);
  const succeeded = sum((s) => s.success.succeeded);
  const oldest = all
    .filter((s) => s.oldestRestorable)
    .sort((a, b) => a.oldestRestorable!.takenAt.localeCompare(b.oldestRestorable!.takenAt))[0];
  return {
    databases: all.length,
    backups: sum((s) => s.backups.folders),
    verified: sum((s) => s.backups.verified),
    bytes: { primary: sum((s) => s.bytes.primary), replica: sum((s) => s.bytes.replica) },
    storageClasses,
    slots,
    success: { runs, succeeded, failed: runs - succeeded, ...(runs > 0 && { rate: round(succeeded / runs, 4) }) },
    ...(oldest && { oldestRestorable: { database: oldest.database, ...oldest.oldestRestorable! } }),
    drillsFailedLast: all.filter((s) => s.drill.last && !s.drill.last.passed).map((s) => s.database),
    flagged: all.filter((s) => s.flags.length > 0).map((s) => s.database),
  };
}
