import {
  DeleteObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  GetObjectTaggingCommand,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { InputValidationError } from '../../../contracts/errors';
import type { RetainResult } from '../../../contracts/payloads/backup';
import type { Plan } from '../../../contracts/plan';
import { classifyKey, databasePrefix, keys, parseBackupId, TIER_TAG, VerificationSchema } from '../../../contracts/vault';
import { getJson, isNotFound, listObjects, RecordFormatError } from '../../../contracts/vault-io';
import { mapLimit } from '../../../util/map-limit';
import { logger } from '../../runtime/powertools';
import { type BackupStatus, type HistoryEntry, type ObjectLockState, planRetention, type RetentionPlan, type TierAction } from './planner';

const REPORT_LIMIT = 100;

export interface RetainDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  /** The replica vault gets the same deletions and tier actions; left out where there is none (local runs). */
  readonly replica?: { readonly s3: S3Client; readonly bucket: string };
  readonly plan: Plan;
  /** False only for vaults without Object Lock (s3rver): then no lock is read or set. */
  readonly objectLock: boolean;
  readonly now?: () => Date;
  readonly concurrency?: number;
}

export interface RetainRequest {
  readonly database: string;
  readonly dryRun: boolean;
  readonly now?: string;
}

type Backups = Map<string, Map<string, string>>;

/**
 * GFS prune of one database, in both vaults. Reads only listings, verification.json records and lock state;
 * never an artifact body (the role has no s3:GetObject on data objects).
 */
export async function retain(request: RetainRequest, deps: RetainDeps): Promise<RetainResult & { plan: RetentionPlan }> {
  const db = deps.plan.databases[request.database];
  if (!db) {
    throw new InputValidationError(
      `Invalid retain input:\ndatabase: found ${JSON.stringify(request.database)}; expected one of the configured databases: ${Object.keys(deps.plan.databases).sort().join(', ')}`,
    );
  }
  const now = request.now ? new Date(request.now) : (deps.now ?? (() => new Date()))();
  const concurrency = deps.concurrency ?? 16;
  const backups = await listBackups(deps.s3, deps.bucket, db.name);
  const ids = [...backups.keys()];
  const statuses = await mapLimit(ids, concurrency, (id) => statusOf(deps, id, backups.get(id)!));
  let history: HistoryEntry[] = ids.map((backupId, i) => ({
    backupId,
    takenAt: parseBackupId(backupId).takenAt.getTime(),
    status: statuses[i],
  }));
  const policy = { ...db.retention, graceSeconds: deps.plan.graceSeconds, timeZone: db.timezone };

  let plan = planRetention(history, policy, now.getTime());
  if (deps.objectLock) {
    const candidates = plan.decisions.filter((d) => d.action === 'delete').map((d) => d.backupId);
    const locks = new Map<string, ObjectLockState | undefined>();
    await mapLimit(candidates, concurrency, async (id) => {
      locks.set(id, await strictestLock(deps.s3, deps.bucket, [...backups.get(id)!.values()]));
    });
    history = history.map((entry) => {
      const lock = locks.get(entry.backupId);
      return lock ? { ...entry, lock } : entry;
    });
    plan = planRetention(history, policy, now.getTime());
  }

  const skippedLocked = plan.decisions
    .filter((d) => d.action === 'skip-locked')
    .map((d) => ({ backupId: d.backupId, reason: `${deps.bucket}: ${d.reason}` }));
  const deleted = plan.decisions.filter((d) => d.action === 'delete').map((d) => d.backupId);
  const tiered = plan.decisions.flatMap((d) =>
    d.tierAction ? [{ backupId: d.backupId, tier: d.tierAction.tier, retainUntil: new Date(d.tierAction.retainUntil).toISOString() }] : [],
  );

  const replicaBackups = deps.replica ? await listBackups(deps.replica.s3, deps.replica.bucket, db.name) : new Map();
  if (!request.dryRun) {
    await mapLimit(deleted, concurrency, (id) => deleteBackup(deps.s3, deps.bucket, backups.get(id)!));
    for (const decision of plan.decisions) {
      if (decision.tierAction) {
        await applyTier(deps.s3, deps.bucket, backups.get(decision.backupId)!, decision.tierAction, deps);
      }
    }
  }
  if (deps.replica) {
    const replica = deps.replica;
    // The replica follows the primary's decisions; its own locks are checked separately, since its copies
    // were locked by the replica vault's default retention at copy time.
    const replicaDeletes = deleted.filter((id) => replicaBackups.has(id));
    await mapLimit(replicaDeletes, concurrency, async (id) => {
      const files = replicaBackups.get(id)!;
      const lock = deps.objectLock ? await strictestLock(replica.s3, replica.bucket, [...files.values()]) : undefined;
      if (lock && (lock.legalHold || (lock.retainUntil !== undefined && lock.retainUntil > now.getTime()))) {
        skippedLocked.push({
          backupId: id,
          reason: `${replica.bucket}: ${lock.legalHold ? 'under legal hold' : `retained until ${new Date(lock.retainUntil!).toISOString()}`}`,
        });
      } else if (!request.dryRun) {
        await deleteBackup(replica.s3, replica.bucket, files);
      }
    });
    if (!request.dryRun) {
      for (const decision of plan.decisions) {
        if (decision.tierAction && replicaBackups.has(decision.backupId)) {
          await applyTier(replica.s3, replica.bucket, replicaBackups.get(decision.backupId)!, decision.tierAction, deps);
        }
      }
    }
  }

  logger.info('retention plan', {
    database: db.name,
    dryRun: request.dryRun,
    decisions: plan.decisions.map((d) => ({ backupId: d.backupId, action: d.action, reason: d.reason })),
  });
  const truncated = deleted.length > REPORT_LIMIT || skippedLocked.length > REPORT_LIMIT || tiered.length > REPORT_LIMIT;
  return {
    dryRun: request.dryRun,
    backups: plan.decisions.length,
    kept: plan.decisions.filter((d) => d.action === 'keep').length,
    deleted: deleted.slice(0, REPORT_LIMIT),
    skippedLocked: skippedLocked.slice(0, REPORT_LIMIT),
    tiered: tiered.slice(0, REPORT_LIMIT),
    truncated,
    plan,
  };
}

/** backupId -> (file name -> key), from a paginated listing of `backups/<db>/`. */
export async function listBackups(s3: S3Client, bucket: string, database: string): Promise<Backups> {
  const backups: Backups = new Map();
  for await (const object of listObjects(s3, bucket, databasePrefix(database))) {
    const classified = classifyKey(object.key);
    if (!classified) {
      continue;
    }
    let files = backups.get(classified.backupId);
    if (!files) {
      files = new Map();
      backups.set(classified.backupId, files);
    }
    files.set(classified.file, object.key);
  }
  return backups;
}

async function statusOf(deps: RetainDeps, backupId: string, files: Map<string, string>): Promise<BackupStatus> {
  if (!files.has('manifest.json')) {
    return 'incomplete';
  }
  if (!files.has('verification.json')) {
    return 'unverified';
  }
  try {
    const record = await getJson(deps.s3, deps.bucket, keys.verification(backupId), VerificationSchema);
    return record?.value.verified && record.value.backupId === backupId ? 'verified' : record ? 'failed' : 'unverified';
  } catch (error) {
    if (error instanceof RecordFormatError) {
      return 'failed';
    }
    throw error;
  }
}

function isNoLockConfiguration(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return name === 'NoSuchObjectLockConfiguration' || name === 'ObjectLockConfigurationNotFoundError' || isNotFound(error);
}

/** The strictest Object Lock among `objectKeys`: any legal hold, and the latest retain-until. */
export async function strictestLock(s3: S3Client, bucket: string, objectKeys: readonly string[]): Promise<ObjectLockState | undefined> {
  let legalHold = false;
  let retainUntil: number | undefined;
  for (const key of objectKeys) {
    const retention = await lockRead(() => s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key })));
    const until = retention?.Retention?.RetainUntilDate;
    if (until) {
      retainUntil = Math.max(retainUntil ?? 0, new Date(until).getTime());
    }
    const hold = await lockRead(() => s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: key })));
    legalHold ||= hold?.LegalHold?.Status === 'ON';
  }
  return legalHold || retainUntil !== undefined ? { legalHold, ...(retainUntil !== undefined ? { retainUntil } : {}) } : undefined;
}

async function lockRead<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (isNoLockConfiguration(error)) {
      return undefined;
    }
    throw error;
  }
}

/** Manifest first (the backup stops existing for every reader), then the artifacts, then the other records. */
export function deletionOrder(files: Map<string, string>): string[] {
  const rank = (file: string) => (file === 'manifest.json' ? 0 : file.startsWith('data.') || file === 'roles.sql.zst' ? 1 : 2);
  return [...files.entries()].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0])).map(([, key]) => key);
}

/** Record files by folder id (a base, a segment): id -> file name -> object key. */
export type FolderListing = Map<string, Map<string, string>>;

/**
 * Deletes the `drop` folders from each vault that has them, in deletionOrder, leaving (and reporting) a folder whose
 * Object Lock still holds. `deleted` names the deletions in the first vault's (the primary's) bucket, as results report.
 */
export async function deleteFolders(
  drop: readonly string[],
  vaults: readonly { readonly s3: S3Client; readonly bucket: string; readonly listing: FolderListing }[],
  options: { readonly objectLock: boolean; readonly concurrency: number; readonly now: Date; readonly dryRun: boolean },
): Promise<{ deleted: string[]; skippedLocked: { id: string; reason: string }[] }> {
  const skippedLocked: { id: string; reason: string }[] = [];
  const deleted: string[] = [];
  for (const vault of vaults) {
    await mapLimit(
      drop.filter((id) => vault.listing.has(id)),
      options.concurrency,
      async (id) => {
        const files = vault.listing.get(id) as Map<string, string>;
        const lock = options.objectLock ? await strictestLock(vault.s3, vault.bucket, [...files.values()]) : undefined;
        if (lock && (lock.legalHold || (lock.retainUntil !== undefined && lock.retainUntil > options.now.getTime()))) {
          const until = lock.legalHold ? 'under legal hold' : `retained until ${new Date(lock.retainUntil as number).toISOString()}`;
          skippedLocked.push({ id, reason: `${vault.bucket}: ${until}` });
          return;
        }
        if (!options.dryRun) {
          await deleteBackup(vault.s3, vault.bucket, files);
        }
        if (vault.bucket === vaults[0]?.bucket) {
          deleted.push(id);
        }
      },
    );
  }
  return { deleted, skippedLocked };
}

async function deleteBackup(s3: S3Client, bucket: string, files: Map<string, string>): Promise<void> {
  for (const key of deletionOrder(files)) {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
}

async function applyTier(s3: S3Client, bucket: string, files: Map<string, string>, action: TierAction, deps: RetainDeps): Promise<void> {
  const data = [...files.entries()].find(([file]) => file.startsWith('data.'))?.[1];
  if (data) {
    const current = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: data }));
    const tags = current.TagSet ?? [];
    if (tags.find((tag) => tag.Key === TIER_TAG)?.Value !== action.tier) {
      await s3.send(
        new PutObjectTaggingCommand({
          Bucket: bucket,
          Key: data,
          Tagging: { TagSet: [...tags.filter((tag) => tag.Key !== TIER_TAG), { Key: TIER_TAG, Value: action.tier }] },
        }),
      );
    }
  }
  if (!deps.objectLock) {
    return;
  }
  for (const key of files.values()) {
    const retention = await lockRead(() => s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key })));
    const until = retention?.Retention?.RetainUntilDate ? new Date(retention.Retention.RetainUntilDate).getTime() : 0;
    if (until < action.retainUntil) {
      // COMPLIANCE can never be turned back into GOVERNANCE, so an object already in COMPLIANCE stays there.
      const mode = retention?.Retention?.Mode === 'COMPLIANCE' ? 'COMPLIANCE' : deps.plan.objectLock.mode;
      await s3.send(
        new PutObjectRetentionCommand({
          Bucket: bucket,
          Key: key,
          Retention: { Mode: mode, RetainUntilDate: new Date(action.retainUntil) },
        }),
      );
    }
    if (action.legalHold) {
      const hold = await lockRead(() => s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: key })));
      if (hold?.LegalHold?.Status !== 'ON') {
        await s3.send(new PutObjectLegalHoldCommand({ Bucket: bucket, Key: key, LegalHold: { Status: 'ON' } }));
      }
    }
  }
}
