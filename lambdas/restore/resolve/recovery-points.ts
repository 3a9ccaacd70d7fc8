import type { S3Client } from '@aws-sdk/client-s3';
import { classifyKey, databasePrefix, keys, parseBackupId, VerificationSchema } from '../../../contracts/vault';
import { getJson, listObjects } from '../../../contracts/vault-io';

/**
 * Recovery points of one database as the vault shows them. A backup is a recovery point only once its
 * manifest exists (written last by the task) AND its verification record says verified: that is the promise
 * a restore or a drill is allowed to rely on.
 */
export interface StoredBackup {
  readonly backupId: string;
  readonly takenAt: Date;
  readonly hasManifest: boolean;
  readonly hasVerification: boolean;
}

export type PointStatus = { readonly usable: true } | { readonly usable: false; readonly reason: string };

/** Every backup folder of the database, oldest first, from one listing of its prefix. */
export async function listStoredBackups(s3: S3Client, bucket: string, database: string): Promise<StoredBackup[]> {
  const found = new Map<string, { manifest: boolean; verification: boolean }>();
  for await (const object of listObjects(s3, bucket, databasePrefix(database))) {
    const entry = classifyKey(object.key);
    if (!entry) {
      continue;
    }
    const files = found.get(entry.backupId) ?? { manifest: false, verification: false };
    files.manifest ||= entry.file === 'manifest.json';
    files.verification ||= entry.file === 'verification.json';
    found.set(entry.backupId, files);
  }
  return [...found.entries()]
    .flatMap(([backupId, files]) => {
      try {
        return [{ backupId, takenAt: parseBackupId(backupId).takenAt, hasManifest: files.manifest, hasVerification: files.verification }];
      } catch {
        return []; // a folder that is not a backupId is not a recovery point
      }
    })
    .sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime() || a.backupId.localeCompare(b.backupId));
}

/** Whether one backup may be restored, and if not, why (for the refusal message). */
export async function pointStatus(s3: S3Client, bucket: string, backup: StoredBackup): Promise<PointStatus> {
  if (!backup.hasManifest) {
    return { usable: false, reason: 'has no manifest: its dump failed or is still running, so it is not a backup' };
  }
  if (!backup.hasVerification) {
    return { usable: false, reason: 'is not verified yet (no verification.json)' };
  }
  const record = await getJson(s3, bucket, keys.verification(backup.backupId), VerificationSchema);
  if (!record?.value.verified) {
    const problems = record?.value.problems.join('; ');
    return { usable: false, reason: `failed verification${problems ? ` (${problems})` : ''}` };
  }
  return { usable: true };
}

export interface NearestOptions {
  /** How many verified points to list. @default 5 */
  readonly count?: number;
  /** Upper bound on verification records read, so a vault full of unverified leftovers stays cheap. @default 40 */
  readonly maxReads?: number;
}

/** The verified points closest in time to `around`, oldest first, for "nearest available points" messages. */
export async function nearestVerified(
  s3: S3Client,
  bucket: string,
  backups: readonly StoredBackup[],
  around: Date,
  options: NearestOptions = {},
): Promise<StoredBackup[]> {
  const count = options.count ?? 5;
  let reads = options.maxReads ?? 40;
  const byDistance = backups
    .filter((b) => b.hasManifest && b.hasVerification)
    .sort((a, b) => Math.abs(a.takenAt.getTime() - around.getTime()) - Math.abs(b.takenAt.getTime() - around.getTime()));
  const picked: StoredBackup[] = [];
  for (const backup of byDistance) {
    if (picked.length >= count || reads-- <= 0) {
      break;
    }
    if ((await pointStatus(s3, bucket, backup)).usable) {
      picked.push(backup);
    }
  }
  return picked.sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime());
}

/** The newest verified backup taken at or before `atOrBefore` (any time when left out), or undefined. */
export async function newestVerified(
  s3: S3Client,
  bucket: string,
  backups: readonly StoredBackup[],
  atOrBefore?: Date,
): Promise<StoredBackup | undefined> {
  for (let i = backups.length - 1; i >= 0; i--) {
    const backup = backups[i];
    if (atOrBefore && backup.takenAt.getTime() > atOrBefore.getTime()) {
      continue;
    }
    if ((await pointStatus(s3, bucket, backup)).usable) {
      return backup;
    }
  }
  return undefined;
}

export function describePoints(points: readonly StoredBackup[], database: string): string {
  if (points.length === 0) {
    return `none: the vault holds no verified backup of "${database}"`;
  }
  return points.map((p) => `${p.backupId} (taken ${p.takenAt.toISOString()})`).join(', ');
}
