import type { S3Client } from '@aws-sdk/client-s3';
import { InputValidationError } from '../../../contracts/errors';
import { readBaseManifests } from '../../../contracts/log-chain';
import { type ChainInput, restorableRanges } from '../../../contracts/logs';
import type { Plan } from '../../../contracts/plan';
import { parseBackupId } from '../../../contracts/vault';
import { listObjects } from '../../../contracts/vault-io';
import { basePointOf, basesPrefix, classifyBaseKey } from '../../../contracts/wal';
import { deleteFolders, type FolderListing } from './retain';
import { retainSegments, type SegmentRetainDeps, type SegmentRetainResult } from './segments';

const REPORT_LIMIT = 100;
const DAY_MS = 86_400_000;

export interface BaseRetainResult {
  readonly dryRun: boolean;
  readonly bases: number;
  readonly kept: number;
  readonly deleted: readonly string[];
  readonly skippedLocked: readonly { readonly baseId: string; readonly reason: string }[];
  /** The WAL segments after the base decisions (lists cut at 100, as the backup Retain's). */
  readonly segments: SegmentRetainResult;
}

/**
 * Which bases start the chains of the window: every base restorable inside it, and of those restorable at or before
 * its start, each that replays into the window further than every newer one (newest first). That is usually just
 * the newest base before the window, which is what reaches its first instant; an older one stays only when a break
 * keeps the newer ones short. planReplay prefers the newest base, so the dropped ones are never the chosen start.
 * `input.fulls` are the usable bases (readBaseManifests, basePointOf).
 */
export function basesToKeep(input: ChainInput): Set<string> {
  const start = Math.ceil(input.windowStart.getTime() / 1000) * 1000;
  const second = (at: Date) => Math.floor(at.getTime() / 1000) * 1000;
  const keep = new Set(input.fulls.filter((b) => second(b.at) > start).map((b) => b.backupId));
  let reached = Number.NEGATIVE_INFINITY;
  for (const base of input.fulls.filter((b) => second(b.at) <= start).sort((a, b) => b.at.getTime() - a.at.getTime())) {
    const into = restorableRanges({ ...input, fulls: [base] }).find((r) => Date.parse(r.to) >= start);
    const end = into ? Date.parse(into.to) : Number.NEGATIVE_INFINITY;
    if (end > reached) {
      keep.add(base.backupId);
      reached = end;
    }
  }
  return keep;
}

async function listBases(s3: S3Client, bucket: string, database: string): Promise<FolderListing> {
  const bases: FolderListing = new Map();
  for await (const object of listObjects(s3, bucket, basesPrefix(database))) {
    const entry = classifyBaseKey(object.key);
    if (entry) {
      bases.set(entry.baseId, (bases.get(entry.baseId) ?? new Map<string, string>()).set(entry.file, object.key));
    }
  }
  return bases;
}

/**
 * Retention of one PostgreSQL database's physical chain, in both vaults: the WAL segments the kept bases and the
 * window need (segmentsToKeep with the kept bases as chain starts), then the bases basesToKeep does not keep. WAL
 * goes first: a run stopped between the two leaves only bases no restore needs, which the next run removes. A base
 * that failed verification stays while it is in the window (the evidence), then goes; one without a manifest (a
 * killed run) goes after the grace period, like an incomplete backup. A base whose Object Lock still holds is left
 * and reported.
 */
export async function retainBases(
  request: { readonly database: string; readonly dryRun: boolean; readonly now?: Date },
  deps: SegmentRetainDeps & { readonly plan: Plan },
): Promise<BaseRetainResult> {
  const db = deps.plan.databases[request.database];
  if (db?.logs?.kind !== 'wal') {
    throw new InputValidationError(
      `Invalid base retain input:\ndatabase: found ${JSON.stringify(request.database)}; expected a postgres database with a logs block`,
    );
  }
  const now = request.now ?? new Date();
  const windowStart = new Date(now.getTime() - db.logs.windowDays * DAY_MS);
  const [listing, usable] = await Promise.all([listBases(deps.s3, deps.bucket, db.name), readBaseManifests(deps.s3, deps.bucket, db.name)]);
  const starts = usable.map(basePointOf);
  // WAL first: its retention reads the chain (segments, failed ones, cursor), which decides the bases to keep too.
  let keep = new Set<string>();
  const segments = await retainSegments(db, [], now, request.dryRun, deps, (chain) => {
    keep = basesToKeep({ ...chain, fulls: starts });
    return starts.filter((s) => keep.has(s.backupId));
  });
  const graceEnd = now.getTime() - deps.graceSeconds * 1000;
  const usableIds = new Set(usable.map((b) => b.baseId));
  const drop = [...listing.keys()].filter((id) => {
    if (usableIds.has(id)) {
      return !keep.has(id);
    }
    const takenAt = parseBackupId(id).takenAt.getTime();
    // Failed verification (manifest present, not usable): evidence while in the window. No manifest: a killed run.
    return listing.get(id)?.has('manifest.json') ? takenAt < windowStart.getTime() : takenAt < graceEnd;
  });

  const vaults = [{ s3: deps.s3, bucket: deps.bucket, listing }];
  if (deps.replica) {
    vaults.push({ ...deps.replica, listing: await listBases(deps.replica.s3, deps.replica.bucket, db.name) });
  }
  const removed = await deleteFolders(drop, vaults, { ...deps, now, dryRun: request.dryRun });
  const deleted = removed.deleted;
  const skippedLocked = removed.skippedLocked.map(({ id, reason }) => ({ baseId: id, reason }));
  return {
    dryRun: request.dryRun,
    bases: listing.size,
    kept: listing.size - deleted.length,
    deleted: deleted.sort().slice(0, REPORT_LIMIT),
    skippedLocked: skippedLocked.slice(0, REPORT_LIMIT),
    segments: {
      ...segments,
      deleted: segments.deleted.slice(0, REPORT_LIMIT),
      skippedLocked: segments.skippedLocked.slice(0, REPORT_LIMIT),
    },
  };
}
