import { ReplicationError } from '../../../contracts/errors';
import { SegmentManifestSchema, SegmentVerificationSchema } from '../../../contracts/logs';
import { METRIC } from '../../../contracts/metrics';
import { classifySegmentKey, keys, LOG_KINDS, logsPrefix } from '../../../contracts/vault';
import { getJson, listObjects } from '../../../contracts/vault-io';
import { type CopyItem, copyItem, describeRecord, flagBreach, headReplica, type ReplicateDeps } from './replicate';

const DAY_MS = 86_400_000;
/** Date folders looked at: today's and yesterday's, so a segment archived just before midnight is not missed. */
const DAYS_LISTED = 2;

export interface ReplicateSegmentsResult {
  readonly bucket: string;
  /** Segments copied by this run. */
  readonly copied: number;
  /** Segments whose manifest the replica already holds. */
  readonly alreadyPresent: number;
  /** Segments left in the primary only: no verification record yet, or one that failed. */
  readonly unverified: readonly string[];
  readonly bytes: number;
}

/**
 * Copies the database's recent segments into the replica vault, as `replicate` copies a backup: data, then
 * verification.json, then manifest.json, each checked at the destination, so the replica shows a segment only
 * once its data is there. A segment whose manifest is already in the replica is skipped without reading it, and
 * one without a passing verification stays behind: the next run, up to a day later, picks it up once verified.
 */
export async function replicateSegments(database: string, deps: ReplicateDeps): Promise<ReplicateSegmentsResult> {
  const now = (deps.now ?? (() => new Date()))();
  const ids: string[] = [];
  for (const kind of LOG_KINDS) {
    for (let back = DAYS_LISTED - 1; back >= 0; back--) {
      const day = new Date(now.getTime() - back * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '/');
      for await (const object of listObjects(deps.source, deps.sourceBucket, `${logsPrefix(database, kind)}${day}/`)) {
        const entry = classifySegmentKey(object.key);
        if (entry?.file === 'manifest.json') {
          ids.push(entry.segmentId);
        }
      }
    }
  }

  let copied = 0;
  let alreadyPresent = 0;
  let bytes = 0;
  const unverified: string[] = [];
  for (const segmentId of ids.sort()) {
    if (await headReplica(deps, keys.segmentManifest(segmentId))) {
      alreadyPresent++;
      continue;
    }
    const manifest = (await getJson(deps.source, deps.sourceBucket, keys.segmentManifest(segmentId), SegmentManifestSchema))?.value;
    const verification = (await getJson(deps.source, deps.sourceBucket, keys.segmentVerification(segmentId), SegmentVerificationSchema))
      ?.value;
    if (!manifest || !verification?.passed) {
      unverified.push(segmentId);
      continue;
    }
    const items: CopyItem[] = [
      { key: manifest.artifact.key, bytes: manifest.artifact.bytes, sha256: manifest.artifact.sha256 },
      await describeRecord(deps, keys.segmentVerification(segmentId)),
      await describeRecord(deps, keys.segmentManifest(segmentId)),
    ];
    for (const item of items) {
      const outcome = await copyItem(deps, item);
      if (outcome === 'mismatch') {
        const engine = deps.plan?.databases[database]?.engine;
        deps.metrics?.addDimensions({ Database: database, ...(engine && { Engine: engine }) });
        deps.metrics?.addMetric(METRIC.replicationFailed, 'Count', 1);
        flagBreach(deps, database);
        throw new ReplicationError(
          `${segmentId}: the copy of ${item.key} in ${deps.replicaBucket} does not match the source (expected ${item.bytes} bytes, sha256 ${item.sha256}); the copy was removed, retry the execution`,
        );
      }
      bytes += outcome === 'copied' ? item.bytes : 0;
    }
    copied++;
  }
  return { bucket: deps.replicaBucket, copied, alreadyPresent, unverified, bytes };
}
