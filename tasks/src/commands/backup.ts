import { closeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { type FailureRecord, FailureRecordSchema, keys, type Manifest, ManifestSchema, mintBackupId } from '../../../contracts/vault';
import { type SecretReader, sourceConnection } from '../../../engines/connection';
import type { DumpSession } from '../../../engines/engine';
import { type RunningTool, ToolFailedError } from '../../../engines/tools';
import { loadAdapter } from '../adapters';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import { streamCollector } from '../stream/collect';
import { type MeteredCompressor, parseZstdSummary, startMeteredCompressor, zstdErrors } from '../stream/compress';
import { discardStream } from '../stream/discard';
import { HashMeter, type Meter } from '../stream/hash';
import { peakRssMb } from '../stream/memory';
import type { UploadResult } from '../stream/parts';
import { type Progress, round, startProgress } from '../stream/progress';

export interface TaskDeps {
  /** Created on first use (see main): a backup asks for it only once pg_dump and zstd are running. */
  readonly s3: () => Promise<S3Client>;
  readonly readSecret?: SecretReader;
}

/** The vault writer, loaded with the SDK it needs when the first object is written. */
async function putJson(deps: TaskDeps, bucket: string, key: string, value: unknown): Promise<void> {
  const io = await import('../../../contracts/vault-io');
  await io.putJson(await deps.s3(), bucket, key, value);
}

/** A failed backup; main prints `message` and the stderr tail, and exits non-zero. */
export class BackupFailedError extends Error {
  public constructor(
    message: string,
    public readonly record: FailureRecord,
  ) {
    super(message);
    this.name = 'BackupFailedError';
  }
}

/**
 * backup: tool stdout -> zstd (the tool's stdout fd is zstd's stdin, or a pipe from the engine's worker that
 * looked at the dump, as MySQL does to count its rows) -> SHA-256 in Node -> multipart upload.
 * The hash meter does not end its stream until the tool and zstd have both exited 0, so a failed dump never
 * completes the upload; every failure aborts it, writes failure.json and no manifest. The manifest is
 * written last, after everything else succeeded.
 */
export async function runBackup(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  const backupId = env.STRONGBOX_BACKUP_ID ?? mintBackupId(env.STRONGBOX_DATABASE, 'full', new Date());
  const bucket = env.STRONGBOX_VAULT_BUCKET;
  let phase: FailureRecord['phase'] = 'connect';
  let session: DumpSession | undefined;
  let rolesTool: RunningTool | undefined;
  const compressors: RunningTool[] = [];
  let progress: Progress | undefined;
  /** The artifact's and the roles' uploads, which run side by side: a failure waits for both to abort. */
  const uploads: Promise<unknown>[] = [];
  try {
    const [adapter, connection] = await Promise.all([loadAdapter(env.STRONGBOX_ENGINE), sourceConnection(env, deps.readSecret)]);
    session = await adapter.dump(connection, { redisMode: env.STRONGBOX_REDIS_MODE });
    // The dump's figures start here: connecting and asking for credentials are not the dump.
    const startedAt = new Date();
    phase = 'dump';
    const current = session;
    const key = keys.artifact(backupId, current.format);
    logLine('info', 'backup started', { backupId, key, tool: current.tool.name, args: current.tool.args, sink: settings.sink });

    const storing = storeCompressed({
      settings,
      deps,
      key,
      output: current.output,
      name: current.tool.name,
      done: () => current.done(),
      expectedBytes: current.expectedBytes,
      started: (zstd, meter) => {
        compressors.push(zstd);
        progress = startProgress('backup', { intervalSeconds: env.STRONGBOX_PROGRESS_INTERVAL_SECONDS }, () => meter.bytes);
      },
    });
    // Roles are global objects that pg_dump never carries; they go beside the dump, checksummed alike. They are
    // dumped alongside it rather than after it: pg_dumpall and its zstd took ~0.1 s at the end of every backup.
    const rolesSession = current.roles;
    const storingRoles = rolesSession
      ? (async (): Promise<Manifest['roles']> => {
          const tool = rolesSession.start();
          rolesTool = tool;
          const rolesStored = await storeCompressed({
            settings,
            deps,
            key: keys.roles(backupId),
            output: { kind: 'tool', process: tool },
            name: tool.name,
            done: () => tool.succeeded(),
            expectedBytes: 0,
            started: (zstd) => compressors.push(zstd),
          });
          return {
            key: keys.roles(backupId),
            bytes: rolesStored.bytes,
            sha256: rolesStored.sha256,
            uncompressedBytes: rolesStored.uncompressedBytes,
            passwordsOmitted: rolesSession.passwordsOmitted,
          };
        })()
      : Promise.resolve(undefined);
    uploads.push(storing, storingRoles);
    const [stored, roles] = await Promise.all([storing, storingRoles]);
    progress?.stop();
    const finishedAt = new Date();

    await current.close();

    phase = 'manifest';
    const seconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
    const position = current.position;
    const manifest: Manifest = ManifestSchema.parse({
      schemaVersion: 1,
      backupId,
      database: env.STRONGBOX_DATABASE,
      kind: 'full',
      trigger: env.STRONGBOX_TRIGGER,
      engine: { name: env.STRONGBOX_ENGINE, serverVersion: current.serverVersion },
      tool: { name: current.tool.name, version: current.tool.version, args: [...current.tool.args] },
      artifact: {
        key,
        format: current.format,
        bytes: stored.bytes,
        sha256: stored.sha256,
        uncompressedBytes: stored.uncompressedBytes,
        compression: { algorithm: 'zstd', level: env.STRONGBOX_COMPRESSION_LEVEL },
        parts: stored.parts,
        partSizeBytes: stored.partSizeBytes,
      },
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds: round(seconds, 3),
      throughputMBps: round((stored.uncompressedBytes || stored.bytes) / 1e6 / Math.max(seconds, 0.001)),
      ...(position && Object.keys(position).length > 0 ? { position } : {}),
      inventory: current.inventory,
      ...(current.requires ? { requires: current.requires } : {}),
      ...(roles ? { roles } : {}),
    });
    if (settings.sink === 's3') {
      await putJson(deps, bucket, keys.manifest(backupId), manifest);
    }
    logLine('info', 'backup finished', {
      backupId,
      bytes: stored.bytes,
      sha256: manifest.artifact.sha256,
      // The stream's scavenges (stream/collect.ts): only an engine stream (Redis) makes any; 0 on a large Redis
      // dump means node runs without the image's flags.
      collections: streamCollector.collections,
    });
    return {
      command: 'backup',
      ok: true,
      backupId,
      key,
      bytes: stored.bytes,
      uncompressedBytes: manifest.artifact.uncompressedBytes,
      sha256: manifest.artifact.sha256,
      parts: stored.parts,
      durationSeconds: manifest.durationSeconds,
      mbPerSecond: manifest.throughputMBps,
      peakRssMb: peakRssMb(),
      firstByteMs: stored.firstByteMs,
    };
  } catch (error) {
    progress?.stop();
    const failure = await describeFailure(error, phase, session, compressors[0]);
    if (session?.output.kind === 'tool') {
      session.output.process.child.kill('SIGTERM');
    } else if (session?.output.kind === 'stream') {
      session.output.stream.destroy();
    }
    rolesTool?.child.kill('SIGTERM');
    for (const zstd of compressors) {
      zstd.child.kill('SIGTERM');
    }
    // With its producers stopped, the other upload fails too and aborts its multipart upload; wait for that.
    await Promise.race([Promise.allSettled(uploads), new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
    await session?.close().catch(() => undefined);
    const record: FailureRecord = FailureRecordSchema.parse({
      schemaVersion: 1,
      backupId,
      failedAt: new Date().toISOString(),
      ...failure,
    });
    if (settings.sink === 's3') {
      await putJson(deps, bucket, keys.failure(backupId), record).catch((e: Error) =>
        logLine('error', 'could not write failure.json', { backupId, error: e.message }),
      );
    }
    throw new BackupFailedError(`backup ${backupId} failed in phase ${record.phase}: ${record.message}`, record);
  }
}

export interface StoreArgs {
  readonly settings: TaskSettings;
  readonly deps: TaskDeps;
  readonly key: string;
  readonly output: DumpSession['output'];
  /** The producing tool, for error messages. */
  readonly name: string;
  /** Resolves once the producer succeeded; the upload completes only after it (and zstd) did. */
  readonly done: () => Promise<void>;
  readonly expectedBytes: number;
  /** Called once zstd and the hash meter exist, so the caller can watch and, on failure, stop them. */
  readonly started: (zstd: RunningTool, meter: Meter) => void;
}

export interface Stored extends UploadResult {
  /** Milliseconds from the process's start to the first compressed byte (the task's start-up cost in the figures). */
  readonly firstByteMs?: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly uncompressedBytes: number;
}

/**
 * producer stdout -> zstd (the producer's stdout fd, or the engine's pipe after it, is zstd's stdin) -> SHA-256 in Node -> multipart upload
 * (or the null sink). The hash meter does not end its stream until the producer and zstd both exited 0, so a
 * failed producer never completes the upload.
 */
export async function storeCompressed(args: StoreArgs): Promise<Stored> {
  const level = args.settings.env.STRONGBOX_COMPRESSION_LEVEL;
  let started: MeteredCompressor;
  if (args.output.kind === 'tool' && args.output.stdout !== undefined) {
    const fd = args.output.stdout;
    try {
      started = startMeteredCompressor(level, fd, args.done);
    } finally {
      // zstd holds the pipe now; closing our copy lets the writer see EPIPE if zstd dies.
      closeSync(fd);
    }
  } else if (args.output.kind === 'tool') {
    const stdout = args.output.process.child.stdout;
    if (!stdout) {
      throw new Error(`${args.name} has no stdout`);
    }
    // startTool closes our copy of the stream it hands over, so the tool sees EPIPE if zstd dies.
    started = startMeteredCompressor(level, stdout, args.done);
  } else {
    started = startMeteredCompressor(level, 'pipe', args.done);
    const stdin = started.zstd.child.stdin;
    if (!stdin) {
      throw new Error('zstd has no stdin');
    }
    // The engine's stream (Redis) is the one backup whose bytes Node allocates chunk by chunk: its spent chunks
    // need the stream's scavenges (zstd's output, read into one reused buffer, makes none).
    args.output.stream.on('data', (chunk: Buffer) => streamCollector.passed(chunk.length));
    pipeline(args.output.stream, stdin).catch(() => undefined);
  }
  const { zstd, meter } = started;
  args.started(zstd, meter);
  const stored = await storeMetered({ ...args, meter });
  const sizes = parseZstdSummary(zstd.stderr.toString());
  return { ...stored, uncompressedBytes: sizes?.uncompressedBytes ?? 0 };
}

export interface StreamStoreArgs {
  readonly settings: TaskSettings;
  readonly deps: TaskDeps;
  readonly key: string;
  /** Bytes already compressed. */
  readonly source: Readable;
  /** Resolves once the producers succeeded; the upload completes only after it did. */
  readonly done: () => Promise<void>;
  readonly expectedBytes: number;
  readonly started?: (meter: Meter) => void;
}

/**
 * compressed bytes -> SHA-256 in Node -> multipart upload (or the null sink). The hash meter does not end its
 * stream until `done` resolved, so a failed producer never completes the upload.
 */
export function storeStream(args: StreamStoreArgs): Promise<Omit<Stored, 'uncompressedBytes'>> {
  const meter = new HashMeter(args.done);
  args.started?.(meter);
  // Piped before anything yields: Node resumes, and so discards, the stdout of a child that exits while nothing
  // reads it (a small roles dump ended while the S3 client was still being created, and was stored empty).
  args.source.pipe(meter);
  args.source.once('error', (error) => meter.destroy(error));
  return storeMetered({ ...args, meter });
}

/** A meter's bytes -> multipart upload (or the null sink); its SHA-256 and sizes once it ended. */
async function storeMetered(args: {
  readonly settings: TaskSettings;
  readonly deps: TaskDeps;
  readonly key: string;
  readonly meter: Meter;
  readonly expectedBytes: number;
}): Promise<Omit<Stored, 'uncompressedBytes'>> {
  const { settings, deps, meter } = args;
  let upload: UploadResult;
  try {
    if (settings.sink === 'null') {
      upload = await discardStream(meter, args.expectedBytes);
    } else {
      // The upload attaches its listeners only once the client exists. A small producer can fail before that (a
      // pg_dumpall refused at once while the first S3 client was still being created), and its error was an
      // unhandled 'error' event that killed the task before failure.json was written.
      const early = new Promise<never>((_resolve, reject) => meter.once('error', reject));
      early.catch(() => undefined);
      const [{ uploadStream }, client] = await Promise.race([early, Promise.all([import('../stream/upload'), deps.s3()])]);
      upload = await uploadStream({
        client,
        bucket: settings.env.STRONGBOX_VAULT_BUCKET,
        key: args.key,
        body: meter,
        expectedBytes: args.expectedBytes,
      });
    }
  } catch (error) {
    // A sink that failed before reading to the end (no S3 client, say) leaves the pipe's read end open and zstd
    // blocked on it; the local runtime runs many backups in one process.
    meter.destroy();
    throw error;
  }
  return { ...upload, firstByteMs: meter.firstByteMs, bytes: meter.bytes, sha256: meter.sha256() };
}

async function describeFailure(
  error: unknown,
  phase: FailureRecord['phase'],
  session: DumpSession | undefined,
  zstd: RunningTool | undefined,
): Promise<Pick<FailureRecord, 'phase' | 'message' | 'exitCode' | 'signal' | 'stderrTail'>> {
  // Prefer the dump tool's own exit: an upload error caused by a dying tool is the tool's failure.
  if (session?.output.kind === 'tool') {
    const tool = session.output.process;
    const exit = await Promise.race([tool.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
    if (exit && exit.code !== 0) {
      const failed = new ToolFailedError(tool.name, exit, tool.stderr.toString());
      return { phase: 'dump', message: failed.message, exitCode: exit.code, signal: exit.signal, stderrTail: tool.stderr.toString() };
    }
  }
  if (error instanceof ToolFailedError) {
    const tail = error.tool === 'zstd' ? zstdErrors(error.stderrTail) : error.stderrTail;
    return { phase: 'dump', message: error.message, exitCode: error.exit.code, signal: error.exit.signal, stderrTail: tail };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    phase: phase === 'dump' ? 'upload' : phase,
    message,
    exitCode: null,
    signal: null,
    stderrTail: zstd ? zstdErrors(zstd.stderr.toString()) : '',
  };
}
