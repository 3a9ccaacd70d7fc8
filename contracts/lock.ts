import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { keys, type Lock, LockSchema } from './vault';
import { getJson, isNotFound, isPreconditionFailed, putJson } from './vault-io';

/**
 * The per-database lock `locks/<database>.json`: exactly one backup of a database runs at a time.
 *
 * Correctness rests on S3 conditional writes, not on read-then-write: a new lock is created with
 * `If-None-Match: *` (fails if any lock exists) and a stale lock is taken over with `If-Match: <its ETag>`
 * (fails if someone else replaced it first). Of two racing executions exactly one gets a 2xx. The lock
 * expires after the dump task's timeout plus a margin, because by then the holder's task has been stopped by
 * Step Functions and its execution can no longer be writing.
 */

/** Time a holder may still need after its task timed out: Verify, Replicate, Retain, Notify and retries. */
export const LOCK_MARGIN_SECONDS = 30 * 60;

export type AcquireResult =
  | { readonly acquired: true; readonly lock: Lock; readonly tookOver?: Lock }
  | { readonly acquired: false; readonly holder: Lock };

export interface AcquireOptions {
  readonly bucket: string;
  readonly database: string;
  readonly backupId: string;
  /** The execution ARN; a retried Prepare of the same execution gets its own lock back. */
  readonly owner: string;
  readonly now: Date;
  readonly ttlSeconds: number;
  /** @default keys.lock(database), the backup lock */
  readonly key?: string;
}

export async function acquireLock(s3: S3Client, options: AcquireOptions): Promise<AcquireResult> {
  const key = options.key ?? keys.lock(options.database);
  const lock: Lock = {
    database: options.database,
    backupId: options.backupId,
    owner: options.owner,
    acquiredAt: options.now.toISOString(),
    expiresAt: new Date(options.now.getTime() + options.ttlSeconds * 1000).toISOString(),
  };
  // Each round either wins a conditional write or observes a lock that exists; a handful of rounds only
  // happens when other executions keep deleting and re-creating the lock between our calls.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await putJson(s3, options.bucket, key, lock, { IfNoneMatch: '*' });
      return { acquired: true, lock };
    } catch (error) {
      if (!isPreconditionFailed(error)) {
        throw error;
      }
    }
    const existing = await getJson(s3, options.bucket, key, LockSchema);
    if (!existing) {
      continue;
    }
    const holder = existing.value;
    if (holder.owner === options.owner) {
      return { acquired: true, lock: holder };
    }
    if (new Date(holder.expiresAt).getTime() > options.now.getTime()) {
      return { acquired: false, holder };
    }
    try {
      await putJson(s3, options.bucket, key, lock, { IfMatch: existing.etag });
      return { acquired: true, lock, tookOver: holder };
    } catch (error) {
      if (!isPreconditionFailed(error) && !isNotFound(error)) {
        throw error;
      }
    }
  }
  const holder = await getJson(s3, options.bucket, key, LockSchema);
  if (holder) {
    return { acquired: false, holder: holder.value };
  }
  throw new Error(`could not take ${key} after 5 attempts: the lock keeps changing hands`);
}

export type ReleaseOutcome = { readonly released: boolean; readonly reason: string };

/** Deletes the lock only while it still names `backupId`; a lock taken over by a later run is left alone. */
export async function releaseLock(
  s3: S3Client,
  bucket: string,
  database: string,
  backupId: string,
  key = keys.lock(database),
): Promise<ReleaseOutcome> {
  const existing = await getJson(s3, bucket, key, LockSchema);
  if (!existing) {
    return { released: false, reason: `no lock at ${key}` };
  }
  if (existing.value.backupId !== backupId) {
    return { released: false, reason: `${key} is held by ${existing.value.backupId}, not ${backupId}` };
  }
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, IfMatch: existing.etag }));
  } catch (error) {
    if (isPreconditionFailed(error) || isNotFound(error)) {
      return { released: false, reason: `${key} changed while releasing it; left to its new holder` };
    }
    throw error;
  }
  return { released: true, reason: `released ${key} held by ${backupId}` };
}

export type RenewOutcome = { readonly renewed: true; readonly lock: Lock } | { readonly renewed: false; readonly reason: string };

/**
 * Moves a held lock's expiry on (a lease): a conditional write on the ETag just read, so a lock that expired and
 * was taken over in between stays with its new holder, and the caller learns it no longer holds it.
 */
export async function renewLock(
  s3: S3Client,
  options: {
    readonly bucket: string;
    readonly key: string;
    readonly backupId: string;
    readonly owner: string;
    readonly now: Date;
    readonly ttlSeconds: number;
  },
): Promise<RenewOutcome> {
  const existing = await getJson(s3, options.bucket, options.key, LockSchema);
  if (!existing) {
    return { renewed: false, reason: `no lock at ${options.key}` };
  }
  if (existing.value.backupId !== options.backupId || existing.value.owner !== options.owner) {
    return { renewed: false, reason: `${options.key} is held by ${existing.value.backupId} (${existing.value.owner}), not this holder` };
  }
  const lock: Lock = { ...existing.value, expiresAt: new Date(options.now.getTime() + options.ttlSeconds * 1000).toISOString() };
  try {
    await putJson(s3, options.bucket, options.key, lock, { IfMatch: existing.etag });
  } catch (error) {
    if (isPreconditionFailed(error) || isNotFound(error)) {
      return { renewed: false, reason: `${options.key} changed while renewing it; left to its new holder` };
    }
    throw error;
  }
  return { renewed: true, lock };
}
