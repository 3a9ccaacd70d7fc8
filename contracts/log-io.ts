import type { S3Client } from '@aws-sdk/client-s3';
import { type SegmentManifest, SegmentManifestSchema } from './logs';
import { classifySegmentKey, keys, type LogKind, logsPrefix, parseSegmentId } from './vault';
import { getJson, listObjects } from './vault-io';

/** Reading a database's log segments from the vault: the drill's Prepare and the drill task share it. */

export interface SegmentListingOptions {
  /**
   * Only segments that can hold the coordinates of a dump started at this instant, or any later ones. Such a
   * segment holds events written after the dump's snapshot, so it was archived after the dump started; older
   * manifests are not read. An hour of margin allows for the clocks of the task and the archiver.
   */
  readonly forDumpsFrom?: Date;
}

/** The margin of `forDumpsFrom`. */
export const ARCHIVE_CLOCK_SKEW_MS = 60 * 60 * 1000;

/** Manifests read at once: a week of 5-minute segments is about 2,000, and each is one small GET. */
const PARALLEL_READS = 16;

/** The segments of `database` whose manifest exists (a segment without one is not a segment), in id order. */
export async function listSegmentManifests(
  s3: S3Client,
  bucket: string,
  database: string,
  kind: LogKind,
  options: SegmentListingOptions = {},
): Promise<SegmentManifest[]> {
  const since = options.forDumpsFrom ? options.forDumpsFrom.getTime() - ARCHIVE_CLOCK_SKEW_MS : Number.NEGATIVE_INFINITY;
  const ids: string[] = [];
  for await (const object of listObjects(s3, bucket, logsPrefix(database, kind))) {
    const entry = classifySegmentKey(object.key);
    if (entry?.file !== 'manifest.json') {
      continue;
    }
    try {
      if (parseSegmentId(entry.segmentId).archivedAt.getTime() >= since) {
        ids.push(entry.segmentId);
      }
    } catch {
      // A folder that is not a segmentId holds no segment.
    }
  }
  ids.sort();
  const manifests: SegmentManifest[] = [];
  for (let i = 0; i < ids.length; i += PARALLEL_READS) {
    const batch = await Promise.all(
      ids.slice(i, i + PARALLEL_READS).map((id) => getJson(s3, bucket, keys.segmentManifest(id), SegmentManifestSchema)),
    );
    manifests.push(...batch.flatMap((record) => (record ? [record.value] : [])));
  }
  return manifests;
}
