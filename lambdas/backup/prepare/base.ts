import { InputValidationError, parseInput } from '../../../contracts/errors';
import { BaseBackupInputSchema, type PrepareResult } from '../../../contracts/payloads/backup';
import { basePrefix, mintBaseId } from '../../../contracts/wal';
import { lockedRun, type PrepareDeps, type PrepareEvent } from './prepare';

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
  return lockedRun(event, deps, db, {
    id: mintBaseId(db.name, new Date(event.execution.startTime)),
    prefix: basePrefix,
    trigger: input.trigger,
    blackoutNotice: (at, window) =>
      `${db.name}: base backup at ${at} falls in the blackout window ${window}; skipped, WAL replays from the previous base until the next one`,
    lockedNotice: (holder) =>
      `${db.name}: ${holder.backupId} is still running (lock held by ${holder.owner} until ${holder.expiresAt}); this base backup was skipped, WAL replays from the previous base until the next one`,
  });
}
