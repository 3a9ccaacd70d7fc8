import { HeadObjectCommand, type HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { type RestoreAudit, RestoreAuditSchema } from '../../contracts/payloads/restore';
import {
  classifyKey,
  type DrillRecord,
  DrillRecordSchema,
  databasePrefix,
  type FailureRecord,
  FailureRecordSchema,
  keys,
  type Manifest,
  ManifestSchema,
  parseBackupId,
  type Verification,
  VerificationSchema,
} from '../../contracts/vault';
import { getJson, isNotFound, type ListedObject, listObjects, RecordFormatError } from '../../contracts/vault-io';
import type { BackupStatus } from '../../lambdas/backup/retain/planner';
import { mapLimit } from '../../util/map-limit';
import type { VaultAccess, VaultSide } from '../backends/vault';

/**
 * Everything the vault says about one database, read once per command: the backup folders with their records,
 * the restore audit trail and the replica's copies. Every record is read with its contract schema; a record that
 * does not parse is reported as a problem of that backup rather than stopping the command.
 */

export interface BackupFacts {
  readonly backupId: string;
  readonly database: string;
  readonly takenAt: Date;
  /** Every object of the folder, by file name. */
  readonly objects: ReadonlyMap<string, ListedObject>;
  readonly artifact?: ListedObject;
  readonly manifest?: Manifest;
  readonly verification?: Verification;
  readonly drill?: DrillRecord;
  readonly failure?: FailureRecord;
  /** As Retain sees it: verified, failed (verification said no, or unreadable), unverified, incomplete (no manifest). */
  readonly status: BackupStatus;
  readonly problems: readonly string[];
}

const CONCURRENCY = 16;

/** Folders under backups/<database>/ of one vault side, by backupId. */
export async function listFolders(side: VaultSide, database: string): Promise<Map<string, Map<string, ListedObject>>> {
  const folders = new Map<string, Map<string, ListedObject>>();
  for await (const object of listObjects(side.s3, side.bucket, databasePrefix(database))) {
    const entry = classifyKey(object.key);
    if (!entry) {
      continue;
    }
    let files = folders.get(entry.backupId);
    if (!files) {
      files = new Map();
      folders.set(entry.backupId, files);
    }
    files.set(entry.file, object);
  }
  return folders;
}

async function readRecord<T>(read: () => Promise<{ value: T } | undefined>, problems: string[]): Promise<T | undefined> {
  try {
    return (await read())?.value;
  } catch (error) {
    if (error instanceof RecordFormatError) {
      problems.push(error.message.split('\n').join('; '));
      return undefined;
    }
    throw error;
  }
}

/** All backups of a database in the primary vault, oldest first, with their records. */
export async function loadBackups(vault: VaultAccess, database: string): Promise<BackupFacts[]> {
  const folders = [...(await listFolders(vault.primary, database)).entries()].flatMap(([backupId, objects]) => {
    try {
      return [{ backupId, objects, takenAt: parseBackupId(backupId).takenAt }];
    } catch {
      return []; // a folder whose name is not a backupId is not a backup
    }
  });
  folders.sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime() || a.backupId.localeCompare(b.backupId));
  return mapLimit(folders, CONCURRENCY, ({ backupId, objects }) => readFolder(vault, backupId, objects));
}

/** One backup folder's records, read with their schemas. */
export async function readFolder(vault: VaultAccess, backupId: string, objects: ReadonlyMap<string, ListedObject>): Promise<BackupFacts> {
  const { s3, bucket } = vault.primary;
  const problems: string[] = [];
  const has = (file: string) => objects.has(file);
  const manifest = has('manifest.json')
    ? await readRecord(() => getJson(s3, bucket, keys.manifest(backupId), ManifestSchema), problems)
    : undefined;
  const verification = has('verification.json')
    ? await readRecord(() => getJson(s3, bucket, keys.verification(backupId), VerificationSchema), problems)
    : undefined;
  const drill = has('drill.json')
    ? await readRecord(() => getJson(s3, bucket, keys.drill(backupId), DrillRecordSchema), problems)
    : undefined;
  const failure = has('failure.json')
    ? await readRecord(() => getJson(s3, bucket, keys.failure(backupId), FailureRecordSchema), problems)
    : undefined;
  const artifact = [...objects.entries()].find(([file]) => file.startsWith('data.'))?.[1];
  // The same rule as Retain's statusOf: a verification record must say verified, and for this very backup.
  const status: BackupStatus = !has('manifest.json')
    ? 'incomplete'
    : !has('verification.json')
      ? 'unverified'
      : verification?.verified && verification.backupId === backupId
        ? 'verified'
        : 'failed';
  const parsed = parseBackupId(backupId);
  return {
    backupId,
    database: parsed.database,
    takenAt: parsed.takenAt,
    objects,
    ...(artifact && { artifact }),
    ...(manifest && { manifest }),
    ...(verification && { verification }),
    ...(drill && { drill }),
    ...(failure && { failure }),
    status,
    problems,
  };
}

/** The restore audit trail of a database (restores/<database>/*.json), oldest first. */
export async function loadRestores(vault: VaultAccess, database: string): Promise<RestoreAudit[]> {
  const { s3, bucket } = vault.primary;
  const found: string[] = [];
  for await (const object of listObjects(s3, bucket, `restores/${database}/`)) {
    if (object.key.endsWith('.json')) {
      found.push(object.key);
    }
  }
  const audits = await mapLimit(found, CONCURRENCY, async (key) => {
    try {
      return (await getJson(s3, bucket, key, RestoreAuditSchema))?.value;
    } catch (error) {
      if (error instanceof RecordFormatError) {
        return undefined;
      }
      throw error;
    }
  });
  return audits.filter((a): a is RestoreAudit => a !== undefined).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** Object Lock state of one object, from HeadObject; `unsupported` for vaults without Object Lock (s3rver). */
export type LockFacts =
  | { readonly supported: false }
  | { readonly supported: true; readonly mode?: string; readonly retainUntil?: string; readonly legalHold: boolean };

/** The lock state HeadObject reports. */
export function lockOf(head: HeadObjectCommandOutput): LockFacts {
  return {
    supported: true,
    ...(head.ObjectLockMode !== undefined && { mode: head.ObjectLockMode }),
    ...(head.ObjectLockRetainUntilDate !== undefined && { retainUntil: new Date(head.ObjectLockRetainUntilDate).toISOString() }),
    legalHold: head.ObjectLockLegalHoldStatus === 'ON',
  };
}

export async function objectLock(vault: VaultAccess, side: VaultSide, key: string): Promise<LockFacts | undefined> {
  if (!vault.objectLock) {
    return { supported: false };
  }
  try {
    return lockOf(await side.s3.send(new HeadObjectCommand({ Bucket: side.bucket, Key: key })));
  } catch (error) {
    if (isNotFound(error)) {
      return undefined;
    }
    throw error;
  }
}

export function describeLock(lock: LockFacts | undefined, now: Date): string {
  if (!lock) {
    return '-';
  }
  if (!lock.supported) {
    return 'unknown (not supported by this vault)';
  }
  const parts: string[] = [];
  if (lock.retainUntil) {
    parts.push(`${lock.mode ?? 'locked'} until ${lock.retainUntil.slice(0, 10)}${new Date(lock.retainUntil) <= now ? ' (expired)' : ''}`);
  }
  if (lock.legalHold) {
    parts.push('legal hold');
  }
  return parts.join(', ') || 'not locked';
}
