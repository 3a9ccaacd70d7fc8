import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { TASK_ENV, TaskEnvError } from '../../../contracts/task-env';
import {
  type BaseBackupManifest,
  BaseBackupManifestSchema,
  baseKeys,
  formatLsn,
  mintBaseId,
  walCoordinates,
  walSlotName,
} from '../../../contracts/wal';
import { sourceConnection } from '../../../engines/connection';
import { connect } from '../../../engines/postgres/connection';
import {
  backupFileBytes,
  backupWalRange,
  ensureSlot,
  readBackupManifest,
  readWalServer,
  startBaseBackup,
  walServerProblems,
} from '../../../engines/postgres/wal';
import { toolVersion } from '../../../engines/tools';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import { followFile } from '../stream/follow-file';
import { round } from '../stream/progress';
import { storeStream, type TaskDeps } from './backup';

/**
 * base-backup (PostgreSQL): pg_basebackup compresses its tar into a work directory (see baseBackupArgs), and
 * the file is followed as it grows -> SHA-256 -> multipart upload, the tail of backup.ts's pipeline. Then PostgreSQL's
 * backup_manifest beside it, then manifest.json last: a base exists once that does. The slot exists before
 * pg_basebackup starts, so the server keeps the WAL from the base's start LSN until archiving has it.
 */
export async function runBaseBackup(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  if (env.STRONGBOX_ENGINE !== 'postgres') {
    throw new TaskEnvError(`${TASK_ENV.engine}: base-backup is PostgreSQL's physical backup, not ${env.STRONGBOX_ENGINE}; use backup`);
  }
  const database = env.STRONGBOX_DATABASE;
  const bucket = env.STRONGBOX_VAULT_BUCKET;
  // Off the critical path: the version probe and the S3 client's loading (~0.3 s of module code) run while the
  // server answers and pg_basebackup checkpoints, instead of before and after them.
  const version = toolVersion('pg_basebackup');
  const s3 = settings.sink === 's3' ? deps.s3() : undefined;
  for (const early of [version, s3]) {
    early?.catch(() => undefined);
  }
  const connection = await sourceConnection(env, deps.readSecret);
  const client = await connect(connection);
  const slot = walSlotName(database);
  let server: Awaited<ReturnType<typeof readWalServer>>;
  let expectedBytes: number;
  try {
    server = await readWalServer(client);
    const problems = walServerProblems(server);
    if (problems.length > 0) {
      throw new (await import('./archive-wal')).WalServerNotReadyError(problems);
    }
    await ensureSlot(client, slot);
    const size = await client.query<{ bytes: string }>('SELECT sum(pg_database_size(datname))::bigint::text AS bytes FROM pg_database');
    expectedBytes = Number(size.rows[0].bytes);
  } finally {
    await client.end().catch(() => undefined);
  }

  const startedAt = new Date();
  const baseId = env.STRONGBOX_BACKUP_ID?.endsWith('-base') ? env.STRONGBOX_BACKUP_ID : mintBaseId(database, startedAt);
  const key = baseKeys.artifact(baseId);
  const work = mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), 'strongbox-base-'));
  const run = startBaseBackup(connection, {
    directory: join(work, 'base'),
    level: env.STRONGBOX_COMPRESSION_LEVEL,
    workers: availableParallelism(),
  });
  const tool = run.tool;
  logLine('info', 'base backup started', { baseId, key, tool: tool.name, args: tool.args, sink: settings.sink });
  try {
    const stored = await storeStream({
      settings,
      deps,
      key,
      source: followFile(run.archive, tool.exited),
      done: () => tool.succeeded(),
      expectedBytes,
    });
    const finishedAt = new Date();
    const backupManifest = readBackupManifest(run);
    const range = backupWalRange(backupManifest.toString('utf8'));
    const toolVersionText = await version;
    const seconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
    const manifest: BaseBackupManifest = BaseBackupManifestSchema.parse({
      schemaVersion: 1,
      baseId,
      database,
      kind: 'base',
      trigger: env.STRONGBOX_TRIGGER,
      engine: { name: 'postgres', serverVersion: server.serverVersion, majorVersion: server.majorVersion },
      timeline: range.timeline,
      walSegmentBytes: server.segmentBytes,
      startLsn: formatLsn(range.startLsn),
      stopLsn: formatLsn(range.stopLsn),
      start: walCoordinates(range.timeline, range.startLsn, server.segmentBytes),
      stop: walCoordinates(range.timeline, range.stopLsn, server.segmentBytes),
      slot,
      artifact: {
        key,
        format: 'tar',
        bytes: stored.bytes,
        sha256: stored.sha256,
        uncompressedBytes: backupFileBytes(backupManifest.toString('utf8')),
        compression: { algorithm: 'zstd', level: env.STRONGBOX_COMPRESSION_LEVEL },
        parts: stored.parts,
        partSizeBytes: stored.partSizeBytes,
      },
      backupManifest: {
        key: baseKeys.backupManifest(baseId),
        bytes: backupManifest.length,
        sha256: createHash('sha256').update(backupManifest).digest('hex'),
      },
      tool: { name: tool.name, version: toolVersionText, args: [...tool.args] },
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds: round(seconds, 3),
    } satisfies BaseBackupManifest);
    if (s3) {
      const client = await s3;
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: manifest.backupManifest.key, Body: backupManifest, ContentType: 'application/json' }),
      );
      const io = await import('../../../contracts/vault-io');
      await io.putJson(client, bucket, baseKeys.manifest(baseId), manifest);
    }
    logLine('info', 'base backup finished', { baseId, bytes: stored.bytes, startLsn: manifest.startLsn, stopLsn: manifest.stopLsn });
    return {
      command: 'base-backup',
      ok: true,
      baseId,
      key,
      bytes: stored.bytes,
      uncompressedBytes: manifest.artifact.uncompressedBytes,
      sha256: stored.sha256,
      startLsn: manifest.startLsn,
      stopLsn: manifest.stopLsn,
      timeline: manifest.timeline,
      durationSeconds: manifest.durationSeconds,
      mbPerSecond: round((manifest.artifact.uncompressedBytes || stored.bytes) / 1e6 / Math.max(seconds, 0.001)),
    };
  } catch (error) {
    tool.child.kill('SIGTERM');
    throw error;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
