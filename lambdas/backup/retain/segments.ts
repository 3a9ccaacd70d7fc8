import type { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import {
  type ChainInput,
  type ChainSegment,
  type FullPoint,
  LogCursorSchema,
  SegmentManifestSchema,
  SegmentVerificationSchema,
  segmentsToKeep,
} from '../../../contracts/logs';
import type { DatabasePlan } from '../../../contracts/plan';
import { classifySegmentKey, keys, LogPositionSchema, logsPrefix, parseBackupId, parseSegmentId } from '../../../contracts/vault';
import { getJson, listObjects } from '../../../contracts/vault-io';
import { mapLimit } from '../../../util/map-limit';
import { deleteFolders, type FolderListing } from './retain';

/** Only the log coordinates of a full dump's manifest: retention needs nothing else of it. */
const ManifestPositionSchema = z.looseObject({ position: LogPositionSchema.optional() });

export interface SegmentRetainDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly replica?: { readonly s3: S3Client; readonly bucket: string };
  readonly objectLock: boolean;
  readonly graceSeconds: number;
  readonly concurrency: number;
}

export interface SegmentRetainResult {
  readonly segments: number;
  readonly kept: number;
  readonly deleted: readonly string[];
  readonly skippedLocked: readonly { readonly segmentId: string; readonly reason: string }[];
}

async function listSegments(s3: S3Client, bucket: string, database: string): Promise<FolderListing> {
  const segments: FolderListing = new Map();
  for await (const object of listObjects(s3, bucket, logsPrefix(database))) {
    const classified = classifySegmentKey(object.key);
    if (classified) {
      const files = segments.get(classified.segmentId) ?? new Map<string, string>();
      files.set(classified.file, object.key);
      segments.set(classified.segmentId, files);
    }
  }
  return segments;
}

/**
 * Segment retention of one database after the GFS decisions (issue 12 step 7): keeps what `segmentsToKeep` needs
 * for the window and for the full dumps retention keeps (`keptBackupIds`), deletes the rest in both vaults, and
 * leaves a segment whose Object Lock still holds. A segment without a manifest (a killed run) goes after the grace
 * period like an incomplete backup. Reads segment manifests and verification records, and of each kept dump only
 * its log coordinates.
 */
export async function retainSegments(
  db: DatabasePlan,
  keptBackupIds: readonly string[],
  now: Date,
  dryRun: boolean,
  deps: SegmentRetainDeps,
  /**
   * The chain starts retention keeps, when they are not full dumps: PostgreSQL's kept bases (basePointOf), chosen
   * from the chain as read here (segments, failed ones, cursor, window), so their retention reads it only once.
   */
  chainStarts?: (chain: ChainInput) => readonly FullPoint[],
): Promise<SegmentRetainResult> {
  if (!db.logs) {
    return { segments: 0, kept: 0, deleted: [], skippedLocked: [] };
  }
  const listing = await listSegments(deps.s3, deps.bucket, db.name);
  const ids = [...listing.keys()];
  const manifests = (
    await mapLimit(
      ids.filter((id) => listing.get(id)?.has('manifest.json')),
      deps.concurrency,
      async (id) => (await getJson(deps.s3, deps.bucket, keys.segmentManifest(id), SegmentManifestSchema))?.value,
    )
  ).filter((m) => m !== undefined);
  const failed = (
    await mapLimit(
      ids.filter((id) => listing.get(id)?.has('verification.json')),
      deps.concurrency,
      async (id) => (await getJson(deps.s3, deps.bucket, keys.segmentVerification(id), SegmentVerificationSchema))?.value,
    )
  )
    .filter((v) => v !== undefined && !v.passed)
    .map((v) => v?.segmentId as string);
  const cursor = (await getJson(deps.s3, deps.bucket, keys.logCursor(db.name), LogCursorSchema))?.value;
  const chain: ChainInput = {
    fulls: [],
    segments: manifests as ChainSegment[],
    windowStart: new Date(now.getTime() - db.logs.windowDays * 86_400_000),
    ...(cursor && { cursor }),
    failedSegmentIds: failed,
  };
  const fulls: readonly FullPoint[] = chainStarts
    ? chainStarts(chain)
    : await mapLimit(keptBackupIds, deps.concurrency, async (backupId) => {
        const position = (await getJson(deps.s3, deps.bucket, keys.manifest(backupId), ManifestPositionSchema))?.value.position;
        return {
          backupId,
          at: parseBackupId(backupId).takenAt,
          ...(position?.binlogFile !== undefined &&
            position.binlogPosition !== undefined && { position: { file: position.binlogFile, position: position.binlogPosition } }),
        };
      });
  const keep = segmentsToKeep({ ...chain, fulls });
  const graceEnd = now.getTime() - deps.graceSeconds * 1000;
  const drop = ids.filter((id) =>
    listing.get(id)?.has('manifest.json') ? !keep.has(id) : parseSegmentId(id).archivedAt.getTime() < graceEnd,
  );

  const vaults = [{ s3: deps.s3, bucket: deps.bucket, listing }];
  if (deps.replica) {
    vaults.push({ ...deps.replica, listing: await listSegments(deps.replica.s3, deps.replica.bucket, db.name) });
  }
  const removed = await deleteFolders(drop, vaults, { ...deps, now, dryRun });
  const deleted = removed.deleted;
  const skippedLocked = removed.skippedLocked.map(({ id, reason }) => ({ segmentId: id, reason }));
  return { segments: ids.length, kept: ids.length - drop.length, deleted: deleted.sort(), skippedLocked };
}
