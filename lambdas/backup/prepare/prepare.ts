import type { S3Client } from '@aws-sdk/client-s3';
import { InputValidationError, parseInput } from '../../../contracts/errors';
import type { ExecutionContext } from '../../../contracts/payloads/backup';
import { type BackupInput, BackupInputSchema, type PrepareResult, PrepareResultSchema } from '../../../contracts/payloads/backup';
import type { DatabasePlan, Plan } from '../../../contracts/plan';
import { backupPrefix, mintBackupId } from '../../../contracts/vault';
import { acquireLock, LOCK_MARGIN_SECONDS } from '../../runtime/lock';
import { activeBlackout } from './blackout';

export interface PrepareDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly plan: Plan;
}

export interface PrepareEvent {
  readonly input: unknown;
  readonly execution: ExecutionContext;
}

/**
 * The first state: a bad input fails here, before anything is touched. Time is the execution's start time,
 * not the clock, so a retried Prepare mints the same backupId and finds its own lock.
 */
export async function prepare(event: PrepareEvent, deps: PrepareDeps): Promise<PrepareResult> {
  const input: BackupInput = parseInput(BackupInputSchema, event.input, 'backup input');
  const db = deps.plan.databases[input.database];
  if (!db) {
    const names = Object.keys(deps.plan.databases).sort();
    throw new InputValidationError(
      `Invalid backup input:\ndatabase: found ${JSON.stringify(input.database)}; expected one of the configured databases: ${names.join(', ')} (see strongbox.config.yaml)`,
    );
  }
  return lockedRun(event, deps, db, {
    id: mintBackupId(db.name, input.kind, new Date(event.execution.startTime)),
    prefix: backupPrefix,
    trigger: input.trigger,
    blackoutNotice: (at, window) =>
      `${db.name}: run at ${at} falls in the blackout window ${window}; skipped, the next scheduled run will take the backup`,
    lockedNotice: (holder) =>
      `${db.name}: backup ${holder.backupId} is still running (lock held by ${holder.owner} until ${holder.expiresAt}); this run was skipped`,
  });
}

/**
 * What every taker of a database's backup lock (a dump, a base) does once its input is valid: skip in a blackout,
 * take the lock under `run.id` (minted from the execution's start, so a retried Prepare finds its own lock), skip
 * while another run holds it, else hand the task its id, prefix and family. The notices word the skips for the run.
 */
export async function lockedRun(
  event: PrepareEvent,
  deps: PrepareDeps,
  db: DatabasePlan,
  run: {
    readonly id: string;
    readonly prefix: (id: string) => string;
    readonly trigger: string;
    readonly blackoutNotice: (at: string, window: string) => string;
    readonly lockedNotice: (holder: { backupId: string; owner: string; expiresAt: string }) => string;
  },
): Promise<PrepareResult> {
  const at = new Date(event.execution.startTime);
  const blackout = activeBlackout(db.blackouts, db.timezone, at);
  if (blackout) {
    return PrepareResultSchema.parse({
      status: 'skipped',
      database: db.name,
      reason: 'blackout',
      notice: run.blackoutNotice(
        at.toISOString(),
        `${blackout.start}-${blackout.end}${blackout.days ? ` (${blackout.days.join(', ')})` : ''} ${db.timezone}`,
      ),
    });
  }
  const lock = await acquireLock(deps.s3, {
    bucket: deps.bucket,
    database: db.name,
    backupId: run.id,
    owner: event.execution.executionArn,
    now: at,
    ttlSeconds: db.taskTimeoutSeconds + LOCK_MARGIN_SECONDS,
  });
  if (!lock.acquired) {
    return PrepareResultSchema.parse({ status: 'skipped', database: db.name, reason: 'locked', notice: run.lockedNotice(lock.holder) });
  }
  return PrepareResultSchema.parse({
    status: 'ready',
    database: db.name,
    engine: db.engine,
    backupId: lock.lock.backupId,
    prefix: run.prefix(lock.lock.backupId),
    taskFamily: db.taskFamily,
    taskTimeoutSeconds: db.taskTimeoutSeconds,
    trigger: run.trigger,
  });
}
