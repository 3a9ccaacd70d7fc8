import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type mysql from 'mysql2/promise';
import {
  archiveLagSeconds,
  LOG_KIND_BY_ENGINE,
  type LogCoordinates,
  type LogCursor,
  LogCursorSchema,
  type SegmentManifest,
  SegmentManifestSchema,
  type SegmentVerification,
} from '../../../contracts/logs';
import { TASK_ENV, TaskEnvError } from '../../../contracts/task-env';
import { keys, mintSegmentId } from '../../../contracts/vault';
import { getJson, objectExists, putJson } from '../../../contracts/vault-io';
import { type Connection, sourceConnection } from '../../../engines/connection';
import { serverInfo } from '../../../engines/mysql/adapter';
import {
  BINLOG_FIRST_POSITION,
  type BinaryLog,
  type BinlogRead,
  describeBinlog,
  listBinaryLogs,
  planArchive,
  readBinlog,
} from '../../../engines/mysql/binlog-archive';
import { binlogServerProblems, readBinlogServer } from '../../../engines/mysql/binlog-server';
import { connect } from '../../../engines/mysql/connection';
import { toolVersion } from '../../../engines/tools';
import type { TaskSettings } from '../env';
import { publishArchiveRun } from '../metrics';
import { uploadCompressedFile } from '../stream/upload-file';
import type { TaskDeps } from './backup';
import { verifySegment } from './verify-segment';

/** The server is not set up for binlog archiving; the message names every setting and its fix. */
export class BinlogServerNotReadyError extends Error {
  public constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'BinlogServerNotReadyError';
  }
}

export interface ArchiveLogsArgs {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly database: string;
  readonly connection: Connection;
  readonly intervalMinutes: number;
  readonly compressionLevel: number;
  /** Where the slices are staged between the tool and the upload; each is removed once uploaded. */
  readonly workDir: string;
  readonly now?: () => Date;
  /** An open connection the caller keeps (the streamer's, across flushes); without it the run opens and closes its own. */
  readonly session?: mysql.Connection;
}

export interface ArchiveLogsResult {
  readonly segments: readonly SegmentManifest[];
  /** Each new segment's read-back, in the order of `segments`. */
  readonly verifications: readonly SegmentVerification[];
  readonly cursor: LogCursor;
  /** Set when this run found the chain broken (a purged or replaced binlog, or a segment that failed its read-back). */
  readonly broken?: LogCursor['broken'];
}

/**
 * One archiving run: from the vault's cursor to the server's end as listed at the start of the run. Each slice
 * goes up as data, then its manifest, then the cursor moves past it, so a run killed at any point leaves at most
 * a data object without a manifest (invisible, pruned after the grace period) and the next run reads that slice
 * again from the unmoved cursor.
 */
export async function archiveLogs(args: ArchiveLogsArgs): Promise<ArchiveLogsResult> {
  const now = args.now ?? (() => new Date());
  const runAt = now();
  const cursorKey = keys.logCursor(args.database);
  const previous = (await getJson(args.s3, args.bucket, cursorKey, LogCursorSchema))?.value;

  const conn = args.session ?? (await connect(args.connection));
  let logs: BinaryLog[];
  let serverVersion: string;
  let listedAt: Date;
  try {
    const settings = await readBinlogServer(conn);
    const problems = binlogServerProblems(settings, args.intervalMinutes);
    if (problems.length > 0) {
      throw new BinlogServerNotReadyError(problems);
    }
    serverVersion = (await serverInfo(conn)).version;
    logs = await listBinaryLogs(conn);
    // The listing is the run's end: the log holds nothing unarchived up to these sizes at this instant.
    listedAt = now();
  } finally {
    if (!args.session) {
      await conn.end();
    }
  }

  const plan = planArchive(previous?.next, logs);
  let broken: LogCursor['broken'] = plan.broken && {
    at: runAt.toISOString(),
    reason: plan.broken.reason,
    resumedAt: plan.broken.resumedAt,
  };
  const tool = { name: 'mariadb-binlog', version: await toolVersion('mariadb-binlog') };
  const segments: SegmentManifest[] = [];
  const verifications: SegmentVerification[] = [];
  const last = logs.at(-1);
  let cursor: LogCursor = {
    schemaVersion: 1,
    database: args.database,
    kind: 'binlog',
    next: previous?.next ?? plan.broken?.resumedAt ?? { file: logs[0]?.file ?? 'binlog.000001', position: BINLOG_FIRST_POSITION },
    ...(previous?.lastSegmentId && { lastSegmentId: previous.lastSegmentId }),
    coveredUntil: previous?.coveredUntil ?? listedAt.toISOString(),
    updatedAt: now().toISOString(),
    ...((broken ?? previous?.broken) && { broken: broken ?? previous?.broken }),
  };
  if (broken) {
    cursor = { ...cursor, next: broken.resumedAt };
  }

  for (const [index, read] of plan.reads.entries()) {
    const following = logs[logs.findIndex((l) => l.file === read.file) + 1];
    const manifest = await archiveSlice(args, read, {
      runAt,
      listedAt,
      serverVersion,
      tool,
      fallbackNext: following && { file: following.file, position: BINLOG_FIRST_POSITION },
      isTail: index === plan.reads.length - 1,
    });
    if (!manifest) {
      continue;
    }
    await putJson(args.s3, args.bucket, keys.segmentManifest(manifest.segmentId), manifest);
    segments.push(manifest);
    // Before the cursor moves: a run killed here reads the slice again, and a segment gets its record or a successor.
    const verification = await verifySegment(args.s3, args.bucket, manifest, args.workDir, now);
    await putJson(args.s3, args.bucket, keys.segmentVerification(manifest.segmentId), verification);
    verifications.push(verification);
    if (!verification.passed) {
      // The bytes read from the server are gone from the vault's point of view: the chain breaks at this segment,
      // and the archive goes on from its end so the next full dump starts a chain the log continues.
      broken = {
        at: now().toISOString(),
        reason: `segment ${manifest.segmentId} failed verification: ${verification.reason}`,
        resumedAt: manifest.next,
      };
    }
    cursor = {
      ...cursor,
      ...(broken && { broken }),
      next: manifest.next,
      lastSegmentId: manifest.segmentId,
      coveredUntil: manifest.coveredUntil,
      updatedAt: now().toISOString(),
    };
    await putJson(args.s3, args.bucket, cursorKey, cursor);
  }
  // A quiet log still moves the coverage on: the listing showed nothing after the cursor at `listedAt`.
  if (last && cursor.next.file === last.file && cursor.next.position >= last.size) {
    cursor = { ...cursor, coveredUntil: listedAt.toISOString(), updatedAt: now().toISOString() };
  }
  await putJson(args.s3, args.bucket, cursorKey, cursor);
  return broken ? { segments, verifications, cursor, broken } : { segments, verifications, cursor };
}

/**
 * The `archive-logs` task command: one archiving run of the database the environment names, then the metrics the
 * lag and broken-chain alarms read. A broken chain is a finding, not a failure: the run archives what follows the
 * gap and reports it through `LogChainBroken`, so the next runs keep the log from there.
 */
export async function runArchiveLogs(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  const engine = env.STRONGBOX_ENGINE;
  if (LOG_KIND_BY_ENGINE[engine] === 'wal') {
    return (await import('./archive-wal')).runArchiveWal(settings, deps);
  }
  if (!LOG_KIND_BY_ENGINE[engine]) {
    throw new TaskEnvError(
      `${TASK_ENV.engine}: archive-logs archives MySQL/MariaDB binlogs, not ${engine}; remove the logs block of ${env.STRONGBOX_DATABASE}`,
    );
  }
  const intervalMinutes = env[TASK_ENV.logIntervalMinutes];
  if (intervalMinutes === undefined) {
    throw new TaskEnvError(`${TASK_ENV.logIntervalMinutes}: not set; archive-logs needs the database's logs.intervalMinutes, e.g. 5`);
  }
  const workDir = mkdtempSync(join(tmpdir(), 'strongbox-archive-'));
  try {
    const result = await archiveLogs({
      s3: await deps.s3(),
      bucket: env.STRONGBOX_VAULT_BUCKET,
      database: env.STRONGBOX_DATABASE,
      connection: await sourceConnection(env, deps.readSecret),
      intervalMinutes,
      compressionLevel: env.STRONGBOX_COMPRESSION_LEVEL,
      workDir,
    });
    const lagSeconds = publishArchiveRun({ database: env.STRONGBOX_DATABASE, engine, log: 'binlog' }, result);
    return {
      command: 'archive-logs',
      ok: true,
      segments: result.segments.length,
      failedVerification: result.verifications.filter((v) => !v.passed).map((v) => v.segmentId),
      bytes: result.segments.reduce((sum, m) => sum + m.artifact.bytes, 0),
      next: result.cursor.next,
      coveredUntil: result.cursor.coveredUntil,
      lagSeconds,
      ...(result.broken && { broken: result.broken }),
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

export { archiveLagSeconds };

interface SliceContext {
  readonly runAt: Date;
  readonly listedAt: Date;
  readonly serverVersion: string;
  readonly tool: { readonly name: string; readonly version: string };
  readonly fallbackNext?: LogCoordinates;
  readonly isTail: boolean;
}

/** Seconds a run looks past its own for a segment id that no earlier run completed. */
const SEGMENT_ID_SECONDS = 60;

/**
 * The id `mint` makes for the run's second, or for the first later second whose segment no earlier run
 * completed. An id is the run's second and the slice's start on the server, so a run restarted within the
 * second from the same cursor (a streamer killed after a segment's manifest, before the cursor moved) minted
 * the completed segment's id again, and its longer upload replaced that segment's data before its manifest:
 * meanwhile the manifest described other bytes. Data without a manifest is an unfinished segment; replacing
 * it is what the next run is meant to do.
 */
async function unusedSegmentId(args: ArchiveLogsArgs, mint: (at: Date) => string, runAt: Date): Promise<string> {
  for (let second = 0; second < SEGMENT_ID_SECONDS; second++) {
    const segmentId = mint(new Date(runAt.getTime() + second * 1000));
    if (!(await objectExists(args.s3, args.bucket, keys.segmentManifest(segmentId)))) {
      return segmentId;
    }
  }
  throw new Error(
    `every segment id for ${args.database} from ${runAt.toISOString()} over ${SEGMENT_ID_SECONDS} s is taken by a completed segment; ` +
      'more archiving runs start from one cursor than one per second. Run one archiver per database',
  );
}

/** Reads, describes, compresses and uploads one slice; returns its manifest (not yet written), or undefined when it held no event. */
async function archiveSlice(args: ArchiveLogsArgs, read: BinlogRead, context: SliceContext): Promise<SegmentManifest | undefined> {
  const directory = mkdtempSync(join(args.workDir, 'binlog-'));
  try {
    const { path, args: toolArgs } = await readBinlog(args.connection, 'mariadb', read, directory);
    const contents = await describeBinlog(path);
    if (contents.events === 0) {
      return undefined;
    }
    const segmentId = await unusedSegmentId(args, (at) => mintSegmentId(args.database, 'binlog', at, read.file, read.start), context.runAt);
    const key = keys.segmentData(segmentId);
    const stored = await uploadCompressedFile({
      s3: args.s3,
      bucket: args.bucket,
      key,
      path,
      level: args.compressionLevel,
      expectedBytes: read.end - read.start,
    });
    // A closed file ends in its rotate event; a file the server closed without one (a crash) continues in the next listed file.
    const closed = contents.rotatedTo !== undefined || (read.closed && context.fallbackNext !== undefined);
    const next =
      contents.rotatedTo ?? (closed && context.fallbackNext ? context.fallbackNext : { file: read.file, position: contents.endPosition });
    const coveredUntil = closed ? (contents.lastEventAt ?? context.listedAt.toISOString()) : context.listedAt.toISOString();
    return SegmentManifestSchema.parse({
      schemaVersion: 1,
      segmentId,
      database: args.database,
      kind: 'binlog',
      engine: { serverVersion: context.serverVersion, ...(contents.serverId !== undefined && { serverId: contents.serverId }) },
      serverFile: read.file,
      startPosition: read.start,
      endPosition: contents.endPosition,
      closed,
      next,
      ...(contents.firstEventAt && { firstEventAt: contents.firstEventAt, lastEventAt: contents.lastEventAt }),
      coveredUntil: context.isTail ? context.listedAt.toISOString() : coveredUntil,
      ...(contents.gtid && { gtid: contents.gtid }),
      artifact: {
        key,
        bytes: stored.bytes,
        sha256: stored.sha256,
        uncompressedBytes: stored.uncompressedBytes,
        compression: { algorithm: 'zstd', level: args.compressionLevel },
      },
      tool: { ...context.tool, args: ['--defaults-extra-file=<0600 option file>', ...toolArgs] },
      archivedAt: new Date().toISOString(),
    });
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
