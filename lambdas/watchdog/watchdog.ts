import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import { describeZodIssues, StrongboxError } from '../../contracts/errors';
import { type LogCursor, LogCursorSchema, type NewestRestorable, newestRestorable } from '../../contracts/logs';
import { METRIC, NO_BACKUP_AGE_SECONDS, publishBreach, publishDatabaseMetrics } from '../../contracts/metrics';
import type { Plan } from '../../contracts/plan';
import { keys, LatestDrillSchema, LatestVerifiedSchema } from '../../contracts/vault';
import { type LatestBase, LatestBaseSchema, latestBaseKey } from '../../contracts/wal';

/** The watchdog could not read one or more pointers; those databases get no breach flag, and the watchdog alarm pages. */
export class WatchdogError extends StrongboxError {}

export interface WatchdogDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly plan: Plan;
  readonly metrics: Metrics;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  readonly now?: () => Date;
}

export interface RecoveryPoint {
  readonly database: string;
  readonly engine: string;
  /**
   * Seconds since the newest restorable instant: the archived log's coverage for a database with a logs block and
   * an intact chain, else the newest verified backup's; NO_BACKUP_AGE_SECONDS when there is no verified backup.
   */
  readonly ageSeconds: number;
  /** Databases with a logs block: what the age rests on, and the chain break that made it fall back to the full dump. */
  readonly recoveryFrom?: 'log' | 'full';
  readonly chainBroken?: { readonly at: string; readonly reason: string };
  readonly rpoSeconds: number;
  readonly withinRpo: boolean;
  readonly backupId?: string;
  readonly bytes?: number;
  /** PostgreSQL with logs: the newest verified base the log counts from. */
  readonly baseId?: string;
  /** Seconds since the newest completed drill, for databases with a drill schedule (NO_BACKUP_AGE_SECONDS: none yet). */
  readonly drillAgeSeconds?: number;
  /** Beyond the drill schedule plus the task timeout and an hour; only for databases with a drill schedule. */
  readonly drillOverdue?: boolean;
}

/**
 * Emits RecoveryPointAgeSeconds (and the newest verified backup's bytes) for every database in the plan, and
 * DrillAgeSeconds for those with a drill schedule. It also publishes each database's breach flags every run:
 * DatabaseBreach 1 when the age is beyond the RPO and 0 otherwise (the 0 is what resolves a tier alarm's
 * contributor after any breach), and DrillOverdue for databases with a drill schedule. It reads small pointers, `index/<db>/latest-verified.json`
 * (kept by Verify), `index/<db>/latest-drill.json` (kept by the drill Report) and, for a database with a logs
 * block, `index/<db>/log-cursor.json` (kept by the archiving run; see newestRestorable) and, for PostgreSQL,
 * `index/<db>/latest-base.json` (kept by the base Verify), so a run costs one to four GETs per database however
 * many backups, bases and segments the vault holds.
 */
export async function runWatchdog(deps: WatchdogDeps): Promise<RecoveryPoint[]> {
  if (!deps.bucket) {
    throw new WatchdogError('The vault bucket name is empty: set VAULT_BUCKET on the watchdog function (the Watchdog construct does this)');
  }
  const now = (deps.now ?? (() => new Date()))();
  const databases = Object.values(deps.plan.databases);
  const outcomes = await Promise.allSettled(
    databases.map(async (db) => ({
      verified: await readPointer(
        deps,
        db.name,
        keys.latestVerified(db.name),
        LatestVerifiedSchema,
        'Verify rewrites it on the next verified backup',
      ),
      cursor: db.logs
        ? await readPointer(deps, db.name, keys.logCursor(db.name), LogCursorSchema, 'the next log archiving run rewrites it')
        : undefined,
      base:
        db.logs?.kind === 'wal'
          ? await readPointer(
              deps,
              db.name,
              latestBaseKey(db.name),
              LatestBaseSchema,
              'the base Verify rewrites it on the next verified base',
            )
          : undefined,
      drill:
        db.drillIntervalSeconds === undefined
          ? undefined
          : await readPointer(
              deps,
              db.name,
              keys.latestDrill(db.name),
              LatestDrillSchema,
              'the drill Report rewrites it after the next drill',
            ),
    })),
  );
  const points: RecoveryPoint[] = [];
  const unreadable: string[] = [];
  outcomes.forEach((outcome, i) => {
    const db = databases[i];
    if (outcome.status === 'rejected') {
      // No flag for this database: the run fails below, and the watchdog alarm pages for the gap.
      unreadable.push(`${db.name}: ${outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason)}`);
      return;
    }
    const pointer = outcome.value.verified;
    const drill = outcome.value.drill;
    const drillAgeSeconds =
      db.drillIntervalSeconds === undefined
        ? undefined
        : drill
          ? Math.max(0, Math.round((now.getTime() - Date.parse(drill.drilledAt)) / 1000))
          : NO_BACKUP_AGE_SECONDS;
    const drillOverdue =
      db.drillIntervalSeconds === undefined || drillAgeSeconds === undefined
        ? undefined
        : drillAgeSeconds > db.drillIntervalSeconds + db.taskTimeoutSeconds + 3600;
    const restorable = recoveryPoint(db, pointer && new Date(pointer.takenAt), outcome.value.base, outcome.value.cursor);
    const ageSeconds = restorable.at ? Math.max(0, Math.round((now.getTime() - restorable.at.getTime()) / 1000)) : NO_BACKUP_AGE_SECONDS;
    const point: RecoveryPoint = {
      database: db.name,
      engine: db.engine,
      ageSeconds,
      rpoSeconds: db.rpoSeconds,
      withinRpo: ageSeconds <= db.rpoSeconds,
      backupId: pointer?.backupId,
      bytes: pointer?.bytes,
      ...(outcome.value.base && { baseId: outcome.value.base.baseId }),
      ...(db.logs && { recoveryFrom: restorable.source }),
      ...(db.logs && restorable.broken && { chainBroken: { at: restorable.broken.at, reason: restorable.broken.reason } }),
      ...(drillAgeSeconds !== undefined && { drillAgeSeconds }),
      ...(drillOverdue !== undefined && { drillOverdue }),
    };
    publishDatabaseMetrics(deps.metrics, { database: db.name, engine: db.engine }, [
      { name: METRIC.recoveryPointAgeSeconds, unit: 'Seconds', value: ageSeconds },
      ...(pointer ? [{ name: METRIC.latestVerifiedBytes, unit: 'Bytes' as const, value: pointer.bytes }] : []),
      ...(drillAgeSeconds !== undefined ? [{ name: METRIC.drillAgeSeconds, unit: 'Seconds' as const, value: drillAgeSeconds }] : []),
    ]);
    const target = { database: db.name, tier: db.tier };
    publishBreach(deps.metrics, target, !point.withinRpo);
    if (drillOverdue !== undefined) {
      publishBreach(deps.metrics, target, drillOverdue, METRIC.drillOverdue);
    }
    (point.withinRpo ? deps.logger.info : deps.logger.warn).call(deps.logger, pointer ? 'Recovery point' : 'No verified backup', {
      ...point,
    });
    points.push(point);
  });
  if (unreadable.length > 0) {
    deps.logger.error('Unreadable recovery point pointers', { unreadable });
    throw new WatchdogError(
      `Could not read the latest-verified pointer of ${unreadable.length} database(s); they get no breach flag and the watchdog alarm fires. ` +
        `Check the watchdog's s3:GetObject permission on index/* and the pointer files:\n${unreadable.join('\n')}`,
    );
  }
  return points;
}

/**
 * The newest restorable instant. PostgreSQL's WAL replays from a base, never from a logical dump, so there the
 * log counts from the newest verified base (newestRestorable over its `finishedAt`), and the newest logical dump
 * still counts at its own instant, whichever is later; binlog replays from the full dump itself.
 */
function recoveryPoint(
  db: Plan['databases'][string],
  dumpTakenAt: Date | undefined,
  base: LatestBase | undefined,
  cursor: LogCursor | undefined,
): NewestRestorable {
  if (db.logs?.kind !== 'wal') {
    return newestRestorable(dumpTakenAt, cursor);
  }
  const physical = newestRestorable(base && new Date(base.finishedAt), cursor);
  if (dumpTakenAt && (!physical.at || dumpTakenAt > physical.at)) {
    return { at: dumpTakenAt, source: 'full', ...(physical.broken && { broken: physical.broken }) };
  }
  return physical;
}

async function pointerListed(deps: WatchdogDeps, key: string): Promise<boolean> {
  const listing = await deps.s3.send(new ListObjectsV2Command({ Bucket: deps.bucket, Prefix: key, MaxKeys: 1 }));
  return (listing.Contents ?? []).some((object) => object.Key === key);
}

async function readPointer<T extends { database: string }>(
  deps: WatchdogDeps,
  database: string,
  key: string,
  schema: z.ZodType<T>,
  rewrittenBy: string,
): Promise<T | undefined> {
  let text: string;
  try {
    const response = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }));
    text = (await response.Body?.transformToString()) ?? '';
  } catch (error) {
    if (error instanceof NoSuchKey) {
      return undefined;
    }
    // S3 answers 403, not 404, for a missing key unless ListBucket applies to the request; the role may list
    // only under index/, so a 403 is settled by listing the exact key (cheap, and only on this path).
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403 && !(await pointerListed(deps, key))) {
      return undefined;
    }
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WatchdogError(`s3://${deps.bucket}/${key} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new WatchdogError(
      `s3://${deps.bucket}/${key} is not a valid pointer (${rewrittenBy}):\n${describeZodIssues(parsed.error, json)}`,
    );
  }
  if (parsed.data.database !== database) {
    throw new WatchdogError(`s3://${deps.bucket}/${key} names database "${parsed.data.database}"; expected "${database}"`);
  }
  return parsed.data;
}
