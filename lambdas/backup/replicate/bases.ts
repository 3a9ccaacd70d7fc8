import { ReplicationError } from '../../../contracts/errors';
import { METRIC } from '../../../contracts/metrics';
import type { BaseRef, ReplicateResult } from '../../../contracts/payloads/backup';
import { getJson } from '../../../contracts/vault-io';
import { BaseBackupManifestSchema, BaseVerificationSchema, baseKeys } from '../../../contracts/wal';
import { type CopyItem, copyItem, describeRecord, flagBreach, type ReplicateDeps } from './replicate';

/**
 * Server-side copy of one verified base into the replica vault, as `replicate` copies a backup: the tar, then
 * PostgreSQL's backup_manifest, then verification.json, then manifest.json last, each checked at the destination,
 * so the replica shows a base only once all of it is there. The WAL it needs is copied by ReplicateSegments.
 */
export async function replicateBase(ref: BaseRef, deps: ReplicateDeps): Promise<ReplicateResult> {
  const now = deps.now ?? (() => new Date());
  const manifest = (await getJson(deps.source, deps.sourceBucket, baseKeys.manifest(ref.baseId), BaseBackupManifestSchema))?.value;
  const verification = (await getJson(deps.source, deps.sourceBucket, baseKeys.verification(ref.baseId), BaseVerificationSchema))?.value;
  if (!manifest || !verification?.passed) {
    throw new ReplicationError(
      `${ref.baseId}: refusing to replicate a base that is not verified (manifest ${manifest ? 'present' : 'missing'}, verification ${verification ? `passed=${verification.passed}` : 'missing'})`,
    );
  }
  const items: CopyItem[] = [
    { key: manifest.artifact.key, bytes: manifest.artifact.bytes, sha256: manifest.artifact.sha256 },
    { key: manifest.backupManifest.key, bytes: manifest.backupManifest.bytes, sha256: manifest.backupManifest.sha256 },
    await describeRecord(deps, baseKeys.verification(ref.baseId)),
    await describeRecord(deps, baseKeys.manifest(ref.baseId)),
  ];
  let copied = 0;
  let alreadyPresent = 0;
  let bytes = 0;
  for (const item of items) {
    const outcome = await copyItem(deps, item);
    if (outcome === 'mismatch') {
      deps.metrics?.addDimensions({ Database: ref.database, Engine: 'postgres' });
      deps.metrics?.addMetric(METRIC.replicationFailed, 'Count', 1);
      flagBreach(deps, ref.database);
      throw new ReplicationError(
        `${ref.baseId}: the copy of ${item.key} in ${deps.replicaBucket} does not match the source (expected ${item.bytes} bytes, sha256 ${item.sha256}); the copy was removed, retry the execution`,
      );
    }
    if (outcome === 'present') {
      alreadyPresent++;
    } else {
      copied++;
      bytes += item.bytes;
    }
  }
  const lagSeconds = Math.max(0, (now().getTime() - Date.parse(manifest.finishedAt)) / 1000);
  return { bucket: deps.replicaBucket, copied, alreadyPresent, bytes, lagSeconds };
}
