import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC, METRICS_NAMESPACE, publishDatabaseMetrics } from '../../../contracts/metrics';
import { compareInventory } from '../../../contracts/payloads/restore';
import { TASK_ENV, TaskEnvError } from '../../../contracts/task-env';
import { type DrillRecord, DrillRecordSchema, describeMismatch, type Inventory, keys, type Manifest } from '../../../contracts/vault';
import { putJson } from '../../../contracts/vault-io';
import type { Connection } from '../../../engines/connection';
import { ADAPTERS } from '../../../engines/index';
import { createDefinerAccounts, DumpDefiners, dumpedDatabases } from '../../../engines/mysql/adapter';
import { sanityChecks } from '../../../engines/sanity';
import { startThrowaway, type ThrowawayEngine } from '../../../engines/throwaway';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import { startDecompressor } from '../stream/compress';
import { openObject } from '../stream/download';
import type { TaskDeps } from './backup';
import { loadManifest, runRestore } from './restore';

/**
 * drill: restores a verified backup into a throwaway engine started inside this task (no target database is
 * ever needed), compares the engine's inventory with the manifest (exact where the manifest says exact,
 * otherwise within `countTolerance`), runs the engine's own sanity checks, writes drill.json beside the
 * backup and emits DrillPassed and MeasuredRTOSeconds (EMF on stdout, which CloudWatch turns into metrics).
 *
 * MeasuredRTOSeconds is the restore itself (download, checksum, decompress, engine tool): engine start-up
 * is reported separately, because a real recovery restores into a server that is already running.
 */
export async function runDrill(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  const backupId = env.STRONGBOX_BACKUP_ID;
  if (!backupId) {
    throw new TaskEnvError(
      `${TASK_ENV.backupId}: not set; drill needs the backupId to drill (the drill workflow picks the newest verified one)`,
    );
  }
  const bucket = env.STRONGBOX_VAULT_BUCKET;
  const manifest = await loadManifest(deps, bucket, backupId);
  const engine = throwawayEngineFor(manifest);
  const rdb = manifest.artifact.format === 'rdb';
  const rdbDirectory = rdb ? mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), 'strongbox-drill-rdb-')) : undefined;
  const rdbPath = rdbDirectory ? join(rdbDirectory, 'dump.rdb') : undefined;
  let server: ThrowawayEngine | undefined;
  let restoreSeconds = 0;
  let record: DrillRecord;
  try {
    // An RDB is loaded by redis-server at start, so the file is restored first and the server started on it.
    server = rdb ? undefined : await startThrowaway(engine);
    // PostgreSQL restores into one database (any name); MySQL under the dumped name, or under their own names
    // when several databases were dumped; Redis has none.
    const database = engine === 'postgres' ? (env.STRONGBOX_DB_NAME ?? 'drill') : engine === 'mariadb' ? env.STRONGBOX_DB_NAME : undefined;
    const target: Connection = server?.connection ?? { host: '127.0.0.1', port: 1, tls: 'disable' };
    if (engine === 'mariadb') {
      // The objects run as their DEFINER accounts, as in production: the throwaway server gets them first.
      const definers = manifest.requires?.definers ?? (await definersInDump(deps, bucket, manifest));
      const created = await createDefinerAccounts(target, database ? [database] : dumpedDatabases(manifest), definers);
      if (created.length > 0) {
        logLine('info', 'drill: created the DEFINER accounts in the throwaway server', { backupId, accounts: created });
      }
    }
    const started = Date.now();
    await runRestore(
      {
        ...settings,
        include: [],
        env: {
          ...env,
          STRONGBOX_COMMAND: 'restore',
          STRONGBOX_DB_TLS: 'disable',
          STRONGBOX_DB_USERNAME: target.username,
          STRONGBOX_DB_PASSWORD: target.password,
          STRONGBOX_DB_SECRET_ARN: undefined,
          STRONGBOX_TARGET_HOST: target.host,
          STRONGBOX_TARGET_PORT: target.port,
          STRONGBOX_TARGET_NAME: database,
          STRONGBOX_TARGET_SECRET_ARN: undefined,
          STRONGBOX_RESTORE_OVERWRITE: 'true',
          STRONGBOX_RESTORE_PATH: rdbPath,
          // The throwaway server has none of the source's roles: they are created from the backup's stored
          // definitions, so the drill restores owners and privileges exactly as a real restore does. A backup
          // from before roles were recorded cannot say which roles it needs, so it drills without them.
          STRONGBOX_RESTORE_CREATE_ROLES: 'true',
          STRONGBOX_RESTORE_PRIVILEGES: engine === 'postgres' && !manifest.requires?.roles ? 'skip' : 'restore',
        },
      },
      deps,
    );
    if (rdbPath) {
      server = await startThrowaway('redis', { redisRdbPath: rdbPath });
    }
    restoreSeconds = (Date.now() - started) / 1000;
    if (!server) {
      throw new Error('the throwaway engine did not start');
    }
    const connection: Connection = { ...server.connection, database };
    const actual: Inventory = await ADAPTERS[env.STRONGBOX_ENGINE].inventory(connection);
    const mismatches = compareInventory(manifest.inventory, actual, { engine, extrasAreMismatches: true });
    const checks = await sanityChecks(engine, connection, actual, manifest.requires?.roles);
    record = {
      schemaVersion: 1,
      backupId,
      passed: mismatches.length === 0 && checks.every((c) => c.passed),
      drilledAt: new Date().toISOString(),
      restoreSeconds: Math.round(restoreSeconds * 1000) / 1000,
      mismatches,
      checks: [{ name: 'restore', passed: true, detail: `${manifest.artifact.format} restored into a throwaway ${engine}` }, ...checks],
    };
  } catch (error) {
    // A restore that fails is the drill's most important finding: it is recorded, not just thrown.
    record = {
      schemaVersion: 1,
      backupId,
      passed: false,
      drilledAt: new Date().toISOString(),
      restoreSeconds: Math.round(restoreSeconds * 1000) / 1000,
      mismatches: [],
      checks: [{ name: 'restore', passed: false, detail: (error instanceof Error ? error.message : String(error)).slice(0, 2000) }],
    };
  } finally {
    await server?.stop().catch(() => undefined);
    if (rdbDirectory) {
      rmSync(rdbDirectory, { recursive: true, force: true });
    }
  }
  DrillRecordSchema.parse(record);
  await putJson(deps.s3, bucket, keys.drill(backupId), record);
  publishDatabaseMetrics(metricsInstance(), { database: env.STRONGBOX_DATABASE, engine: env.STRONGBOX_ENGINE }, [
    { name: METRIC.drillPassed, unit: 'Count', value: record.passed ? 1 : 0 },
    ...(record.passed ? [{ name: METRIC.measuredRtoSeconds, unit: 'Seconds' as const, value: record.restoreSeconds }] : []),
  ]);
  logLine(record.passed ? 'info' : 'error', record.passed ? 'drill passed' : 'drill failed', {
    backupId,
    restoreSeconds: record.restoreSeconds,
    engineStartSeconds: server?.startSeconds,
    mismatches: record.mismatches.length,
  });
  if (!record.passed) {
    const why = [
      ...record.mismatches.map(describeMismatch),
      ...record.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail ?? 'failed'}`),
    ];
    throw new DrillFailedError(`drill of ${backupId} failed (drill.json written): ${why.join('; ')}`);
  }
  return { command: 'drill', ok: true, backupId, passed: true, restoreSeconds: record.restoreSeconds, checks: record.checks.length };
}

/**
 * The drill's own Metrics, with the namespace and service name of the shared instance in lambdas/runtime/powertools.
 * That module also builds a Tracer, whose X-Ray SDK enables async_hooks when it loads: in the task bundle that
 * taxes every stream callback of every backup and restore, and the task never traces.
 */
let drillMetrics: Metrics | undefined;
function metricsInstance(): Metrics {
  drillMetrics ??= new Metrics({ namespace: METRICS_NAMESPACE, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'strongbox' });
  return drillMetrics;
}

/**
 * The DEFINER accounts a MySQL dump names, for manifests written before `requires.definers`: one extra read of
 * the artifact, before the restore is timed (the restore itself needs them: a view calling a routine cannot be
 * created while the routine's definer is missing).
 */
async function definersInDump(deps: TaskDeps, bucket: string, manifest: Manifest): Promise<string[]> {
  const { body } = await openObject(deps.s3, bucket, manifest.artifact.key);
  const zstd = startDecompressor('pipe');
  const found = new DumpDefiners();
  await Promise.all([
    pipeline(body, zstd.child.stdin as NodeJS.WritableStream),
    pipeline(zstd.child.stdout as NodeJS.ReadableStream, found),
    zstd.succeeded(),
  ]);
  return found.definers();
}

/** The drill found the backup not restorable as recorded; drill.json says why, and the task exits 1. */
export class DrillFailedError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'DrillFailedError';
  }
}

function throwawayEngineFor(manifest: Manifest): 'postgres' | 'mariadb' | 'redis' {
  switch (manifest.engine.name) {
    case 'postgres':
      return 'postgres';
    case 'mysql':
    case 'mariadb':
      // The image carries MariaDB; it reads MySQL logical dumps (the formats differ only in features a dump of
      // tables, routines and triggers rarely uses).
      return 'mariadb';
    case 'redis':
      return 'redis';
    default:
      throw new TaskEnvError(
        `drill: no throwaway ${manifest.engine.name} server in this image; drills support postgres, mysql, mariadb and redis`,
      );
  }
}
