import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DrillFailedError } from '../../../contracts/errors';
import { compareInventory } from '../../../contracts/inventory';
import { METRIC, publishDatabaseMetrics } from '../../../contracts/metrics';
import { TASK_ENV, TaskEnvError } from '../../../contracts/task-env';
import { type DrillRecord, DrillRecordSchema, describeMismatch, type Inventory, keys, type Manifest } from '../../../contracts/vault';
import { putJson } from '../../../contracts/vault-io';
import type { Connection } from '../../../engines/connection';
import type { Check, DrillSupport, EngineAdapter } from '../../../engines/engine';
import { ADAPTERS } from '../../../engines/index';
import { replayBinlog } from '../../../engines/mysql/binlog-replay';
import { startThrowaway, type ThrowawayServer } from '../../../engines/throwaway';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import { taskMetrics } from '../metrics';
import { startDecompressor } from '../stream/compress';
import { openObject } from '../stream/download';
import type { TaskDeps } from './backup';
import { fetchSegment, planChain } from './drill-chain';
import { chainDrillLsn, type WalChainOutcome } from './drill-wal-chain';
import { loadManifest, runRestore } from './restore';

/**
 * drill: restores a verified backup into a throwaway engine started inside this task (no target database is
 * ever needed), compares the engine's inventory with the manifest (exact where the manifest says exact,
 * otherwise within `countTolerance`), runs the engine's own sanity checks, writes drill.json beside the
 * backup and emits DrillPassed and MeasuredRTOSeconds (EMF on stdout, which CloudWatch turns into metrics).
 *
 * MeasuredRTOSeconds is the restore itself (download, checksum, decompress, engine tool): engine start-up
 * is reported separately, because a real recovery restores into a server that is already running.
 *
 * A chain drill (STRONGBOX_DRILL_CHAIN_TO names the next full dump): after the restore, the archived binlog
 * segments are replayed from this dump's coordinates up to the next dump's, and the result is compared with the
 * next dump's exact inventory. That proves every link between the two, not only that each file decompresses.
 * The replay is part of MeasuredRTOSeconds, as it is of a restore to an instant.
 *
 * A PostgreSQL chain drill (STRONGBOX_RECOVERY_BASE_ID names a base): after the dump's own drill, with its throwaway
 * server stopped, the base is recovered with the archived WAL to the LSN the dump recorded and compared with the
 * dump's exact inventory (drill-wal-chain.ts). drill.json gains `recovery`; the recovery is part of
 * MeasuredRTOSeconds, as it is of a restore to an instant (recovery, then the logical delivery the dump's restore
 * stands for).
 */
export async function runDrill(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  const baseId = env.STRONGBOX_RECOVERY_BASE_ID;
  if (baseId && env.STRONGBOX_ENGINE !== 'postgres') {
    throw new TaskEnvError(
      `${TASK_ENV.recoveryBaseId}: set for ${env.STRONGBOX_ENGINE}; the base-and-WAL chain drill is PostgreSQL only (unset it)`,
    );
  }
  const backupId = env.STRONGBOX_BACKUP_ID;
  if (!backupId) {
    throw new TaskEnvError(
      `${TASK_ENV.backupId}: not set; drill needs the backupId to drill (the drill workflow picks the newest verified one)`,
    );
  }
  const bucket = env.STRONGBOX_VAULT_BUCKET;
  const manifest = await loadManifest(deps, bucket, backupId);
  // Refused before the restore: a dump without an LSN cannot be recovered to.
  const targetLsn = baseId ? chainDrillLsn(manifest) : undefined;
  const chainTo = env[TASK_ENV.drillChainTo];
  // The next dump's manifest holds the expected inventory and where the replay ends.
  const next = chainTo ? await loadManifest(deps, bucket, chainTo) : undefined;
  const expected = next ?? manifest;
  const drill = drillSupportFor(manifest);
  const spec = drill.throwaway;
  const engine = spec.engine;
  // A format the server loads at start (a Redis RDB): the file is restored first and the server started on it.
  const loadsAtStart = spec.loadsAtStart?.formats.includes(manifest.artifact.format) ?? false;
  const loadDirectory = loadsAtStart
    ? mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), `strongbox-drill-${manifest.artifact.format}-`))
    : undefined;
  const loadPath = loadDirectory ? join(loadDirectory, `dump.${manifest.artifact.format}`) : undefined;
  let server: ThrowawayServer | undefined;
  let restoreSeconds = 0;
  let phase: 'restore' | 'replay' = 'restore';
  let replay: DrillRecord['replay'];
  let record: DrillRecord;
  let dumpRestored = false;
  try {
    server = loadsAtStart ? undefined : await startThrowaway(spec);
    const database = drill.database(env.STRONGBOX_DB_NAME);
    const target: Connection = server?.connection ?? { host: '127.0.0.1', port: 1, tls: 'disable' };
    await drill.prepare?.(target, {
      manifest,
      database,
      readArtifact: (sink) => readArtifact(deps, bucket, manifest, sink),
      log: (level, message, fields) => logLine(level, message, { backupId, ...fields }),
    });
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
          STRONGBOX_RESTORE_PATH: loadPath,
          // The throwaway server has none of the source's roles: they are created from the backup's stored definitions.
          STRONGBOX_RESTORE_CREATE_ROLES: 'true',
          STRONGBOX_RESTORE_PRIVILEGES: drill.privileges(manifest),
          // The dump itself is restored here; its base is recovered afterwards, by the chain drill.
          STRONGBOX_RECOVERY_BASE_ID: undefined,
        },
      },
      deps,
      { progress: 'drill' },
    );
    if (loadPath) {
      server = await startThrowaway(spec, { load: loadPath });
    }
    if (!server) {
      throw new Error('the throwaway engine did not start');
    }
    const connection: Connection = { ...server.connection, database };
    if (next) {
      phase = 'replay';
      replay = await replayChain(deps, bucket, manifest, next, connection);
    }
    restoreSeconds = (Date.now() - started) / 1000;
    const actual: Inventory = await ADAPTERS[env.STRONGBOX_ENGINE].inventory(connection);
    const mismatches = compareInventory(expected.inventory, actual, { engine, extrasAreMismatches: true });
    const checks = await sanityChecks(drill, connection, actual, expected.requires?.roles);
    const restored = `${manifest.artifact.format} restored into a throwaway ${engine}`;
    record = {
      schemaVersion: 1,
      backupId,
      passed: mismatches.length === 0 && checks.every((c) => c.passed),
      drilledAt: new Date().toISOString(),
      restoreSeconds: Math.round(restoreSeconds * 1000) / 1000,
      mismatches,
      checks: [
        { name: 'restore', passed: true, detail: restored },
        ...(replay
          ? [{ name: 'replay', passed: true, detail: `${replay.segmentIds.length} segments replayed up to ${replay.toBackupId}` }]
          : []),
        ...checks,
      ],
      ...(replay && { replay }),
    };
    dumpRestored = true;
  } catch (error) {
    // A restore that fails is the drill's most important finding: it is recorded, not just thrown.
    record = {
      schemaVersion: 1,
      backupId,
      passed: false,
      drilledAt: new Date().toISOString(),
      restoreSeconds: Math.round(restoreSeconds * 1000) / 1000,
      mismatches: [],
      checks: [
        ...(phase === 'replay' ? [{ name: 'restore', passed: true }] : []),
        { name: phase, passed: false, detail: (error instanceof Error ? error.message : String(error)).slice(0, 2000) },
      ],
    };
  } finally {
    await server?.stop().catch(() => undefined);
    if (loadDirectory) {
      rmSync(loadDirectory, { recursive: true, force: true });
    }
  }
  // The dump's throwaway server is gone by now: the recovered cluster gets the disk to itself.
  let chain: WalChainOutcome | undefined;
  if (baseId && dumpRestored) {
    chain = await (await import('./drill-wal-chain')).drillWalChain(settings, deps, manifest, baseId);
    record = {
      ...record,
      passed: record.passed && chain.passed,
      restoreSeconds: Math.round((restoreSeconds + chain.recovery.recoverySeconds) * 1000) / 1000,
      checks: [...record.checks, ...chain.checks],
      recovery: chain.recovery,
    };
  }
  DrillRecordSchema.parse(record);
  await putJson(await deps.s3(), bucket, keys.drill(backupId), record);
  publishDatabaseMetrics(taskMetrics(), { database: env.STRONGBOX_DATABASE, engine: env.STRONGBOX_ENGINE }, [
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
      ...(record.recovery?.mismatches ?? []).map((m) => `recovered ${baseId}: ${describeMismatch(m)}`),
      ...record.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail ?? 'failed'}`),
    ];
    const what = chain && !chain.passed ? `chain drill of ${baseId} against ${backupId}` : `drill of ${backupId}`;
    throw new DrillFailedError(`${what} failed (drill.json written): ${why.join('; ')}`);
  }
  if (chain) {
    return {
      command: 'drill',
      mode: 'wal-chain',
      ok: true,
      backupId,
      baseId,
      lsn: targetLsn,
      passed: true,
      restoreSeconds: record.restoreSeconds,
      recoverySeconds: chain.recovery.recoverySeconds,
      walFiles: chain.recovery.walFiles.length,
      // The chain's own checks; drill.json lists the dump's drill checks before them.
      checks: chain.checks,
    };
  }
  return { command: 'drill', ok: true, backupId, passed: true, restoreSeconds: record.restoreSeconds, checks: record.checks.length };
}

/**
 * The replay phase of a chain drill: the segments from `from`'s coordinates to `next`'s, each downloaded with its
 * checksum checked and decompressed into a scratch directory, then replayed into the throwaway server up to (not
 * including) the first event at `next`'s coordinates, which is exactly what `next`'s snapshot shows.
 */
async function replayChain(
  deps: TaskDeps,
  bucket: string,
  from: Manifest,
  next: Manifest,
  target: Connection,
): Promise<NonNullable<DrillRecord['replay']>> {
  const started = Date.now();
  const s3 = await deps.s3();
  const chain = await planChain(s3, bucket, from, next);
  const directory = join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), `strongbox-drill-replay-${from.backupId}`);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  try {
    const segments = [];
    for (const manifest of chain.manifests) {
      segments.push({
        path: await fetchSegment(s3, bucket, manifest, directory),
        serverFile: manifest.serverFile,
        startPosition: manifest.startPosition,
      });
    }
    if (segments.length > 0) {
      await replayBinlog({ target, segments, from: chain.link.from, stop: { kind: 'position', ...chain.link.to } });
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  return {
    toBackupId: next.backupId,
    from: chain.link.from,
    to: chain.link.to,
    segmentIds: chain.manifests.map((m) => m.segmentId),
    bytes: chain.manifests.reduce((sum, m) => sum + m.artifact.bytes, 0),
    replaySeconds: Math.round(((Date.now() - started) / 1000) * 1000) / 1000,
  };
}

/** Streams the backup's decompressed artifact into `sink`: an engine's drill preparation may read it once more. */
async function readArtifact(deps: TaskDeps, bucket: string, manifest: Manifest, sink: NodeJS.WritableStream): Promise<void> {
  const { body } = await openObject(await deps.s3(), bucket, manifest.artifact.key);
  const zstd = startDecompressor('pipe');
  await Promise.all([
    pipeline(body, zstd.child.stdin as NodeJS.WritableStream),
    pipeline(zstd.child.stdout as NodeJS.ReadableStream, sink),
    zstd.succeeded(),
  ]);
}

/** The engine's own health checks; one that cannot run at all is recorded as a failed check. */
async function sanityChecks(
  drill: DrillSupport,
  connection: Connection,
  inventory: Inventory,
  requiredRoles: readonly string[] | undefined,
): Promise<Check[]> {
  try {
    return await drill.sanityChecks(connection, inventory, requiredRoles);
  } catch (error) {
    return [{ name: 'sanity', passed: false, detail: error instanceof Error ? error.message : String(error) }];
  }
}

function drillSupportFor(manifest: Manifest): DrillSupport {
  const adapters: Readonly<Record<string, EngineAdapter>> = ADAPTERS;
  const drill = adapters[manifest.engine.name]?.drill;
  if (!drill) {
    const drillable = Object.entries(ADAPTERS)
      .filter(([, adapter]) => adapter.drill)
      .map(([name]) => name);
    throw new TaskEnvError(
      `drill: no throwaway ${manifest.engine.name} server in this image; drills support ${drillable.slice(0, -1).join(', ')} and ${drillable.at(-1)}`,
    );
  }
  return drill;
}
