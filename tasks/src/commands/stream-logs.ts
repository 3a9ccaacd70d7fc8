import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type mysql from 'mysql2/promise';
import { acquireLock, releaseLock, renewLock } from '../../../contracts/lock';
import { LOG_KIND_BY_ENGINE, type LogCursor, LogCursorSchema } from '../../../contracts/logs';
import { METRIC, publishDatabaseMetrics } from '../../../contracts/metrics';
import { TASK_ENV, TaskEnvError } from '../../../contracts/task-env';
import { compactTimestamp, keys } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';
import { type Connection, sourceConnection } from '../../../engines/connection';
import { connect } from '../../../engines/mysql/connection';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import { taskMetrics } from '../metrics';
import { type ArchiveLogsResult, archiveLogs, BinlogServerNotReadyError } from './archive-logs';
import type { TaskDeps } from './backup';

/**
 * logs.mode continuous: the archiving run of archive-logs.ts, repeated every `flushSeconds` on one connection by
 * a task that runs until it is stopped (an ECS service, infra/constructs/log-archive-service.ts). Each flush is a
 * whole archiving run, so every invariant of a run holds per flush: slices end on whole events (the stock tool
 * reads complete events up to the server's end), data before manifest before cursor, a read-back per segment,
 * broken-chain detection. A kill at any point leaves what a killed run leaves, and the next start resumes from
 * the cursor. README "Continuous archiving" has the measurements that chose this over `--stop-never`.
 *
 * The archiving lock (locks/logs/<db>.json) is held as a lease: taken before the first flush, renewed on its own
 * timer (a long first flush after an outage must not let it lapse), released after the last flush on SIGTERM.
 * While another holder has it (a scheduled run, a second service task during a deployment) the task waits.
 */

/** The lease outlives a few missed renewals, and a killed holder's successor waits at most this long. */
export function leaseSeconds(flushSeconds: number): number {
  return Math.max(60, 3 * flushSeconds);
}

export interface StreamLogsArgs {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly database: string;
  readonly engine: string;
  readonly connection: Connection;
  readonly flushSeconds: number;
  readonly compressionLevel: number;
  readonly workDir: string;
  /** Aborted on SIGTERM: the streamer flushes once more, releases the lease and returns. */
  readonly signal: AbortSignal;
  /** Who holds the lease, for the lock's `owner`; default the host name, pid and a random suffix. */
  readonly owner?: string;
  readonly now?: () => Date;
}

export interface StreamLogsResult {
  readonly flushes: number;
  readonly segments: number;
  readonly bytes: number;
  readonly cursor?: LogCursor;
  /** The largest lag a flush reported: how long the newest unarchived write could have waited. */
  readonly worstLagSeconds: number;
  readonly released: boolean;
  readonly broken?: LogCursor['broken'];
}

/** Flushes in a row that may fail (a restarting server, a network blip) before the task gives up and ECS replaces it. */
const MAX_CONSECUTIVE_FAILURES = 10;

/** Sleeps until `ms` have passed or the signal aborts, whichever comes first; never throws. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) {
    return;
  }
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}

export async function streamLogs(args: StreamLogsArgs): Promise<StreamLogsResult> {
  const now = args.now ?? (() => new Date());
  const key = keys.logLock(args.database);
  const owner = args.owner ?? `stream-logs/${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  const ttlSeconds = leaseSeconds(args.flushSeconds);
  const startedAt = now();
  const backupId = `${args.database}-${compactTimestamp(startedAt)}-logs`;

  // Standby until the lease is ours: another holder's lock expires or is released.
  let waiting = false;
  while (!args.signal.aborted) {
    const lock = await acquireLock(args.s3, { bucket: args.bucket, database: args.database, backupId, owner, now: now(), ttlSeconds, key });
    if (lock.acquired) {
      break;
    }
    if (!waiting) {
      logLine('info', 'archiving lock held elsewhere; waiting', {
        holder: lock.holder.backupId,
        owner: lock.holder.owner,
        until: lock.holder.expiresAt,
      });
      waiting = true;
    }
    await pause(args.flushSeconds * 1000, args.signal);
  }
  if (args.signal.aborted) {
    return { flushes: 0, segments: 0, bytes: 0, worstLagSeconds: 0, released: false };
  }
  logLine('info', 'archiving lock taken; streaming', { backupId, flushSeconds: args.flushSeconds, leaseSeconds: ttlSeconds });

  let lost: string | undefined;
  const renewals = setInterval(
    () => {
      renewLock(args.s3, { bucket: args.bucket, key, backupId, owner, now: now(), ttlSeconds }).then(
        (outcome) => {
          if (!outcome.renewed) {
            lost = outcome.reason;
          }
        },
        (error: Error) => logLine('warn', 'could not renew the archiving lock; trying again', { error: error.message }),
      );
    },
    Math.min(args.flushSeconds, ttlSeconds / 3) * 1000,
  );

  let session: mysql.Connection | undefined;
  let flushes = 0;
  let segments = 0;
  let bytes = 0;
  let worstLagSeconds = 0;
  let failures = 0;
  // The vault's cursor as this task starts: the first flush's lag counts the time no streamer was running.
  let cursor: LogCursor | undefined = (await getJson(args.s3, args.bucket, keys.logCursor(args.database), LogCursorSchema))?.value;
  let broken: LogCursor['broken'];
  // The retention the server must keep: the flush in whole minutes, as the config's RPO check counts it.
  const intervalMinutes = Math.max(1, Math.ceil(args.flushSeconds / 60));
  const flush = async (): Promise<void> => {
    const flushStart = Date.now();
    session ??= await connect(args.connection);
    let result: ArchiveLogsResult;
    try {
      result = await archiveLogs({
        s3: args.s3,
        bucket: args.bucket,
        database: args.database,
        connection: args.connection,
        intervalMinutes,
        compressionLevel: args.compressionLevel,
        workDir: args.workDir,
        session,
        now,
      });
    } catch (error) {
      // A dead connection is not reused; the next flush opens a new one.
      await session.end().catch(() => undefined);
      session = undefined;
      throw error;
    }
    // The worst case of this cycle: a write just after the previous flush's listing waited until this flush ended.
    const previousCovered = cursor ? Date.parse(cursor.coveredUntil) : flushStart;
    const lagSeconds = Math.max(0, Math.round((Date.now() - previousCovered) / 1000));
    cursor = result.cursor;
    flushes += 1;
    segments += result.segments.length;
    bytes += result.segments.reduce((sum, m) => sum + m.artifact.bytes, 0);
    worstLagSeconds = Math.max(worstLagSeconds, lagSeconds);
    broken = result.broken ?? broken;
    publishDatabaseMetrics(taskMetrics(), { database: args.database, engine: args.engine }, [
      { name: METRIC.logArchiveLagSeconds, unit: 'Seconds', value: lagSeconds },
      { name: METRIC.logChainBroken, unit: 'Count', value: result.broken ? 1 : 0 },
    ]);
    if (result.broken) {
      logLine('error', 'binlog chain broken', { reason: result.broken.reason, resumedAt: result.broken.resumedAt });
    }
  };

  try {
    while (!args.signal.aborted && !lost) {
      const cycleStart = Date.now();
      try {
        await flush();
        failures = 0;
      } catch (error) {
        if (error instanceof BinlogServerNotReadyError || error instanceof TaskEnvError) {
          throw error;
        }
        failures += 1;
        logLine('warn', 'flush failed; the next one retries from the cursor', { error: (error as Error).message, failures });
        if (failures >= MAX_CONSECUTIVE_FAILURES) {
          throw error;
        }
      }
      await pause(cycleStart + args.flushSeconds * 1000 - Date.now(), args.signal);
    }
    if (lost) {
      // Someone else archives now; a flush of ours could race theirs from the same cursor.
      logLine('error', 'archiving lock lost; stopping without a last flush', { reason: lost });
      return { flushes, segments, bytes, ...(cursor && { cursor }), worstLagSeconds, released: false, ...(broken && { broken }) };
    }
    // SIGTERM: the tail written since the last flush goes up before the lease is given back.
    await flush();
  } catch (error) {
    // A task that gives up frees the lease at once, so its replacement need not wait for it to lapse.
    clearInterval(renewals);
    await releaseLock(args.s3, args.bucket, args.database, backupId, key).catch(() => undefined);
    throw error;
  } finally {
    clearInterval(renewals);
    await session?.end().catch(() => undefined);
  }
  const release = await releaseLock(args.s3, args.bucket, args.database, backupId, key);
  logLine('info', 'stopped streaming', { flushes, released: release.released, reason: release.reason });
  return { flushes, segments, bytes, ...(cursor && { cursor }), worstLagSeconds, released: release.released, ...(broken && { broken }) };
}

/**
 * The `stream-logs` task command: streams until SIGTERM (ECS stops a service task with it), then reports what it
 * archived. MySQL/MariaDB only: PostgreSQL's WAL is archived by scheduled runs.
 */
export async function runStreamLogs(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  const engine = env.STRONGBOX_ENGINE;
  if (LOG_KIND_BY_ENGINE[engine] !== 'binlog') {
    throw new TaskEnvError(
      `${TASK_ENV.engine}: stream-logs streams MySQL/MariaDB binlogs, not ${engine}; set logs.mode: scheduled for ${env.STRONGBOX_DATABASE}`,
    );
  }
  const flushSeconds = env[TASK_ENV.logFlushSeconds];
  if (flushSeconds === undefined) {
    throw new TaskEnvError(`${TASK_ENV.logFlushSeconds}: not set; stream-logs needs the database's logs.flushSeconds, e.g. 30`);
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const workDir = mkdtempSync(join(tmpdir(), 'strongbox-stream-'));
  try {
    const result = await streamLogs({
      s3: await deps.s3(),
      bucket: env.STRONGBOX_VAULT_BUCKET,
      database: env.STRONGBOX_DATABASE,
      engine,
      connection: await sourceConnection(env, deps.readSecret),
      flushSeconds,
      compressionLevel: env.STRONGBOX_COMPRESSION_LEVEL,
      workDir,
      signal: stop.signal,
    });
    return {
      command: 'stream-logs',
      ok: true,
      flushes: result.flushes,
      segments: result.segments,
      bytes: result.bytes,
      worstLagSeconds: result.worstLagSeconds,
      released: result.released,
      ...(result.cursor && { next: result.cursor.next, coveredUntil: result.cursor.coveredUntil }),
      ...(result.broken && { broken: result.broken }),
    };
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    rmSync(workDir, { recursive: true, force: true });
  }
}
