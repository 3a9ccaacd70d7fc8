import { InputValidationError, parseInput } from '../../../contracts/errors';
import { BaseBackupInputSchema, type PrepareResult, PrepareResultSchema } from '../../../contracts/payloads/backup';
import { basePrefix, mintBaseId } from '../../../contracts/wal';
import { acquireLock, LOCK_MARGIN_SECONDS } from '../../runtime/lock';
import { activeBlackout } from './blackout';
import type { PrepareDeps, PrepareEvent } from './prepare';

/**
 * The base-backup machine's first state. A base takes the database's backup lock (`locks/<db>.json`), so a base
 * and a logical dump of one database never run at once: both read the whole database, and together they would
 * double the load a blackout or a single dump bounds. Blackouts apply for the same reason. The baseId comes from
 * the execution's start, so a retried Prepare mints the same id and finds its own lock.
 */
export async function prepareBase(event: PrepareEvent, deps: PrepareDeps): Promise<PrepareResult> {
  const input = parseInput(BaseBackupInputSchema, event.input, 'base backup input');
  const db = deps.plan.databases[input.database];
  if (db?.logs?.kind !== 'wal') {
    const withBases = Object.values(deps.plan.databases)
      .filter((d) => d.logs?.kind === 'wal')
      .map((d) => d.name)
      .sort();
    throw new InputValidationError(
      `Invalid base backup input:\ndatabase: found ${JSON.stringify(input.database)}; expected a postgres database with a logs block: ${withBases.join(', ') || 'none configured (add logs: { intervalMinutes, windowDays, baseBackup } to a postgres database in strongbox.config.yaml)'}`,
    );
  }
  const at = new Date(event.execution.startTime);
  const blackout = activeBlackout(db.blackouts, db.timezone, at);
  if (blackout) {
    return PrepareResultSchema.parse({
      status: 'skipped',
      database: db.name,
      reason: 'blackout',
      notice: `${db.name}: base backup at ${at.toISOString()} falls in the blackout window ${blackout.start}-${blackout.end}${blackout.days ? ` (${blackout.days.join(', ')})` : ''} ${db.timezone}; skipped, WAL replays from the previous base until the next one`,
    });
  }
  const baseId = mintBaseId(db.name, at);
  const lock = await acquireLock(deps.s3, {
    bucket: deps.bucket,
    database: db.name,
    backupId: baseId,
    owner: event.execution.executionArn,
    now: at,
    ttlSeconds: db.taskTimeoutSeconds + LOCK_MARGIN_SECONDS,
  });
  if (!lock.acquired) {
    return PrepareResultSchema.parse({
      status: 'skipped',
      database: db.name,
      reason: 'locked',
      notice: `${db.name}: ${lock.holder.backupId} is still running (lock held by ${lock.holder.owner} until ${lock.holder.expiresAt}); this base backup was skipped, WAL replays from the previous base until the next one`,
    });
  }
  return PrepareResultSchema.parse({
    status: 'ready',
    database: db.name,
    engine: db.engine,
    backupId: lock.lock.backupId,
    prefix: basePrefix(lock.lock.backupId),
    taskFamily: db.taskFamily,
    taskTimeoutSeconds: db.taskTimeoutSeconds,
    trigger: input.trigger,
  });
}
