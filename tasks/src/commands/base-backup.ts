import { createHash } from 'node:crypto';
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
import { backupWalRange, ensureSlot, readWalServer, startBaseBackup, TarMembers, walServerProblems } from '../../../engines/postgres/wal';
import { type RunningTool, toolVersion } from '../../../engines/tools';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import { round } from '../stream/progress';
import { storeCompressed, type TaskDeps } from './backup';

/** pg_basebackup finished but its tar held no backup_manifest (a pre-13 server, or `--no-manifest` in the way). */
export class BaseBackupManifestMissingError extends Error {
  public constructor() {
    super('pg_basebackup wrote no backup_manifest into its tar; PostgreSQL 13 or later writes one, so check the server version');
    this.name = 'BaseBackupManifestMissingError';
  }
}

/**
 * base-backup (PostgreSQL): pg_basebackup's tar -> Node (which picks backup_label and backup_manifest out as
 * they pass) -> zstd -> SHA-256 -> multipart upload, the backup pipeline of backup.ts. Then PostgreSQL's
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
  const members = new TarMembers(new Set(['backup_manifest', 'backup_label']));
  const tools: RunningTool[] = [];
  const tool = startBaseBackup(connection);
  tools.push(tool);
  logLine('info', 'base backup started', { baseId, key, tool: tool.name, args: tool.args, sink: settings.sink });
  try {
    const stored = await storeCompressed({
      settings,
      deps,
      key,
      output: { kind: 'tool', process: tool, observe: (chunk) => members.add(chunk) },
      name: tool.name,
      done: () => tool.succeeded(),
      expectedBytes,
      started: (zstd) => tools.push(zstd),
    });
    const finishedAt = new Date();
    const backupManifest = members.get('backup_manifest');
    if (!backupManifest) {
      throw new BaseBackupManifestMissingError();
    }
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
        uncompressedBytes: stored.uncompressedBytes,
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
      uncompressedBytes: stored.uncompressedBytes,
      sha256: stored.sha256,
      startLsn: manifest.startLsn,
      stopLsn: manifest.stopLsn,
      timeline: manifest.timeline,
      durationSeconds: manifest.durationSeconds,
      mbPerSecond: round((stored.uncompressedBytes || stored.bytes) / 1e6 / Math.max(seconds, 0.001)),
    };
  } catch (error) {
    for (const running of tools) {
      running.child.kill('SIGTERM');
    }
    throw error;
  }
}
