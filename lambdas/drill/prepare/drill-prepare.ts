import type { S3Client } from '@aws-sdk/client-s3';
import { InputValidationError, parseInput, StrongboxError } from '../../../contracts/errors';
import { readBaseManifests, readSegmentManifests } from '../../../contracts/log-chain';
import { type ChainBase, type ChainPoint, newestChainPair, newestRecoverablePoint } from '../../../contracts/logs';
import { DrillInputSchema, type DrillPrepared } from '../../../contracts/payloads/drill';
import type { RestoreExecution } from '../../../contracts/payloads/restore';
import type { Plan } from '../../../contracts/plan';
import { TASK_ENV } from '../../../contracts/task-env';
import { keys, type LogKind, ManifestSchema } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';
import { basePointOf, parseLsn, walCoordinates } from '../../../contracts/wal';
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
 * restored and the log replayed up to the newer one's coordinates. A PostgreSQL database (WAL) gets one when a
 * verified dump's LSN lies in an intact WAL run that also holds a usable base taken before it: the dump is
 * restored, and the base recovered to that LSN and compared with the dump. Otherwise the newest verified backup alone.
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
  const chain = db.logs?.kind === 'binlog' ? await chainPair(deps, input.database, db.logs.kind, backups) : undefined;
  const recovery = db.logs?.kind === 'wal' ? await recoverablePair(deps, input.database, backups) : undefined;
  const backupId = chain?.from ?? recovery?.backupId ?? newest.backupId;
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
      ...(recovery ? [{ Name: TASK_ENV.recoveryBaseId, Value: recovery.baseId }] : []),
    ],
    ...(chain && { chainToBackupId: chain.to }),
    ...(recovery && { recoveryBaseId: recovery.baseId }),
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

/**
 * The PostgreSQL chain drill's pair: the newest of the newest few verified dumps whose LSN an intact WAL run reaches
 * from a usable base (readBaseManifests: whole and not failed by Verify) that is consistent before that LSN, and the
 * newest such base.
 */
async function recoverablePair(
  deps: DrillPrepareDeps,
  database: string,
  backups: readonly StoredBackup[],
): Promise<{ backupId: string; baseId: string } | undefined> {
  const bases = await readBaseManifests(deps.s3, deps.bucket, database);
  const newestBase = bases.at(-1);
  if (!newestBase) {
    return undefined;
  }
  // One timeline and one WAL segment size per chain (contracts/wal.ts): the newest base's name every dump's LSN.
  const coordinates = (lsn: string) => walCoordinates(newestBase.timeline, parseLsn(lsn), newestBase.walSegmentBytes);
  const points: ChainPoint[] = [];
  for (let i = backups.length - 1; i >= 0 && points.length < CHAIN_CANDIDATES; i--) {
    const backup = backups[i];
    if (!(await pointStatus(deps.s3, deps.bucket, backup)).usable) {
      continue;
    }
    const manifest = (await getJson(deps.s3, deps.bucket, keys.manifest(backup.backupId), ManifestSchema))?.value;
    const lsn = manifest?.position?.lsn;
    if (!manifest || !lsn) {
      continue;
    }
    points.push({ backupId: backup.backupId, at: new Date(manifest.startedAt), position: coordinates(lsn) });
  }
  const newestPoint = points[0];
  if (!newestPoint) {
    return undefined;
  }
  // Bases newer than every candidate dump cannot be before any of them; of the rest, as many as dumps are weighed.
  const candidates = bases.filter((b) => Date.parse(b.startedAt) <= newestPoint.at.getTime()).slice(-CHAIN_CANDIDATES);
  const oldest = candidates[0];
  if (!oldest) {
    return undefined;
  }
  const chainBases: ChainBase[] = candidates
    .filter((b) => b.timeline === newestBase.timeline && b.walSegmentBytes === newestBase.walSegmentBytes)
    .map((b) => ({ ...basePointOf(b), consistentAt: b.stop }));
  const segments = await readSegmentManifests(deps.s3, deps.bucket, database, 'wal', new Date(oldest.startedAt));
  const found = newestRecoverablePoint(points, chainBases, segments);
  return found && { backupId: found.point.backupId, baseId: found.base.backupId };
}
