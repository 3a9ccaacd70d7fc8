import type { S3Client } from '@aws-sdk/client-s3';
import { InputValidationError, parseInput } from '../../../contracts/errors';
import type { ExecutionContext } from '../../../contracts/payloads/backup';
import { type BackupInput, BackupInputSchema, type PrepareResult, PrepareResultSchema } from '../../../contracts/payloads/backup';
import type { Plan } from '../../../contracts/plan';
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
  const at = new Date(event.execution.startTime);

  const blackout = activeBlackout(db.blackouts, db.timezone, at);
  if (blackout) {
    return PrepareResultSchema.parse({
      status: 'skipped',
      database: db.name,
      reason: 'blackout',
      notice: `${db.name}: run at ${at.toISOString()} falls in the blackout window ${blackout.start}-${blackout.end}${blackout.days ? ` (${blackout.days.join(', ')})` : ''} ${db.timezone}; skipped, the next scheduled run will take the backup`,
    });
  }

  const backupId = mintBackupId(db.name, input.kind, at);
  const lock = await acquireLock(deps.s3, {
    bucket: deps.bucket,
    database: db.name,
    backupId,
    owner: event.execution.executionArn,
    now: at,
    ttlSeconds: db.taskTimeoutSeconds + LOCK_MARGIN_SECONDS,
  });
  if (!lock.acquired) {
    return PrepareResultSchema.parse({
      status: 'skipped',
      database: db.name,
      reason: 'locked',
      notice: `${db.name}: backup ${lock.holder.backupId} is still running (lock held by ${lock.holder.owner} until ${lock.holder.expiresAt}); this run was skipped`,
    });
  }
  return PrepareResultSchema.parse({
    status: 'ready',
    database: db.name,
    engine: db.engine,
    backupId: lock.lock.backupId,
    prefix: backupPrefix(lock.lock.backupId),
    taskFamily: db.taskFamily,
    taskTimeoutSeconds: db.taskTimeoutSeconds,
    trigger: input.trigger,
  });
}
