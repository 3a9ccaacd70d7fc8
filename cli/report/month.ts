import type { RestoreAudit } from '../../contracts/payloads/restore';
import type { DatabasePlan } from '../../contracts/plan';
import type { ListedObject } from '../../contracts/vault-io';
import type { BackupFacts, LockFacts } from './history';

/**
 * The numbers of the monthly evidence report, from the vault's records alone (pure: facts in, numbers out).
 *
 * Recovery-point age: at instant t the recovery point is the newest backup taken whose verification said
 * verified by t (a backup becomes restorable when Verify passes it, not when the dump starts). Its age is
 * t - takenAt, a sawtooth that resets at each verification. The month is within RPO where that age is at most
 * the RPO; before the first verified backup there is no recovery point, which counts as outside.
 */

export interface MonthWindow {
  readonly month: string;
  readonly from: number;
  /** The month's end, or now for the running month. */
  readonly to: number;
  readonly partial: boolean;
}

export function monthWindow(month: string, now: Date): MonthWindow {
  const [year, mm] = month.split('-').map(Number);
  const from = Date.UTC(year, mm - 1, 1);
  const end = Date.UTC(year, mm, 1);
  return { month, from, to: Math.min(end, now.getTime()), partial: now.getTime() < end };
}

export interface AgePoint {
  readonly at: number;
  /** null where there is no recovery point. */
  readonly ageSeconds: number | null;
}

export interface RpoCompliance {
  readonly rpoSeconds: number;
  readonly withinSeconds: number;
  readonly totalSeconds: number;
  readonly share: number;
  /** The sawtooth's corners, for the chart. */
  readonly series: readonly AgePoint[];
  readonly worstAgeSeconds: number | null;
}

export function rpoCompliance(backups: readonly BackupFacts[], rpoSeconds: number, window: MonthWindow): RpoCompliance {
  const rpoMs = rpoSeconds * 1000;
  const events = backups
    .filter((b) => b.status === 'verified' && b.verification)
    .map((b) => ({ verifiedAt: Date.parse(b.verification!.verifiedAt), takenAt: b.takenAt.getTime() }))
    .sort((a, b) => a.verifiedAt - b.verifiedAt);
  let point: number | undefined;
  for (const e of events) {
    if (e.verifiedAt <= window.from) {
      point = Math.max(point ?? e.takenAt, e.takenAt);
    }
  }
  const changes = events.filter((e) => e.verifiedAt > window.from && e.verifiedAt < window.to);
  const series: AgePoint[] = [];
  let within = 0;
  let worst: number | null = null;
  let start = window.from;
  const close = (end: number) => {
    if (end <= start) {
      return;
    }
    if (point === undefined) {
      series.push({ at: start, ageSeconds: null }, { at: end, ageSeconds: null });
      worst = Number.POSITIVE_INFINITY;
    } else {
      within += Math.max(0, Math.min(end, point + rpoMs) - Math.max(start, point));
      series.push({ at: start, ageSeconds: (start - point) / 1000 }, { at: end, ageSeconds: (end - point) / 1000 });
      worst = Math.max(worst ?? 0, (end - point) / 1000);
    }
  };
  for (const change of changes) {
    close(change.verifiedAt);
    start = change.verifiedAt;
    point = Math.max(point ?? change.takenAt, change.takenAt);
  }
  close(window.to);
  const total = Math.max(0, window.to - window.from);
  return {
    rpoSeconds,
    withinSeconds: within / 1000,
    totalSeconds: total / 1000,
    share: total === 0 ? 0 : Math.round((within / total) * 1e6) / 1e6,
    series,
    worstAgeSeconds: worst === Number.POSITIVE_INFINITY ? null : worst,
  };
}

export interface MonthDatabase {
  readonly database: string;
  readonly engine: string;
  readonly tier: string;
  readonly rpo: RpoCompliance;
  readonly backups: { readonly taken: number; readonly withManifest: number; readonly verified: number; readonly failedDumps: number };
  readonly sizes: readonly { readonly at: number; readonly bytes: number; readonly backupId: string }[];
  readonly drills: readonly {
    readonly backupId: string;
    readonly drilledAt: string;
    readonly passed: boolean;
    readonly restoreSeconds: number;
    readonly withinRto: boolean;
  }[];
  readonly rtoSeconds: number;
  readonly immutability:
    | { readonly supported: false }
    | {
        readonly supported: true;
        readonly objects: number;
        readonly locked: number;
        readonly modes: Readonly<Record<string, number>>;
        readonly legalHolds: number;
        readonly earliestRetainUntil?: string;
        readonly latestRetainUntil?: string;
      };
  readonly replica: { readonly verified: number; readonly copied: number; readonly share?: number; readonly missing: readonly string[] };
  readonly restores: readonly RestoreAudit[];
}

export function monthDatabase(
  db: DatabasePlan,
  all: readonly BackupFacts[],
  replica: ReadonlyMap<string, ReadonlyMap<string, ListedObject>>,
  restores: readonly RestoreAudit[],
  /** Lock state of each backup's artifact, by backupId; only read where the vault has Object Lock. */
  locks: ReadonlyMap<string, LockFacts | undefined>,
  objectLock: boolean,
  window: MonthWindow,
): MonthDatabase {
  const inMonth = (t: number) => t >= window.from && t < window.to;
  const month = all.filter((b) => inMonth(b.takenAt.getTime()));
  const verified = month.filter((b) => b.status === 'verified');
  const drills = all
    .filter((b) => b.drill && inMonth(Date.parse(b.drill.drilledAt)))
    .map((b) => ({
      backupId: b.backupId,
      drilledAt: b.drill!.drilledAt,
      passed: b.drill!.passed,
      restoreSeconds: b.drill!.restoreSeconds,
      withinRto: b.drill!.passed && b.drill!.restoreSeconds <= db.rtoSeconds,
    }))
    .sort((a, b) => a.drilledAt.localeCompare(b.drilledAt));
  const missing = verified.filter((b) => {
    const copy = b.artifact && replica.get(b.backupId)?.get(b.artifact.key.slice(b.artifact.key.lastIndexOf('/') + 1));
    return !copy || copy.size !== b.artifact!.size;
  });
  let immutability: MonthDatabase['immutability'] = { supported: false };
  if (objectLock) {
    const present = verified
      .map((b) => locks.get(b.backupId))
      .filter((l): l is Extract<LockFacts, { supported: true }> => l?.supported === true);
    const modes: Record<string, number> = {};
    for (const l of present) {
      if (l.mode) {
        modes[l.mode] = (modes[l.mode] ?? 0) + 1;
      }
    }
    const untils = present.flatMap((l) => (l.retainUntil ? [l.retainUntil] : [])).sort();
    immutability = {
      supported: true,
      objects: verified.length,
      locked: present.filter((l) => l.retainUntil !== undefined || l.legalHold).length,
      modes,
      legalHolds: present.filter((l) => l.legalHold).length,
      ...(untils.length > 0 && { earliestRetainUntil: untils[0], latestRetainUntil: untils.at(-1) }),
    };
  }
  return {
    database: db.name,
    engine: db.engine,
    tier: db.tier,
    rpo: rpoCompliance(all, db.rpoSeconds, window),
    backups: {
      taken: month.length,
      withManifest: month.filter((b) => b.manifest).length,
      verified: verified.length,
      failedDumps: month.filter((b) => !b.manifest && b.failure).length,
    },
    sizes: month
      .filter((b) => b.manifest)
      .map((b) => ({ at: b.takenAt.getTime(), bytes: b.manifest!.artifact.bytes, backupId: b.backupId })),
    drills,
    rtoSeconds: db.rtoSeconds,
    immutability,
    replica: {
      verified: verified.length,
      copied: verified.length - missing.length,
      ...(verified.length > 0 && { share: Math.round(((verified.length - missing.length) / verified.length) * 1e4) / 1e4 }),
      missing: missing.map((b) => b.backupId),
    },
    restores: restores.filter((r) => inMonth(Date.parse(r.startedAt))),
  };
}
