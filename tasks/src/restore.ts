import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { keys, type Manifest, ManifestSchema, parseBackupId } from '../../lambdas/shared/catalog';
import { includeOnTarget } from '../../lambdas/shared/restore-payloads';
import { TASK_ENV } from '../../lambdas/shared/task-env';
import type { TaskDeps } from './backup';
import { targetConnection } from './credentials';
import type { RestorePlan } from './engines/engine';
import { ADAPTERS } from './engines/index';
import { TaskEnvError, type TaskSettings } from './env';
import { logLine } from './log';
import { assertTargetWritable, checkDefiners } from './restore-guard';
import { startDecompressor } from './stream/compress';
import { openObject, readJson } from './stream/download';
import { ChecksumMismatchError, HashMeter, VerifyingHoldBack } from './stream/hash';
import { peakRssMb } from './stream/memory';
import { round, startProgress } from './stream/progress';
import type { RunningTool } from './tools';

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
 * stream is faster, so the requested jobs drop to 1. A selection reads a file anyway, so it keeps its jobs.
 */
export function restoreJobs(manifest: Manifest, requested: number, include: readonly string[]): number {
  if (requested <= 1 || include.length > 0) {
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
    raw = await readJson(deps.s3, bucket, key);
  } catch (error) {
    throw new Error(
      `no manifest at s3://${bucket}/${key}: ${(error as Error).name === 'NoSuchKey' ? 'the backup does not exist or did not finish' : (error as Error).message}`,
    );
  }
  return ManifestSchema.parse(raw);
}

/**
 * restore: S3 GetObject -> SHA-256 while streaming -> zstd -d -> engine tool. Engines that need a file
 * (pg_restore --jobs or selection) get one only after its checksum matched; streaming engines get every byte
 * but the last few MiB until the checksum matched (VerifyingHoldBack).
 */
export async function runRestore(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  const backupId = env.STRONGBOX_BACKUP_ID;
  if (!backupId) {
    throw new TaskEnvError(
      `${TASK_ENV.backupId}: not set; restore needs the backupId to restore, such as "${env.STRONGBOX_DATABASE}-20260101T030000Z-full"`,
    );
  }
  if (parseBackupId(backupId).database !== env.STRONGBOX_DATABASE) {
    throw new TaskEnvError(`${TASK_ENV.backupId}: "${backupId}"; expected a backup of ${env.STRONGBOX_DATABASE}`);
  }
  const started = Date.now();
  const bucket = env.STRONGBOX_VAULT_BUCKET;
  const manifest = await loadManifest(deps, bucket, backupId);
  const connection = await targetConnection(env, deps.readSecret);
  const adapter = ADAPTERS[env.STRONGBOX_ENGINE];
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
  const jobs = restoreJobs(manifest, env.STRONGBOX_RESTORE_JOBS, include);
  const plan = await adapter.restore(connection, {
    format: manifest.artifact.format,
    include,
    jobs,
    overwrite: env.STRONGBOX_RESTORE_OVERWRITE === 'true',
    restorePath: env.STRONGBOX_RESTORE_PATH,
  });
  let body: Readable | undefined;
  logLine('info', 'restore started', {
    backupId,
    key: manifest.artifact.key,
    target: `${connection.host}:${connection.port}`,
    mode: plan.kind,
    jobs,
  });
  let bytes = () => 0;
  const stopProgress = startProgress('restore', env.STRONGBOX_PROGRESS_INTERVAL_SECONDS, () => bytes());
  const directory = plan.kind === 'file' ? workDirectory() : undefined;
  let zstd: RunningTool | undefined;
  try {
    // Inside the try: the plan may have created the target database, which a missing artifact must not leave behind.
    ({ body } = await openObject(deps.s3, bucket, manifest.artifact.key));
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
      await plan.fromFile(path);
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
        throw results[0].status === 'rejected' ? results[0].reason : failure.reason;
      }
    }
  } catch (error) {
    zstd?.child.kill('SIGTERM');
    body?.destroy();
    throw await undone(plan, error);
  } finally {
    stopProgress();
    if (directory) {
      rmSync(directory, { recursive: true, force: true });
    }
  }
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
  };
}
