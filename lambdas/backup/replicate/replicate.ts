import type { Metrics } from '@aws-lambda-powertools/metrics';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { ReplicationError } from '../../../contracts/errors';
import { breachTarget, METRIC, publishBreach } from '../../../contracts/metrics';
import type { BackupRef, ReplicateResult } from '../../../contracts/payloads/backup';
import type { Plan } from '../../../contracts/plan';
import { keys, ManifestSchema, VerificationSchema } from '../../../contracts/vault';
import { base64ToHex, getJson, isNotFound, streamSha256 } from '../../../contracts/vault-io';
import { mapLimit } from '../../../util/map-limit';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export interface ReplicateDeps {
  /** Client of the primary region (reads the source). */
  readonly source: S3Client;
  /** Client of the replica region (writes the copy; server-side copies are sent to the destination region). */
  readonly replica: S3Client;
  readonly sourceBucket: string;
  readonly replicaBucket: string;
  /** KMS key (ARN or alias) of the replica region that encrypts the copies. */
  readonly replicaKmsKey: string;
  readonly now?: () => Date;
  readonly metrics?: Metrics;
  /** The plan, for the database's tier and RPO: a copy lagging beyond the RPO is a breach (after a regional loss it could not meet it). */
  readonly plan?: Plan;
  /** CopyObject handles at most 5 GB; larger objects go multipart. Lowered by tests only. */
  readonly multipartThresholdBytes?: number;
  readonly minPartSizeBytes?: number;
  readonly partConcurrency?: number;
}

export interface CopyItem {
  readonly key: string;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Server-side copy of one verified backup into the replica vault: data first (with PostgreSQL's roles
 * artifact), then verification.json, then
 * manifest.json, so the replica shows a backup only once its data is there (the same "manifest last" rule as the
 * dump). Every copy is checked against the source's SHA-256 at the destination, and a destination that already
 * matches is left alone, so a retried execution does not copy again.
 */
export async function replicate(ref: BackupRef, deps: ReplicateDeps): Promise<ReplicateResult> {
  const now = deps.now ?? (() => new Date());
  const manifest = (await getJson(deps.source, deps.sourceBucket, keys.manifest(ref.backupId), ManifestSchema))?.value;
  const verification = (await getJson(deps.source, deps.sourceBucket, keys.verification(ref.backupId), VerificationSchema))?.value;
  if (!manifest || !verification?.verified) {
    throw new ReplicationError(
      `${ref.backupId}: refusing to replicate a backup that is not verified (manifest ${manifest ? 'present' : 'missing'}, verification ${verification ? `verified=${verification.verified}` : 'missing'})`,
    );
  }

  const items: CopyItem[] = [
    { key: manifest.artifact.key, bytes: manifest.artifact.bytes, sha256: manifest.artifact.sha256 },
    ...(manifest.roles ? [{ key: manifest.roles.key, bytes: manifest.roles.bytes, sha256: manifest.roles.sha256 }] : []),
    await describeRecord(deps, keys.verification(ref.backupId)),
    await describeRecord(deps, keys.manifest(ref.backupId)),
  ];

  let copied = 0;
  let alreadyPresent = 0;
  let bytes = 0;
  for (const item of items) {
    const outcome = await copyItem(deps, item);
    if (outcome === 'present') {
      alreadyPresent++;
      continue;
    }
    if (outcome === 'mismatch') {
      deps.metrics?.addDimensions({ Database: ref.database, Engine: manifest.engine.name });
      deps.metrics?.addMetric(METRIC.replicationFailed, 'Count', 1);
      flagBreach(deps, ref.database);
      throw new ReplicationError(
        `${ref.backupId}: the copy of ${item.key} in ${deps.replicaBucket} does not match the source (expected ${item.bytes} bytes, sha256 ${item.sha256}); the copy was removed, retry the execution`,
      );
    }
    copied++;
    bytes += item.bytes;
  }

  const lagSeconds = Math.max(0, (now().getTime() - new Date(manifest.finishedAt).getTime()) / 1000);
  if (deps.metrics) {
    deps.metrics.addDimensions({ Database: ref.database, Engine: manifest.engine.name });
    deps.metrics.addMetric(METRIC.replicationLagSeconds, 'Seconds', lagSeconds);
  }
  const rpoSeconds = deps.plan?.databases[ref.database]?.rpoSeconds;
  if (rpoSeconds !== undefined && lagSeconds > rpoSeconds) {
    flagBreach(deps, ref.database);
  }
  return { bucket: deps.replicaBucket, copied, alreadyPresent, bytes, lagSeconds };
}

/**
 * One object to the replica: left alone when the destination already matches the source, otherwise copied
 * server-side and checked at the destination; a copy that does not match is removed ('mismatch').
 */
export async function copyItem(deps: ReplicateDeps, item: CopyItem): Promise<'copied' | 'present' | 'mismatch'> {
  const existing = await headReplica(deps, item.key);
  if (existing && existing.ContentLength === item.bytes && (await matchesSource(deps, item, existing))) {
    return 'present';
  }
  if (item.bytes >= (deps.multipartThresholdBytes ?? 5 * GiB)) {
    await multipartCopy(deps, item);
  } else {
    await deps.replica.send(
      new CopyObjectCommand({
        Bucket: deps.replicaBucket,
        Key: item.key,
        CopySource: copySource(deps.sourceBucket, item.key),
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: deps.replicaKmsKey,
        BucketKeyEnabled: true,
        ChecksumAlgorithm: 'SHA256',
        MetadataDirective: 'COPY',
      }),
    );
  }
  const written = await headReplica(deps, item.key);
  if (!written || written.ContentLength !== item.bytes || !(await matchesSource(deps, item, written))) {
    await deps.replica.send(new DeleteObjectCommand({ Bucket: deps.replicaBucket, Key: item.key }));
    return 'mismatch';
  }
  return 'copied';
}

export async function describeRecord(deps: ReplicateDeps, key: string): Promise<CopyItem> {
  const { sha256, bytes } = await streamSha256(deps.source, deps.sourceBucket, key);
  return { key, bytes, sha256 };
}

function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export async function headReplica(deps: ReplicateDeps, key: string): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await deps.replica.send(new HeadObjectCommand({ Bucket: deps.replicaBucket, Key: key, ChecksumMode: 'ENABLED' }));
  } catch (error) {
    if (isNotFound(error)) {
      return undefined;
    }
    throw error;
  }
}

const FULL_OBJECT_CRCS = ['ChecksumCRC64NVME', 'ChecksumCRC32C', 'ChecksumCRC32'] as const;

/**
 * Whether the destination holds the source's bytes, cheapest proof first:
 * 1. the destination's full-object SHA-256 (CopyObject with ChecksumAlgorithm SHA256 stores one) equals the
 *    source's SHA-256 from the manifest or the record's hash;
 * 2. the destination and the source carry the same full-object CRC (a multipart copy stores CRC64NVME);
 * 3. otherwise (s3rver, objects without checksums) the destination is streamed and hashed.
 */
async function matchesSource(deps: ReplicateDeps, item: CopyItem, destination: HeadObjectCommandOutput): Promise<boolean> {
  const composite = destination.ChecksumType === 'COMPOSITE';
  if (!composite && destination.ChecksumSHA256 && !destination.ChecksumSHA256.includes('-')) {
    return base64ToHex(destination.ChecksumSHA256) === item.sha256;
  }
  const crc = FULL_OBJECT_CRCS.find((name) => destination[name] && !composite);
  if (crc) {
    const source = await deps.source.send(new HeadObjectCommand({ Bucket: deps.sourceBucket, Key: item.key, ChecksumMode: 'ENABLED' }));
    if (source[crc] && source.ChecksumType !== 'COMPOSITE') {
      return source[crc] === destination[crc];
    }
  }
  const reread = await streamSha256(deps.replica, deps.replicaBucket, item.key);
  return reread.sha256 === item.sha256 && reread.bytes === item.bytes;
}

/**
 * UploadPartCopy with parallel parts. Parts are at least 256 MiB and large enough to stay within S3's
 * 10,000-part limit (a 5 TB object gets ~525 MiB parts); the upload asks for a full-object CRC64NVME so the
 * result can be compared with the source without reading it back.
 */
async function multipartCopy(deps: ReplicateDeps, item: CopyItem): Promise<void> {
  const { partSize, partCount } = partLayout(item.bytes, deps.minPartSizeBytes);
  const { UploadId } = await deps.replica.send(
    new CreateMultipartUploadCommand({
      Bucket: deps.replicaBucket,
      Key: item.key,
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: deps.replicaKmsKey,
      BucketKeyEnabled: true,
      ChecksumAlgorithm: 'CRC64NVME',
      ChecksumType: 'FULL_OBJECT',
    }),
  );
  try {
    const parts = await mapLimit(
      Array.from({ length: partCount }, (_, i) => i),
      deps.partConcurrency ?? 8,
      async (index) => {
        const start = index * partSize;
        const end = Math.min(item.bytes, start + partSize) - 1;
        const result = await deps.replica.send(
          new UploadPartCopyCommand({
            Bucket: deps.replicaBucket,
            Key: item.key,
            UploadId,
            PartNumber: index + 1,
            CopySource: copySource(deps.sourceBucket, item.key),
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        return {
          PartNumber: index + 1,
          ETag: result.CopyPartResult?.ETag,
          ...(result.CopyPartResult?.ChecksumCRC64NVME ? { ChecksumCRC64NVME: result.CopyPartResult.ChecksumCRC64NVME } : {}),
        };
      },
    );
    await deps.replica.send(
      new CompleteMultipartUploadCommand({
        Bucket: deps.replicaBucket,
        Key: item.key,
        UploadId,
        ChecksumType: 'FULL_OBJECT',
        MultipartUpload: { Parts: parts },
      }),
    );
  } catch (error) {
    await deps.replica.send(new AbortMultipartUploadCommand({ Bucket: deps.replicaBucket, Key: item.key, UploadId }));
    throw error;
  }
}

/** Exposed for the tests: the part layout of a multipart copy. */
export function partLayout(bytes: number, minPartSizeBytes = 256 * MiB): { partSize: number; partCount: number } {
  const partSize = Math.max(minPartSizeBytes, Math.ceil(bytes / 10_000));
  return { partSize, partCount: Math.max(1, Math.ceil(bytes / partSize)) };
}

export function flagBreach(deps: ReplicateDeps, database: string): void {
  const target = breachTarget(deps.plan, database);
  if (deps.metrics && target) {
    publishBreach(deps.metrics, target, true);
  }
}
