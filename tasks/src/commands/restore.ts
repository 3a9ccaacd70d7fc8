import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RESTORE_RULES } from '../../../contracts/engines';
import { includeOnTarget } from '../../../contracts/inventory';
import { TASK_ENV, TaskEnvError } from '../../../contracts/task-env';
import { keys, type Manifest, ManifestSchema, parseBackupId } from '../../../contracts/vault';
import { type Connection, targetConnection } from '../../../engines/connection';
import { type RestoreDetails, type RestorePlan, RestoreUndoneError, type RoleCreation } from '../../../engines/engine';
import { roleCreation } from '../../../engines/postgres/adapter';
import { assertRolesPresent, assertTargetWritable, checkDefiners } from '../../../engines/target-guard';
import type { RunningTool } from '../../../engines/tools';
import { loadAdapter } from '../adapters';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import { startDecompressor } from '../stream/compress';
import { openObject, readJson } from '../stream/download';
import { ChecksumMismatchError, HashMeter, VerifyingHoldBack } from '../stream/hash';
import { peakRssMb } from '../stream/memory';
import { round, startProgress } from '../stream/progress';
import type { TaskDeps } from './backup';
import { replayLogs, replayStopFromEnv } from './replay-logs';

/** Where pg_restore's seekable copy goes (ephemeral storage in Fargate); STRONGBOX_WORK_DIR overrides. */
function workDirectory(): string {
  return mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), 'strongbox-restore-'));
}

/**
 * Forwards to a child's stdin until the child stops reading, then discards, so the download still runs to its
 * end and the checksum verdict is reached even when zstd gave up on a corrupt frame first.
 */
function tolerant(target: NodeJS.WritableStream & Partial<Pick<Writable, 'destroyed'>>): Writable {
  let broken = false;
  target.on('error', () => {
    broken = true;
  });
  target.on('close', () => {
    broken = true;
  });
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (broken || target.destroyed) {
        callback();
        return;
      }
      if (target.write(chunk)) {
        callback();
        return;
      }
      const done = () => {
        target.removeListener('drain', done);
        target.removeListener('close', done);
        callback();
      };
      target.once('drain', done);
      target.once('close', done);
    },
    final(callback) {
      if (broken || target.destroyed) {
        callback();
        return;
      }
      target.end(() => callback());
    },
    // A failed download (checksum mismatch included) closes the child's stdin, so zstd and the tool behind it
    // see a truncated input and stop instead of waiting for more.
    destroy(error, callback) {
      (target as Partial<Writable>).destroy?.();
      callback(error);
    },
  });
}

function stdinOf(tool: RunningTool): NodeJS.WritableStream {
  const stdin = tool.child.stdin;
  if (!stdin) {
    throw new Error(`${tool.name} has no stdin`);
  }
  return stdin;
}

/**
 * Parallel restore jobs worth their price. pg_restore --jobs needs a seekable archive, so the whole uncompressed
 * dump is first written to local disk, and no row is restored until the download has finished; a stream
 * overlaps download and restore and runs in one transaction. Parallel jobs win that back only when several
 * tables can load at once: with one table holding most of the rows (the manifest's only per-table size), the
 * stream is faster, so the requested jobs drop to 1. A selection runs one job: it restores in one transaction,
 * so that a failed one leaves nothing behind.
 */
export function restoreJobs(manifest: Manifest, requested: number, include: readonly string[]): number {
  if (include.length > 0) {
    return 1;
  }
  if (requested <= 1) {
    return requested;
  }
  const rows = manifest.inventory.entries.filter((entry) => entry.kind === 'table').map((entry) => entry.count ?? 0);
  const total = rows.reduce((sum, count) => sum + count, 0);
  const largest = Math.max(0, ...rows);
  return total > 0 && largest <= LARGEST_TABLE_SHARE_FOR_JOBS * total ? requested : 1;
}

/** Above this share of all rows in one table, that table's load is the restore and jobs cannot shorten it. */
const LARGEST_TABLE_SHARE_FOR_JOBS = 0.75;

/** The failure, with what the engine took back (or could not) appended to its message. */
async function undone(plan: RestorePlan, error: unknown): Promise<unknown> {
  if (!plan.undo) {
    return error;
  }
  const note = await plan.undo().catch((e: Error) => `taking back the failed restore failed too: ${e.message}`);
  if (note && error instanceof Error) {
    error.message = `${error.message}; ${note}`;
  }
  return error;
}

export async function loadManifest(deps: TaskDeps, bucket: string, backupId: string): Promise<Manifest> {
  const key = keys.manifest(backupId);
  let raw: unknown;
  try {
    raw = await readJson(await deps.s3(), bucket, key);
  } catch (error) {
    throw new Error(
      `no manifest at s3://${bucket}/${key}: ${(error as Error).name === 'NoSuchKey' ? 'the backup does not exist or did not finish' : (error as Error).message}`,
    );
  }
  return ManifestSchema.parse(raw);
}

/** Above this, a roles artifact is not what Strongbox stored (role definitions are kilobytes). */
const ROLES_ARTIFACT_LIMIT = 64 * 1024 * 1024;

/**
 * PostgreSQL, owners and privileges restored: the roles they name must exist on the target before anything is
 * written (the Guard checked too; this is the check right before the first write). With `roles: "create"`,
 * the missing ones are created from the backup's stored definitions, checked against the manifest's SHA-256.
 */
async function rolesToCreate(
  settings: TaskSettings,
  deps: TaskDeps,
  manifest: Manifest,
  connection: Connection,
): Promise<RoleCreation | undefined> {
  const env = settings.env;
  if (env.STRONGBOX_RESTORE_PRIVILEGES === 'skip') {
    return undefined;
  }
  const required = manifest.requires?.roles ?? [];
  const missing = await assertRolesPresent({
    database: env.STRONGBOX_DATABASE,
    connection,
    required,
    create: env.STRONGBOX_RESTORE_CREATE_ROLES === 'true',
    rolesStored: manifest.roles !== undefined,
  });
  if (missing.length === 0 || !manifest.roles) {
    return undefined;
  }
  const sql = await readRolesArtifact(deps, env.STRONGBOX_VAULT_BUCKET, manifest.roles);
  const creation = roleCreation(
    sql,
    missing,
    required.filter((role) => !missing.includes(role)),
  );
  logLine('info', 'roles to create before restoring', { roles: creation.roles });
  return creation;
}

async function readRolesArtifact(deps: TaskDeps, bucket: string, roles: NonNullable<Manifest['roles']>): Promise<string> {
  if (roles.bytes > ROLES_ARTIFACT_LIMIT || roles.uncompressedBytes > ROLES_ARTIFACT_LIMIT) {
    throw new Error(
      `${roles.key}: ${roles.uncompressedBytes} bytes of role definitions is more than a roles artifact holds; create the roles by hand`,
    );
  }
  const { body } = await openObject(await deps.s3(), bucket, roles.key);
  const stored = Buffer.concat(await body.toArray());
  const sha256 = createHash('sha256').update(stored).digest('hex');
  if (sha256 !== roles.sha256) {
    throw new ChecksumMismatchError(roles.sha256, sha256);
  }
  const zstd = startDecompressor('pipe');
  const chunks: Buffer[] = [];
  zstd.child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  zstd.child.stdin?.end(stored);
  await zstd.succeeded();
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * restore: S3 GetObject -> SHA-256 while streaming -> zstd -d -> engine tool. Progress lines count the
 * downloaded bytes against the manifest's artifact (`options.progress` names them: a drill's say "drill"). Engines that need a file
 * (pg_restore --jobs or selection) get one only after its checksum matched; streaming engines get every byte
 * but the last few MiB until the checksum matched (VerifyingHoldBack).
 */
export async function runRestore(
  settings: TaskSettings,
  deps: TaskDeps,
  options: { readonly progress?: string } = {},
): Promise<Record<string, unknown>> {
  const env = settings.env;
  if (env.STRONGBOX_RECOVERY_BASE_ID) {
    return (await import('./recover-postgres')).runPointInTimeRestore(settings, deps);
  }
  const backupId = env.STRONGBOX_BACKUP_ID;
  if (!backupId) {
    throw new TaskEnvError(
      `${TASK_ENV.backupId}: not set; restore needs the backupId to restore, such as "${env.STRONGBOX_DATABASE}-20260101T030000Z-full"`,
    );
  }
  if (parseBackupId(backupId).database !== env.STRONGBOX_DATABASE) {
    throw new TaskEnvError(`${TASK_ENV.backupId}: "${backupId}"; expected a backup of ${env.STRONGBOX_DATABASE}`);
  }
  // A restore to an instant, position or GTID: parsed before anything is written, replayed after the dump.
  const replayStop = replayStopFromEnv(settings);
  const started = Date.now();
  const bucket = env.STRONGBOX_VAULT_BUCKET;
  const manifest = await loadManifest(deps, bucket, backupId);
  const connection = await targetConnection(env, deps.readSecret);
  const adapter = await loadAdapter(env.STRONGBOX_ENGINE);
  // Before a byte is written: a non-empty target needs overwrite+confirm (the Guard's wording). An RDB written
  // to STRONGBOX_RESTORE_PATH is a file for a fresh server (drills), so there is no live target to look into.
  const include = includeOnTarget(settings.include, env.STRONGBOX_ENGINE, env.STRONGBOX_DB_NAME, connection.database);
  if (!(manifest.artifact.format === 'rdb' && env.STRONGBOX_RESTORE_PATH)) {
    await assertTargetWritable({
      database: env.STRONGBOX_DATABASE,
      engine: env.STRONGBOX_ENGINE,
      adapter,
      connection,
      include,
      overwrite: env.STRONGBOX_RESTORE_OVERWRITE === 'true',
    });
  }
  const ignoredDefiners = await checkDefiners({
    database: env.STRONGBOX_DATABASE,
    engine: env.STRONGBOX_ENGINE,
    connection,
    definers: manifest.requires?.definers,
    mode: env.STRONGBOX_RESTORE_DEFINERS,
  });
  if (ignoredDefiners.length > 0) {
    logLine('warn', 'restoring without DEFINER accounts the target lacks (definers: ignore)', { backupId, ignoredDefiners });
  }
  const createRoles = RESTORE_RULES[env.STRONGBOX_ENGINE].roles ? await rolesToCreate(settings, deps, manifest, connection) : undefined;
  const jobs = restoreJobs(manifest, env.STRONGBOX_RESTORE_JOBS, include);
  // Opened before the plan: a plan may create the target database, and a missing artifact must fail first.
  const { body } = await openObject(await deps.s3(), bucket, manifest.artifact.key);
  const plan = await adapter
    .restore(connection, {
      format: manifest.artifact.format,
      include,
      jobs,
      overwrite: env.STRONGBOX_RESTORE_OVERWRITE === 'true',
      restorePath: env.STRONGBOX_RESTORE_PATH,
      privileges: env.STRONGBOX_RESTORE_PRIVILEGES,
      backupStartedAt: new Date(manifest.startedAt),
      ...(createRoles ? { createRoles } : {}),
      log: logLine,
    })
    .catch((error: unknown) => {
      body.destroy();
      throw error;
    });
  logLine('info', 'restore started', {
    backupId,
    key: manifest.artifact.key,
    target: `${connection.host}:${connection.port}`,
    mode: plan.kind,
    jobs,
  });
  let bytes = () => 0;
  const progress = startProgress(
    options.progress ?? 'restore',
    {
      intervalSeconds: env.STRONGBOX_PROGRESS_INTERVAL_SECONDS,
      totals: { bytes: manifest.artifact.bytes, parts: manifest.artifact.parts, partSizeBytes: manifest.artifact.partSizeBytes },
    },
    () => bytes(),
  );
  const directory = plan.kind === 'file' ? workDirectory() : undefined;
  let zstd: RunningTool | undefined;
  let details: RestoreDetails | undefined;
  try {
    if (plan.kind === 'file' && directory) {
      // zstd writes the file itself; the archive is as large as the uncompressed dump.
      const path = join(directory, 'dump');
      const fd = openSync(path, 'w', 0o600);
      zstd = startDecompressor(fd);
      closeSync(fd);
      const meter = new HashMeter();
      bytes = () => meter.bytes;
      const results = await Promise.allSettled([pipeline(body, meter, tolerant(stdinOf(zstd))), zstd.succeeded()]);
      // zstd rejects most corruption on its own; the checksum verdict names the cause either way.
      if (results[0].status === 'fulfilled' && meter.sha256() !== manifest.artifact.sha256) {
        throw new ChecksumMismatchError(manifest.artifact.sha256, meter.sha256());
      }
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) {
        throw failure.reason;
      }
      details = (await plan.fromFile(path)) ?? undefined;
    } else if (plan.kind === 'stream') {
      const decompressor = startDecompressor('pipe');
      zstd = decompressor;
      const verifier = new VerifyingHoldBack(manifest.artifact.sha256);
      bytes = () => verifier.bytes;
      const decompressed = decompressor.child.stdout;
      if (!decompressed) {
        throw new Error('zstd has no stdout');
      }
      const results = await Promise.allSettled([
        pipeline(body, verifier, tolerant(stdinOf(decompressor))),
        plan.consume(decompressed),
        decompressor.succeeded(),
      ]);
      // A checksum error is the cause; the tool failing on its truncated input is the consequence.
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) {
        throw results[0].status === 'rejected' ? withUndo(results[0].reason, results[1]) : failure.reason;
      }
      details = results[1].status === 'fulfilled' ? (results[1].value ?? undefined) : undefined;
    }
  } catch (error) {
    zstd?.child.kill('SIGTERM');
    body.destroy();
    throw await undone(plan, error);
  } finally {
    progress.stop();
    if (directory) {
      rmSync(directory, { recursive: true, force: true });
    }
  }
  progress.finish();
  const replayed = replayStop ? await replayLogs(settings, deps, manifest, connection, replayStop) : undefined;
  const seconds = (Date.now() - started) / 1000;
  logLine('info', 'restore finished', { backupId, seconds: round(seconds, 3) });
  return {
    command: 'restore',
    ok: true,
    backupId,
    bytes: manifest.artifact.bytes,
    uncompressedBytes: manifest.artifact.uncompressedBytes,
    durationSeconds: round(seconds, 3),
    mbPerSecond: round(manifest.artifact.uncompressedBytes / 1e6 / Math.max(seconds, 0.001)),
    peakRssMb: peakRssMb(),
    ...details,
    ...replayed,
  };
}

/** The download's error stays the cause; what the engine then took back out of the target (or could not) is told with it. */
function withUndo(cause: unknown, consumed: PromiseSettledResult<unknown>): unknown {
  if (cause instanceof Error && consumed.status === 'rejected' && consumed.reason instanceof RestoreUndoneError) {
    cause.message = `${cause.message}; ${consumed.reason.undo}`;
  }
  return cause;
}
