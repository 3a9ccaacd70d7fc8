import { closeSync, createWriteStream, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { compareInventory, includeOnTarget } from '../../../contracts/inventory';
import { type SegmentManifest, SegmentManifestSchema } from '../../../contracts/logs';
import { TASK_ENV, TaskEnvError } from '../../../contracts/task-env';
import { describeMismatch, type Inventory, logsPrefix } from '../../../contracts/vault';
import { listObjects } from '../../../contracts/vault-io';
import { type BaseBackupManifest, BaseBackupManifestSchema, baseKeys, parseLsn } from '../../../contracts/wal';
import { type Connection, targetConnection } from '../../../engines/connection';
import type { DumpSession, RestorePlan } from '../../../engines/engine';
import { postgres } from '../../../engines/postgres/adapter';
import {
  type RecoveredServer,
  RecoveryFailedError,
  type RecoveryTarget,
  recoverPostgres,
  type WalSource,
} from '../../../engines/postgres/recovery';
import { assertTargetWritable } from '../../../engines/target-guard';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import { startDecompressor } from '../stream/compress';
import { openObject, readJson } from '../stream/download';
import { ChecksumMismatchError, HashMeter } from '../stream/hash';
import { round } from '../stream/progress';
import type { TaskDeps } from './backup';

/**
 * PostgreSQL point-in-time restore: the base backup and the archived WAL are recovered inside this task (engines/
 * postgres/recovery.ts) to the requested stop point, and the recovered database is then delivered into the target by
 * the ordinary logical path, pg_dump of the recovered server into the adapter's restore plan (include, overwrite,
 * privileges and the target guard exactly as a restore of a logical backup). The recovered database's own inventory,
 * counted in pg_dump's snapshot, is what the target must hold afterwards.
 */

/** Every WAL segment manifest of the database, one per WAL file: the one reaching furthest (contracts/wal.ts). */
export async function walSegments(s3: S3Client, bucket: string, database: string): Promise<Map<string, SegmentManifest>> {
  const byFile = new Map<string, SegmentManifest>();
  for await (const object of listObjects(s3, bucket, logsPrefix(database, 'wal'))) {
    if (!object.key.endsWith('/manifest.json')) {
      continue;
    }
    const segment = SegmentManifestSchema.parse(await readJson(s3, bucket, object.key));
    const held = byFile.get(segment.serverFile);
    if (!held || (segment.closed && !held.closed) || (segment.closed === held.closed && segment.endPosition > held.endPosition)) {
      byFile.set(segment.serverFile, segment);
    }
  }
  return byFile;
}

/**
 * Decompressed bytes of one stored object whose compressed SHA-256 must equal `sha256`: the stream ends only once the
 * checksum matched, and fails with ChecksumMismatchError otherwise, so a reader never takes a changed object as whole.
 */
async function verifiedObject(s3: S3Client, bucket: string, key: string, sha256: string): Promise<Readable> {
  const { body } = await openObject(s3, bucket, key);
  const zstd = startDecompressor('pipe');
  const meter = new HashMeter();
  const verdict = Promise.all([pipeline(body, meter, zstd.child.stdin as NodeJS.WritableStream), zstd.succeeded()]).then(() => {
    if (meter.sha256() !== sha256) {
      throw new ChecksumMismatchError(sha256, meter.sha256());
    }
  });
  const out = new Transform({
    transform: (chunk, _encoding, callback) => callback(null, chunk),
    flush: (callback) => {
      verdict.then(
        () => callback(),
        (error: Error) => callback(error),
      );
    },
  });
  verdict.catch((error: Error) => out.destroy(error));
  (zstd.child.stdout as Readable).pipe(out);
  return out;
}

/**
 * One stored object decompressed by zstd straight into `path` (zstd's stdout is the file): the compressed bytes pass
 * through this process for their SHA-256, the decompressed ones do not. Fails with ChecksumMismatchError when the
 * object is not the one the manifest recorded; the caller only uses `path` after this resolved.
 */
async function verifiedObjectToFile(s3: S3Client, bucket: string, key: string, sha256: string, path: string): Promise<void> {
  const { body } = await openObject(s3, bucket, key);
  const fd = openSync(path, 'w', 0o600);
  let zstd: ReturnType<typeof startDecompressor>;
  try {
    zstd = startDecompressor(fd);
  } finally {
    closeSync(fd);
  }
  const meter = new HashMeter();
  await Promise.all([pipeline(body, meter, zstd.child.stdin as NodeJS.WritableStream), zstd.succeeded()]);
  if (meter.sha256() !== sha256) {
    throw new ChecksumMismatchError(sha256, meter.sha256());
  }
}

/** restore_command's source: each WAL file PostgreSQL asks for, from its segment in the vault, checksum-checked. */
export function vaultWalSource(s3: S3Client, bucket: string, segments: ReadonlyMap<string, SegmentManifest>): WalSource {
  const source = async (name: string) => {
    const segment = segments.get(name);
    return segment ? verifiedObject(s3, bucket, segment.artifact.key, segment.artifact.sha256) : undefined;
  };
  return Object.assign(source, {
    fetchTo: async (name: string, path: string) => {
      const segment = segments.get(name);
      if (!segment) {
        return false;
      }
      await verifiedObjectToFile(s3, bucket, segment.artifact.key, segment.artifact.sha256, path);
      return true;
    },
  });
}

export async function loadBaseManifest(s3: S3Client, bucket: string, baseId: string): Promise<BaseBackupManifest> {
  const key = baseKeys.manifest(baseId);
  try {
    return BaseBackupManifestSchema.parse(await readJson(s3, bucket, key));
  } catch (error) {
    throw new TaskEnvError(
      `${TASK_ENV.recoveryBaseId}: no base backup manifest at s3://${bucket}/${key} (${(error as Error).name === 'NoSuchKey' ? 'the base does not exist or did not finish' : (error as Error).message})`,
    );
  }
}

/** The stop point the environment asks for: at most one of time, LSN and restore point; none is the end of the WAL. */
export function recoveryTargetOf(env: TaskSettings['env']): RecoveryTarget {
  const given = [
    env.STRONGBOX_RECOVERY_TIME && ({ kind: 'time', at: env.STRONGBOX_RECOVERY_TIME } as const),
    env.STRONGBOX_RECOVERY_LSN && ({ kind: 'lsn', lsn: env.STRONGBOX_RECOVERY_LSN } as const),
    env.STRONGBOX_RECOVERY_NAME && ({ kind: 'name', name: env.STRONGBOX_RECOVERY_NAME } as const),
  ].filter((target) => typeof target === 'object');
  if (given.length > 1) {
    throw new TaskEnvError(
      `${TASK_ENV.recoveryTime}, ${TASK_ENV.recoveryLsn} and ${TASK_ENV.recoveryName}: ${given.length} are set; expected at most one stop point`,
    );
  }
  return given[0] ?? { kind: 'end' };
}

export interface RecoveryRun {
  readonly server: RecoveredServer;
  readonly base: BaseBackupManifest;
  /** The stop point used: a time target in the WAL's quiet tail falls back to the end of the archived WAL. */
  readonly target: RecoveryTarget;
}

/**
 * Recovers `baseId` with the database's archived WAL to `target`. PostgreSQL stops a time target at the first commit
 * after it; when the archived WAL holds none (a quiet tail that the archiver's coverage still vouches for), it ends
 * recovery short of the target and refuses. Every commit offered then lies at or before the instant, so the end of
 * the archived WAL is that very instant's state, and recovery runs again to it.
 */
export async function recoverBase(
  settings: TaskSettings,
  deps: TaskDeps,
  baseId: string,
  target: RecoveryTarget,
  afterExtract?: (data: string, base: BaseBackupManifest) => Promise<void>,
): Promise<RecoveryRun> {
  const env = settings.env;
  const s3 = await deps.s3();
  const bucket = env.STRONGBOX_VAULT_BUCKET;
  const base = await loadBaseManifest(s3, bucket, baseId);
  if (base.database !== env.STRONGBOX_DATABASE) {
    throw new TaskEnvError(`${TASK_ENV.recoveryBaseId}: "${baseId}"; expected a base backup of ${env.STRONGBOX_DATABASE}`);
  }
  const segments = await walSegments(s3, bucket, env.STRONGBOX_DATABASE);
  const attempt = async (stop: RecoveryTarget) => {
    const tar = await verifiedObject(s3, bucket, base.artifact.key, base.artifact.sha256);
    // The tar stream ends only once the base's checksum matched (verifiedObject), and fails otherwise.
    const verdict = new Promise<void>((resolve, reject) => {
      tar.on('end', resolve);
      tar.on('error', reject);
    });
    verdict.catch(() => undefined);
    return recoverPostgres({
      base: tar,
      wal: vaultWalSource(s3, bucket, segments),
      target: stop,
      role: env.STRONGBOX_DB_USERNAME ?? 'postgres',
      afterExtract: async (data) => {
        await verdict;
        await afterExtract?.(data, base);
      },
    });
  };
  logLine('info', 'recovery started', { baseId, target, walFiles: segments.size });
  try {
    return { server: await attempt(target), base, target };
  } catch (error) {
    const coveredUntil = Math.max(0, ...[...segments.values()].map((s) => Date.parse(s.coveredUntil)));
    const quietTail =
      target.kind === 'time' &&
      error instanceof RecoveryFailedError &&
      /recovery ended before configured recovery target was reached/.test(error.message) &&
      coveredUntil >= Date.parse(target.at);
    if (!quietTail) {
      throw error;
    }
    logLine('info', 'no commit after the instant in the archived WAL: recovering to its end, which is the instant', { baseId });
    return { server: await attempt({ kind: 'end' }), base, target: { kind: 'end' } };
  }
}

/** pg_dump of the recovered database into the target's restore plan (streamed, or through a local file). */
async function deliver(session: DumpSession, plan: RestorePlan): Promise<void> {
  if (session.output.kind !== 'tool') {
    throw new Error('postgres: pg_dump produced no tool output');
  }
  const dump = session.output.process;
  if (plan.kind === 'stream') {
    await Promise.all([plan.consume(dump.child.stdout as Readable), session.done()]);
    return;
  }
  const directory = mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), 'strongbox-recovered-dump-'));
  try {
    const path = join(directory, 'dump');
    await Promise.all([pipeline(dump.child.stdout as Readable, createWriteStream(path, { mode: 0o600 })), session.done()]);
    await plan.fromFile(path);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** restore with STRONGBOX_RECOVERY_BASE_ID: recover to the stop point, deliver into the target, compare counts. */
export async function runPointInTimeRestore(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  if (env.STRONGBOX_ENGINE !== 'postgres') {
    throw new TaskEnvError(
      `${TASK_ENV.recoveryBaseId}: set for ${env.STRONGBOX_ENGINE}; point-in-time recovery of a base backup is PostgreSQL only`,
    );
  }
  const baseId = env.STRONGBOX_RECOVERY_BASE_ID as string;
  const requested = recoveryTargetOf(env);
  if (requested.kind === 'lsn') {
    parseLsn(requested.lsn);
  }
  const started = Date.now();
  const target = await targetConnection(env, deps.readSecret);
  const sourceDatabase = env.STRONGBOX_DB_NAME ?? 'postgres';
  const include = includeOnTarget(settings.include, 'postgres', sourceDatabase, target.database);
  const overwrite = env.STRONGBOX_RESTORE_OVERWRITE === 'true';
  // The guard runs before the recovery: a refusal costs nothing then.
  await assertTargetWritable({
    database: env.STRONGBOX_DATABASE,
    engine: 'postgres',
    adapter: postgres,
    connection: target,
    include,
    overwrite,
  });
  const run = await recoverBase(settings, deps, baseId, requested);
  const recoverySeconds = run.server.recoverySeconds;
  try {
    const source: Connection = { ...run.server.connection, database: sourceDatabase };
    const plan = await postgres.restore(target, {
      format: 'pgdump',
      include,
      jobs: include.length > 0 ? 1 : env.STRONGBOX_RESTORE_JOBS,
      overwrite,
      privileges: env.STRONGBOX_RESTORE_PRIVILEGES,
      log: logLine,
    });
    const session = await postgres.dump(source, { redisMode: 'auto' });
    let expected: Inventory;
    try {
      await deliver(session, plan);
      expected = session.inventory;
    } catch (error) {
      const note = await plan.undo?.().catch((e: Error) => `taking back the failed restore failed too: ${e.message}`);
      if (note && error instanceof Error) {
        error.message = `${error.message}; ${note}`;
      }
      throw error;
    } finally {
      await session.close();
    }
    const actual = await postgres.inventory(target);
    const mismatches = compareInventory(expected, actual, { include, engine: 'postgres' });
    if (mismatches.length > 0) {
      throw new Error(`the target differs from the recovered database: ${mismatches.map(describeMismatch).join('; ')}`);
    }
    const seconds = (Date.now() - started) / 1000;
    logLine('info', 'point-in-time restore finished', { baseId, seconds: round(seconds, 3), recoverySeconds: round(recoverySeconds, 3) });
    return {
      command: 'restore',
      ok: true,
      baseId,
      target: run.target,
      walFiles: run.server.fetched.length,
      reachedLsn: run.server.reached.lsn,
      durationSeconds: round(seconds, 3),
      recoverySeconds: round(recoverySeconds, 3),
      inventory: expected,
    };
  } finally {
    await run.server.stop();
  }
}
