import type { S3Client } from '@aws-sdk/client-s3';
import type { ChainInput, ChainSegment, FullPoint, LogCursor, SegmentManifest } from './logs';
import { LogCursorSchema, SegmentManifestSchema } from './logs';
import { classifySegmentKey, keys, type LogKind, logsPrefix, type Manifest, parseSegmentId } from './vault';
import { getJson, listObjects } from './vault-io';
import { type BaseBackupManifest, BaseBackupManifestSchema, BaseVerificationSchema, baseKeys, basesPrefix, classifyBaseKey } from './wal';

/**
 * The chain as the vault holds it, read the same way by Resolve (to plan and refuse) and by the restore task
 * (to re-plan from the full dump Resolve chose, with the segment list it never receives: ECS overrides are 8 KiB).
 */

/** A full dump's place in the chain, from its manifest: its snapshot's instant, log coordinates and GTID state. */
export function fullPointOf(manifest: Pick<Manifest, 'backupId' | 'startedAt' | 'position'>): FullPoint {
  const p = manifest.position;
  return {
    backupId: manifest.backupId,
    at: new Date(manifest.startedAt),
    ...(p?.binlogFile !== undefined && p.binlogPosition !== undefined && { position: { file: p.binlogFile, position: p.binlogPosition } }),
    ...(p?.gtid && { gtid: p.gtid }),
  };
}

const READS_AT_ONCE = 16;

/** Allowed between the clocks of the task that dumped and the archiver, for `since`. */
export const ARCHIVE_CLOCK_SKEW_MS = 60 * 60 * 1000;

/**
 * Every segment manifest of the database archived on or after the day of `since` less ARCHIVE_CLOCK_SKEW_MS
 * (segment ids carry the run's date), in no particular order; a data object without its manifest is not a
 * segment. A segment that holds a dump's coordinates or later events was archived after the dump started, so
 * `since` is the oldest dump of interest.
 */
export async function readSegmentManifests(
  s3: S3Client,
  bucket: string,
  database: string,
  kind: LogKind,
  since?: Date,
): Promise<SegmentManifest[]> {
  const from = since && new Date(since.getTime() - ARCHIVE_CLOCK_SKEW_MS);
  const day = from && Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  const ids: string[] = [];
  for await (const object of listObjects(s3, bucket, logsPrefix(database, kind))) {
    const entry = classifySegmentKey(object.key);
    if (entry?.file === 'manifest.json' && (day === undefined || parseSegmentId(entry.segmentId).archivedAt.getTime() >= day)) {
      ids.push(entry.segmentId);
    }
  }
  const manifests: SegmentManifest[] = [];
  for (let i = 0; i < ids.length; i += READS_AT_ONCE) {
    const batch = await Promise.all(
      ids.slice(i, i + READS_AT_ONCE).map((id) => getJson(s3, bucket, keys.segmentManifest(id), SegmentManifestSchema)),
    );
    manifests.push(...batch.flatMap((record) => (record ? [record.value] : [])));
  }
  return manifests;
}

export async function readLogCursor(s3: S3Client, bucket: string, database: string): Promise<LogCursor | undefined> {
  return (await getJson(s3, bucket, keys.logCursor(database), LogCursorSchema))?.value;
}

/** The chain input of `fulls`: their segments (from the oldest dump's day), the cursor, and the window. */
export async function readChain(
  s3: S3Client,
  bucket: string,
  database: string,
  options: { readonly kind: LogKind; readonly fulls: readonly FullPoint[]; readonly windowStart: Date },
): Promise<ChainInput & { readonly cursor?: LogCursor; readonly manifests: ReadonlyMap<string, SegmentManifest> }> {
  const oldest = options.fulls.reduce<Date | undefined>((min, f) => (!min || f.at < min ? f.at : min), undefined);
  const [manifests, cursor] = await Promise.all([
    readSegmentManifests(s3, bucket, database, options.kind, oldest),
    readLogCursor(s3, bucket, database),
  ]);
  const segments: ChainSegment[] = manifests;
  return {
    fulls: options.fulls,
    segments,
    windowStart: options.windowStart,
    ...(cursor && { cursor }),
    manifests: new Map(manifests.map((m) => [m.segmentId, m])),
  };
}

/**
 * Every base backup of the database that can start a chain: its manifest exists (written last, so the tar is whole)
 * and Verify has not failed it. Oldest first. Read by Resolve, the drill's Prepare, Retain and the watchdog alike.
 */
export async function readBaseManifests(s3: S3Client, bucket: string, database: string): Promise<BaseBackupManifest[]> {
  const found = new Map<string, Set<string>>();
  for await (const object of listObjects(s3, bucket, basesPrefix(database))) {
    const entry = classifyBaseKey(object.key);
    if (entry) {
      found.set(entry.baseId, (found.get(entry.baseId) ?? new Set()).add(entry.file));
    }
  }
  const ids = [...found]
    .filter(([, files]) => files.has('manifest.json'))
    .map(([id, files]) => ({ id, verified: files.has('verification.json') }));
  const bases: BaseBackupManifest[] = [];
  for (let i = 0; i < ids.length; i += READS_AT_ONCE) {
    const batch = await Promise.all(
      ids.slice(i, i + READS_AT_ONCE).map(async ({ id, verified }) => {
        const [manifest, verification] = await Promise.all([
          getJson(s3, bucket, baseKeys.manifest(id), BaseBackupManifestSchema),
          verified ? getJson(s3, bucket, baseKeys.verification(id), BaseVerificationSchema) : undefined,
        ]);
        return manifest && verification?.value.passed !== false ? [manifest.value] : [];
      }),
    );
    bases.push(...batch.flat());
  }
  return bases.sort((a, b) => Date.parse(a.finishedAt) - Date.parse(b.finishedAt) || (a.baseId < b.baseId ? -1 : 1));
}
