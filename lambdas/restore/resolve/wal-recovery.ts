import { InputValidationError, RestoreRefusedError } from '../../../contracts/errors';
import { shown } from '../../../contracts/issues';
import { readBaseManifests, readChain } from '../../../contracts/log-chain';
import {
  compareLogCoordinates,
  describeRanges,
  type FullPoint,
  type LogCoordinates,
  planReplay,
  planReplayTo,
  restorableRanges,
  type SegmentManifest,
  segmentsBetween,
} from '../../../contracts/logs';
import type {
  RecoveryPlanPayload,
  RecoveryStop,
  ReplayPlanPayload,
  RestoreExecution,
  RestoreInput,
} from '../../../contracts/payloads/restore';
import type { DatabasePlan } from '../../../contracts/plan';
import { recoveryDiskBytes, recoveryDiskRefusal } from '../../../contracts/recovery';
import { type BaseBackupManifest, basePointOf, formatLsn, lsnOfCoordinates, parseLsn, walCoordinates } from '../../../contracts/wal';
import { type VaultDeps, verifiedFullPoints } from './log-replay';
import type { StoredBackup } from './recovery-points';

/**
 * PostgreSQL restore to an instant, an LSN or a restore point (issue #13 step 5): Resolve picks the base backup and
 * the WAL the restore task recovers inside itself (tasks/src/commands/recover-postgres.ts), from the same chain
 * contracts as a binlog replay. The bases are the chain's fulls (basePointOf: restorable from `finishedAt`, WAL from
 * `start`); a base counts only when an intact run of WAL segments carries it from its start to its stop LSN, where it
 * becomes consistent; without that WAL it restores nothing. A verified logical dump's own instant (its snapshot's
 * second, the manifest's `startedAt`) stays restorable from that dump alone, exactly as a full dump's own instant is
 * for a binlog database: no recovery is needed to reach it.
 */

export interface WalRecoveryDeps extends VaultDeps {
  /** Fargate ephemeral storage of the PostgreSQL task, GiB (STRONGBOX_POSTGRES_TASK_STORAGE_GIB). */
  readonly storageGiB: number;
}

const STOP_FIELDS = { lsn: 'an LSN', restorePoint: 'a restore point' } as const;

/**
 * The WAL stop a restore input asks for, or undefined for anything else. `lsn` and `restorePoint` need a PostgreSQL
 * database with a `logs` block; `position` and `gtid` are binlog terms that such a database refuses; its `pointInTime`
 * means WAL recovery.
 */
export function walStopOf(input: RestoreInput, db: DatabasePlan): RecoveryStop | undefined {
  const field = input.lsn !== undefined ? 'lsn' : input.restorePoint !== undefined ? 'restorePoint' : undefined;
  const refuse = (name: string, why: string) =>
    new InputValidationError(`Invalid restore input:\n${name}: found ${shown(input[name as keyof RestoreInput])}; expected ${why}`);
  if (field && db.engine !== 'postgres') {
    throw refuse(
      field,
      `it left out: ${STOP_FIELDS[field]} is PostgreSQL's and "${input.database}" is ${db.engine}; use "pointInTime"${db.logs ? ', "position" or "gtid"' : ', "backupId" or "latest"'}`,
    );
  }
  if (field && db.logs?.kind !== 'wal') {
    throw refuse(
      field,
      `"backupId", "pointInTime" or "latest": "${input.database}" has no logs block, so no WAL is archived to recover with (add logs: { intervalMinutes, windowDays } to its config)`,
    );
  }
  if (db.logs?.kind !== 'wal') {
    return undefined;
  }
  const binlog = input.position !== undefined ? 'position' : input.gtid !== undefined ? 'gtid' : undefined;
  if (binlog) {
    throw refuse(
      binlog,
      `"lsn" (such as "16/B374D848"), "restorePoint" or "pointInTime": "${input.database}" is PostgreSQL, whose WAL has LSNs, not binlog ${binlog === 'gtid' ? 'GTIDs' : 'positions'}`,
    );
  }
  if (input.pointInTime !== undefined) {
    return { kind: 'instant', at: new Date(input.pointInTime).toISOString() };
  }
  if (input.lsn !== undefined) {
    return { kind: 'lsn', lsn: formatLsn(parseLsn(input.lsn)) };
  }
  return input.restorePoint !== undefined ? { kind: 'name', name: input.restorePoint } : undefined;
}

/** Either a WAL recovery of a base, or (an instant that is a logical dump's own) the restore of that dump. */
export type WalPlan =
  | { readonly kind: 'recovery'; readonly base: BaseBackupManifest; readonly recovery: RecoveryPlanPayload }
  | { readonly kind: 'dump'; readonly backup: StoredBackup; readonly replay: ReplayPlanPayload };

type Chain = Awaited<ReturnType<typeof readChain>>;

/**
 * Plans the recovery over the bases, the verified logical dumps, the WAL segment manifests and the cursor. A stop no
 * base reaches is refused at its field with the restorable ranges; a base whose cluster cannot fit the task's disk is
 * refused with the sizes, before any byte moves.
 */
export async function planWalRecovery(
  input: RestoreInput,
  stop: RecoveryStop,
  db: DatabasePlan,
  execution: RestoreExecution,
  deps: WalRecoveryDeps,
): Promise<WalPlan> {
  const startedAt = new Date(execution.startTime);
  if (stop.kind === 'instant' && Date.parse(stop.at) > startedAt.getTime()) {
    throw new InputValidationError(
      `Invalid restore input:\npointInTime: found ${shown(input.pointInTime)}; expected an instant no later than the start of this execution (${execution.startTime})`,
    );
  }
  const logs = db.logs as NonNullable<DatabasePlan['logs']>;
  const [bases, dumps] = await Promise.all([
    readBaseManifests(deps.s3, deps.bucket, input.database),
    stop.kind === 'instant'
      ? verifiedFullPoints(input.database, deps)
      : { fulls: [] as FullPoint[], byId: new Map<string, StoredBackup>() },
  ]);
  const windowStart = new Date(startedAt.getTime() - logs.windowDays * 86_400_000);
  const chain = await readChain(deps.s3, deps.bucket, input.database, {
    kind: 'wal',
    fulls: [...bases.map(basePointOf), ...dumps.fulls],
    windowStart,
  });
  // Newest first: of two bases that reach a stop, the newer one needs less WAL.
  const consistent = bases.filter((base) => segmentsBetween(base.start, base.stop, chain.segments) !== undefined).reverse();
  const planning = { ...chain, fulls: [...consistent.map(basePointOf), ...dumps.fulls] };
  const refuse = (field: 'pointInTime' | 'lsn' | 'restorePoint', expected: string) => {
    const broken = chain.cursor?.broken;
    const none =
      consistent.length === 0 ? ` ("${input.database}" has no base backup with its WAL archived from its start to its stop LSN yet)` : '';
    return new InputValidationError(
      `Invalid restore input:\n${field}: found ${shown(input[field])}; expected ${expected}${none}${
        broken
          ? ` (the WAL chain broke at ${broken.at}: ${broken.reason}; no recovery crosses it, the next base backup starts a new chain)`
          : ''
      }`,
    );
  };
  const ranges = () => describeRanges(restorableRanges(planning));

  let base: BaseBackupManifest | undefined;
  let segmentIds: readonly string[] = [];
  if (stop.kind === 'instant') {
    const plan = planReplay(new Date(stop.at), planning);
    if (!plan) {
      throw refuse('pointInTime', `an instant in the restorable ranges of "${input.database}": ${ranges()}`);
    }
    const dump = dumps.byId.get(plan.backupId);
    if (dump) {
      return { kind: 'dump', backup: dump, replay: { stop, segmentIds: [], segmentBytes: 0 } };
    }
    base = consistent.find((b) => b.baseId === plan.backupId);
    segmentIds = plan.segmentIds;
  } else if (stop.kind === 'lsn') {
    const lsn = parseLsn(stop.lsn);
    for (const timeline of [...new Set(consistent.map((b) => b.timeline))]) {
      // Only a base consistent at or before the LSN can stop there: PostgreSQL refuses a target before its stop LSN.
      const usable = consistent.filter((b) => b.timeline === timeline && parseLsn(b.stopLsn) <= lsn);
      const segmentBytes = usable[0]?.walSegmentBytes;
      const plan =
        segmentBytes &&
        planReplayTo({ kind: 'position', ...walCoordinates(timeline, lsn, segmentBytes) }, { ...chain, fulls: usable.map(basePointOf) });
      if (plan) {
        base = usable.find((b) => b.baseId === plan.backupId);
        segmentIds = plan.segmentIds;
        break;
      }
    }
    if (!base) {
      throw refuse(
        'lsn',
        `an LSN the archived WAL reaches from a consistent base backup of "${input.database}": ${describeLsnRanges(consistent, chain)} (instants: ${ranges()})`,
      );
    }
  } else {
    // PostgreSQL looks for the name while it replays; the newest base with its WAL is where the search starts.
    base = consistent[0];
    if (!base) {
      throw refuse('restorePoint', `a restore point in the WAL archived after a base backup of "${input.database}"`);
    }
  }
  const chosen = base as BaseBackupManifest;
  const run = walFrom(chosen, chain);
  const planned = segmentIds.length > 0 ? segmentIds.map((id) => chain.manifests.get(id)).filter((m) => m !== undefined) : run;
  return { kind: 'recovery', base: chosen, recovery: recoveryPlan(input, stop, chosen, planned, run, chain, db, deps) };
}

function recoveryPlan(
  input: RestoreInput,
  stop: RecoveryStop,
  base: BaseBackupManifest,
  segments: readonly SegmentManifest[],
  run: readonly SegmentManifest[],
  chain: Chain,
  db: DatabasePlan,
  deps: WalRecoveryDeps,
): RecoveryPlanPayload {
  const last = run.at(-1) as SegmentManifest;
  const quiet = chain.cursor && compareLogCoordinates(chain.cursor.next, last.next) === 0 ? Date.parse(chain.cursor.coveredUntil) : 0;
  const coveredUntil = new Date(Math.max(Date.parse(last.coveredUntil), quiet)).toISOString();
  // A selective restore, and a parallel one, deliver through pg_dump's archive on the same disk.
  const file = (input.include?.length ?? 0) > 0 || db.restoreJobs > 1;
  const refusal = recoveryDiskRefusal({
    database: input.database,
    clusterBytes: base.artifact.uncompressedBytes,
    file,
    ephemeralGiB: deps.storageGiB,
  });
  if (refusal) {
    throw new RestoreRefusedError(`Cannot recover base ${base.baseId}: ${refusal}`);
  }
  return {
    baseId: base.baseId,
    timeline: base.timeline,
    stop,
    target: targetOf(stop, run),
    baseStartLsn: base.startLsn,
    baseStopLsn: base.stopLsn,
    baseBytes: base.artifact.bytes,
    clusterBytes: base.artifact.uncompressedBytes,
    segmentIds: segments.map((s) => s.segmentId),
    segmentBytes: segments.reduce((sum, s) => sum + s.artifact.bytes, 0),
    diskBytes: recoveryDiskBytes(base.artifact.uncompressedBytes, { file }),
    ephemeralStorageGiB: deps.storageGiB,
    expectedEnd: { segmentId: last.segmentId, coveredUntil, lsn: formatLsn(lsnOfCoordinates(last.next, base.walSegmentBytes).lsn) },
  };
}

/**
 * The recovery target the task gets. An instant is its whole second (the binlog rule: every commit logged in that
 * second is applied), so the task stops after its last millisecond; PostgreSQL's stop is the first commit after that.
 * Where the WAL segments' own coverage ends within the second, or before it (a quiet tail the cursor vouches for),
 * nothing after it is archived, so the end of the archived WAL is that instant's state.
 */
function targetOf(stop: RecoveryStop, run: readonly SegmentManifest[]): RecoveryPlanPayload['target'] {
  if (stop.kind === 'lsn') {
    return { kind: 'lsn', lsn: stop.lsn };
  }
  if (stop.kind === 'name') {
    return { kind: 'name', name: stop.name };
  }
  const endOfSecond = Math.floor(Date.parse(stop.at) / 1000) * 1000 + 999;
  const covered = Math.max(...run.map((s) => Date.parse(s.coveredUntil)));
  return covered <= endOfSecond ? { kind: 'end' } : { kind: 'time', at: new Date(endOfSecond).toISOString() };
}

/** The WAL segments from the one holding the base's start to the end of their contiguous run, in replay order. */
function walFrom(base: BaseBackupManifest, chain: Chain): SegmentManifest[] {
  // Only where no segment continues can a run end; the furthest such end that the base reaches is its run's.
  const key = (c: LogCoordinates) => `${c.file}:${c.position}`;
  const starts = new Set(chain.segments.map((s) => key({ file: s.serverFile, position: s.startPosition })));
  const ends = [...new Map(chain.segments.filter((s) => !starts.has(key(s.next))).map((s) => [key(s.next), s.next])).values()].sort(
    (a, b) => compareLogCoordinates(b, a),
  );
  for (const end of ends) {
    if (compareLogCoordinates(end, base.stop) < 0) {
      break;
    }
    const link = segmentsBetween(base.start, end, chain.segments);
    if (link) {
      return link.segments.map((s) => chain.manifests.get(s.segmentId)).filter((m) => m !== undefined);
    }
  }
  return [];
}

/** LSNs a recovery can stop at: from each consistent base's stop LSN to the end of its WAL run, one line. */
function describeLsnRanges(consistent: readonly BaseBackupManifest[], chain: Chain): string {
  const byEnd = new Map<string, { from: bigint; to: bigint; timeline: number }>();
  for (const base of consistent) {
    const run = walFrom(base, chain);
    const last = run.at(-1);
    if (!last) {
      continue;
    }
    const to = lsnOfCoordinates(last.next, base.walSegmentBytes).lsn;
    const key = `${base.timeline}:${to}`;
    const from = parseLsn(base.stopLsn);
    const held = byEnd.get(key);
    byEnd.set(key, { from: held && held.from < from ? held.from : from, to, timeline: base.timeline });
  }
  const ranges = [...byEnd.values()].sort((a, b) => (a.from < b.from ? -1 : 1));
  return ranges.length === 0
    ? 'none'
    : ranges.map((r) => `${formatLsn(r.from)} to ${formatLsn(r.to)}${ranges.length > 1 ? ` (timeline ${r.timeline})` : ''}`).join(', ');
}
