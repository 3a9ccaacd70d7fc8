import type { S3Client } from '@aws-sdk/client-s3';
import { InputValidationError, parseInput, StrongboxError } from '../../../contracts/errors';
import { readSegmentManifests } from '../../../contracts/log-chain';
import { type ChainPoint, newestChainPair } from '../../../contracts/logs';
import { DrillInputSchema, type DrillPrepared } from '../../../contracts/payloads/drill';
import type { RestoreExecution } from '../../../contracts/payloads/restore';
import type { Plan } from '../../../contracts/plan';
import { TASK_ENV } from '../../../contracts/task-env';
import { keys, type LogKind, ManifestSchema } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';
import { listStoredBackups, newestVerified, pointStatus, type StoredBackup } from '../../restore/resolve/recovery-points';

/** There is nothing to drill: the database has no verified backup. The drill fails, so its alarm fires. */
export class NothingToDrillError extends StrongboxError {}

export interface DrillPrepareDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly plan: Plan;
  /** ARN of the database's restore role (the RunTask TaskRoleArn override). */
  readonly restoreRoleArn: (database: string) => string;
}

/**
 * Picks what to drill and the drill task's environment. A database with a logs block gets a chain drill when two
 * consecutive verified dumps among the newest few are joined by an intact run of segments: the older one is
 * restored and the log replayed up to the newer one's coordinates. Otherwise the newest verified backup alone.
 */
export async function prepareDrill(rawInput: unknown, execution: RestoreExecution, deps: DrillPrepareDeps): Promise<DrillPrepared> {
  const input = parseInput(DrillInputSchema, rawInput, 'drill input');
  const db = deps.plan.databases[input.database];
  if (!db) {
    throw new InputValidationError(
      `Invalid drill input:\ndatabase: found ${JSON.stringify(input.database)}; expected one of the configured databases: ${Object.keys(deps.plan.databases).join(', ')}`,
    );
  }
  const backups = await listStoredBackups(deps.s3, deps.bucket, input.database);
  const newest = await newestVerified(deps.s3, deps.bucket, backups);
  if (!newest) {
    throw new NothingToDrillError(`"${input.database}" has no verified backup to drill; the newest backups failed or are not verified yet`);
  }
  const chain = db.logs ? await chainPair(deps, input.database, db.logs.kind, backups) : undefined;
  const backupId = chain?.from ?? newest.backupId;
  return {
    database: input.database,
    engine: db.engine,
    backupId,
    taskFamily: db.taskFamily,
    taskTimeoutSeconds: db.taskTimeoutSeconds,
    taskRoleArn: deps.restoreRoleArn(input.database),
    environment: [
      { Name: TASK_ENV.command, Value: 'drill' },
      { Name: TASK_ENV.backupId, Value: backupId },
      { Name: TASK_ENV.trigger, Value: `drill:${execution.name}` },
      ...(chain ? [{ Name: TASK_ENV.drillChainTo, Value: chain.to }] : []),
    ],
    ...(chain && { chainToBackupId: chain.to }),
  };
}

/**
 * How many of the newest verified dumps a chain drill considers: a drill proves the newest links, and each
 * candidate costs a manifest read here; a week of daily dumps gives six pairs.
 */
export const CHAIN_CANDIDATES = 7;

async function chainPair(
  deps: DrillPrepareDeps,
  database: string,
  kind: LogKind,
  backups: readonly StoredBackup[],
): Promise<{ from: string; to: string } | undefined> {
  const points: ChainPoint[] = [];
  for (let i = backups.length - 1; i >= 0 && points.length < CHAIN_CANDIDATES; i--) {
    const backup = backups[i];
    if (!(await pointStatus(deps.s3, deps.bucket, backup)).usable) {
      continue;
    }
    const position = (await getJson(deps.s3, deps.bucket, keys.manifest(backup.backupId), ManifestSchema))?.value.position;
    if (position?.binlogFile === undefined || position.binlogPosition === undefined) {
      // A dump without coordinates (taken before log_bin was on) cannot start or end a replay: the chain stops here.
      break;
    }
    points.push({
      backupId: backup.backupId,
      at: backup.takenAt,
      position: { file: position.binlogFile, position: position.binlogPosition },
    });
  }
  const oldest = points.at(-1);
  if (points.length < 2 || !oldest) {
    return undefined;
  }
  const segments = await readSegmentManifests(deps.s3, deps.bucket, database, kind, oldest.at);
  const pair = newestChainPair(points, segments);
  return pair && { from: pair.from.backupId, to: pair.to.backupId };
}
