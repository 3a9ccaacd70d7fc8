import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SegmentManifest } from '../../../contracts/logs';
import type { DatabasePlan } from '../../../contracts/plan';
import { keys, mintSegmentId } from '../../../contracts/vault';
import {
  type BaseBackupManifest,
  type BaseVerification,
  baseKeys,
  DEFAULT_WAL_SEGMENT_BYTES,
  formatLsn,
  lsnOfCoordinates,
  mintBaseId,
  nextWalFile,
  walCoordinates,
} from '../../../contracts/wal';
import { testPlan } from '../fixtures';

/** Base backup and WAL records of `orders` for the base Lambdas' tests, written as the base-backup and archive tasks write them. */

export const ordersWithBases: DatabasePlan = { ...testPlan().databases.orders, logs: { kind: 'wal', intervalSeconds: 300, windowDays: 7 } };

export function walFile(n: number): string {
  return `00000001000000000000${n.toString(16).toUpperCase().padStart(4, '0')}`;
}

export async function put(s3: S3Client, bucket: string, key: string, body: unknown): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    }),
  );
}

/** What sets one base manifest apart from another in the tests; the rest is what pg_basebackup on PostgreSQL 15.8 records. */
export interface BaseManifestOptions {
  readonly database: string;
  /** It started a minute before, which mints its baseId. */
  readonly finishedAt: Date;
  /** Timeline 1, default 16 MiB WAL files. */
  readonly startLsn: bigint;
  readonly stopLsn: bigint;
  readonly artifact: { bytes: number; sha256: string; uncompressedBytes: number };
  readonly backupManifest: { bytes: number; sha256: string };
  readonly toolArgs?: string[];
}

/** A base manifest as the base-backup task writes it. */
export function baseManifestOf(options: BaseManifestOptions): BaseBackupManifest {
  const { database, finishedAt, startLsn, stopLsn } = options;
  const baseId = mintBaseId(database, new Date(finishedAt.getTime() - 60_000));
  return {
    schemaVersion: 1,
    baseId,
    database,
    kind: 'base',
    trigger: 'schedule',
    engine: { name: 'postgres', serverVersion: '15.8', majorVersion: 15 },
    timeline: 1,
    walSegmentBytes: DEFAULT_WAL_SEGMENT_BYTES,
    startLsn: formatLsn(startLsn),
    stopLsn: formatLsn(stopLsn),
    start: walCoordinates(1, startLsn),
    stop: walCoordinates(1, stopLsn),
    slot: `strongbox_${database}`,
    artifact: {
      key: baseKeys.artifact(baseId),
      format: 'tar',
      ...options.artifact,
      compression: { algorithm: 'zstd', level: 3 },
      parts: 1,
      partSizeBytes: 8 * 1024 * 1024,
    },
    backupManifest: { key: baseKeys.backupManifest(baseId), ...options.backupManifest },
    tool: { name: 'pg_basebackup', version: '15.8', args: options.toolArgs ?? ['-Ft', '-X', 'none'] },
    startedAt: new Date(finishedAt.getTime() - 60_000).toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: 60,
  };
}

/** A base manifest of orders finished at `at` whose WAL starts in `startFile` at offset 40. */
export function baseManifest(
  at: Date,
  startFile: string,
  artifact: { bytes: number; sha256: string },
  backupManifest?: { bytes: number; sha256: string },
): BaseBackupManifest {
  const startLsn = lsnOfCoordinates({ file: startFile, position: 40 }).lsn;
  return baseManifestOf({
    database: 'orders',
    finishedAt: at,
    startLsn,
    stopLsn: startLsn + 1000n,
    artifact: { ...artifact, uncompressedBytes: artifact.bytes * 3 },
    backupManifest: { bytes: backupManifest?.bytes ?? 2, sha256: backupManifest?.sha256 ?? 'b'.repeat(64) },
  });
}

/** Writes a base's tar, backup_manifest and manifest (and a verification record when `passed` is given). */
export async function putBase(s3: S3Client, bucket: string, manifest: BaseBackupManifest, passed?: boolean): Promise<string> {
  await put(s3, bucket, manifest.artifact.key, 'tar');
  await put(s3, bucket, manifest.backupManifest.key, '{}');
  await put(s3, bucket, baseKeys.manifest(manifest.baseId), manifest);
  if (passed !== undefined) {
    const record: BaseVerification = {
      schemaVersion: 1,
      baseId: manifest.baseId,
      passed,
      verifiedAt: manifest.finishedAt,
      checks: { bytes: passed, sha256: passed, backupManifest: passed },
      ...(!passed && { reason: 'sha256' }),
    };
    await put(s3, bucket, baseKeys.verification(manifest.baseId), record);
  }
  return manifest.baseId;
}

/** One whole WAL file archived at `at` (closed: the next starts in the following file). */
export async function putWal(s3: S3Client, bucket: string, file: string, at: Date): Promise<string> {
  const segmentId = mintSegmentId('orders', 'wal', at, file, 0);
  const data = Buffer.from('zstd');
  const manifest: SegmentManifest = {
    schemaVersion: 1,
    segmentId,
    database: 'orders',
    kind: 'wal',
    engine: { serverVersion: '15.8' },
    serverFile: file,
    startPosition: 0,
    endPosition: DEFAULT_WAL_SEGMENT_BYTES,
    closed: true,
    next: { file: nextWalFile(file), position: 0 },
    coveredUntil: at.toISOString(),
    artifact: {
      key: keys.segmentData(segmentId),
      bytes: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
      uncompressedBytes: DEFAULT_WAL_SEGMENT_BYTES,
      compression: { algorithm: 'zstd', level: 3 },
    },
    tool: { name: 'pg_receivewal', version: '15.8', args: [] },
    archivedAt: at.toISOString(),
  };
  await put(s3, bucket, keys.segmentData(segmentId), data);
  await put(s3, bucket, keys.segmentManifest(segmentId), manifest);
  return segmentId;
}
