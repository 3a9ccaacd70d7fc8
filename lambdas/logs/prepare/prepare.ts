import type { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { InputValidationError, parseInput } from '../../../contracts/errors';
import type { ExecutionContext } from '../../../contracts/payloads/backup';
import { type PrepareResult, PrepareResultSchema } from '../../../contracts/payloads/backup';
import type { Plan } from '../../../contracts/plan';
import { compactTimestamp, DatabaseNameSchema, keys, logsPrefix } from '../../../contracts/vault';
import { acquireLock, LOCK_MARGIN_SECONDS } from '../../runtime/lock';

/** What the log-archive schedule (or a person) starts the log-archive state machine with. */
export const ArchiveLogsInputSchema = z.strictObject({
  database: DatabaseNameSchema,
  trigger: z.enum(['schedule', 'manual', 'demo'], { error: 'expected trigger to be one of schedule, manual, demo' }).default('manual'),
});

export interface PrepareLogsDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly plan: Plan;
}

/**
 * The log-archive machine's first state: the backup Prepare's lock, under the archiving runs' own key, so the
 * ReleaseLock and NotifyFailure of the backup workflow serve this machine unchanged. No blackout applies: a
 * blackout keeps heavy dumps off the database, and an archiving run only reads the binlog the server writes anyway.
 * The run id is `<database>-<execution start>-logs`, which a retried Prepare of the same execution mints again.
 */
export async function prepareLogs(
  event: { readonly input: unknown; readonly execution: ExecutionContext },
  deps: PrepareLogsDeps,
): Promise<PrepareResult> {
  const input = parseInput(ArchiveLogsInputSchema, event.input, 'log archive input');
  const db = deps.plan.databases[input.database];
  const archived = Object.values(deps.plan.databases)
    .filter((d) => d.logs)
    .map((d) => d.name)
    .sort();
  if (!db?.logs) {
    throw new InputValidationError(
      `Invalid log archive input:\ndatabase: found ${JSON.stringify(input.database)}; expected a database with a logs block: ${archived.join(', ') || 'none configured (add logs: { intervalMinutes, windowDays } to a mysql/mariadb database in strongbox.config.yaml)'}`,
    );
  }
  const at = new Date(event.execution.startTime);
  const runId = `${db.name}-${compactTimestamp(at)}-logs`;
  const lockKey = keys.logLock(db.name);
  const lock = await acquireLock(deps.s3, {
    bucket: deps.bucket,
    database: db.name,
    backupId: runId,
    owner: event.execution.executionArn,
    now: at,
    ttlSeconds: db.taskTimeoutSeconds + LOCK_MARGIN_SECONDS,
    key: lockKey,
  });
  if (!lock.acquired) {
    return PrepareResultSchema.parse({
      status: 'skipped',
      database: db.name,
      reason: 'locked',
      notice: `${db.name}: archiving run ${lock.holder.backupId} is still running (lock held by ${lock.holder.owner} until ${lock.holder.expiresAt}); this run was skipped, the next one archives from the cursor`,
    });
  }
  return PrepareResultSchema.parse({
    status: 'ready',
    database: db.name,
    engine: db.engine,
    backupId: lock.lock.backupId,
    prefix: logsPrefix(db.name, db.logs.kind),
    taskFamily: db.taskFamily,
    taskTimeoutSeconds: db.taskTimeoutSeconds,
    trigger: input.trigger,
    lockKey,
  });
}
