import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { type LogCursor, LogCursorSchema, type SegmentManifest, SegmentManifestSchema } from '../../../contracts/logs';
import { METRIC } from '../../../contracts/metrics';
import { keys, mintSegmentId } from '../../../contracts/vault';
import { getJson, putJson } from '../../../contracts/vault-io';
import { formatLsn, lsnOfCoordinates, nextWalFile, walCoordinates, walSlotName } from '../../../contracts/wal';
import { type Connection, sourceConnection } from '../../../engines/connection';
import { connect } from '../../../engines/postgres/connection';
import {
  advanceSlot,
  createSlot,
  dropSlot,
  readSlot,
  readWalServer,
  receiveWal,
  type SlotState,
  walServerProblems,
} from '../../../engines/postgres/wal';
import { toolVersion } from '../../../engines/tools';
import type { TaskSettings } from '../env';
import { publishArchiveRun } from '../metrics';
import { uploadCompressedFile } from '../stream/upload-file';
import type { TaskDeps } from './backup';

/** The server is not set up for WAL archiving; the message names every setting and its fix. */
export class WalServerNotReadyError extends Error {
  public constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'WalServerNotReadyError';
  }
}

export interface ArchiveWalArgs {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly database: string;
  readonly connection: Connection;
  readonly compressionLevel: number;
  /** Where pg_receivewal writes; removed by the caller. */
  readonly workDir: string;
  readonly now?: () => Date;
}

export interface ArchiveWalResult {
  readonly segments: readonly SegmentManifest[];
  readonly cursor: LogCursor;
  readonly broken?: LogCursor['broken'];
  /** RetainedWalBytes when the run started: the most the server held for the slot since the last run. */
  readonly retainedBytes: number;
  /** And once this run let the slot move on. */
  readonly retainedAfterBytes: number;
}

/**
 * One WAL archiving run, from the vault's cursor to the server's flush LSN as read at the start. Each WAL file
 * goes up whole (contracts/wal.ts) as data, then its manifest, then the cursor moves past it; only then is the
 * slot advanced, so the server keeps every byte the vault does not have yet. A run killed at any point leaves
 * at most a data object without a manifest (invisible) and a cursor and slot where the next run starts again.
 */
export async function archiveWal(args: ArchiveWalArgs): Promise<ArchiveWalResult> {
  const now = args.now ?? (() => new Date());
  const runAt = now();
  const cursorKey = keys.logCursor(args.database);
  const previous = (await getJson(args.s3, args.bucket, cursorKey, LogCursorSchema))?.value;
  if (previous && previous.kind !== 'wal') {
    throw new Error(`${cursorKey} is a ${previous.kind} cursor, not WAL: the database changed engine; move the old cursor away`);
  }
  const slot = walSlotName(args.database);
  const client = await connect(args.connection);
  try {
    const server = await readWalServer(client);
    const problems = walServerProblems(server);
    if (problems.length > 0) {
      throw new WalServerNotReadyError(problems);
    }
    const segmentBytes = server.segmentBytes;
    let state = await readSlot(client, slot);
    const retainedBytes = state.retainedBytes;
    let reason = brokenReason(previous, state, slot, server.timeline, segmentBytes);
    if (state.walStatus === 'lost') {
      await dropSlot(client, slot);
    }
    if (!state.exists || state.walStatus === 'lost') {
      await createSlot(client, slot);
      state = await readSlot(client, slot);
    }
    const restart = walCoordinates(server.timeline, state.restartLsn ?? state.currentLsn, segmentBytes);
    if (previous && !reason && previous.next.file < restart.file) {
      reason = `WAL file ${previous.next.file} is no longer kept: the slot ${slot} restarts at ${restart.file}, so WAL between was recycled before it was archived`;
    }
    const broken = reason ? { at: runAt.toISOString(), reason, resumedAt: restart } : undefined;
    const from = broken || !previous ? restart : previous.next;
    // The flush LSN is the run's end: a replication connection reads no further, and nothing before it is unarchived after this run.
    const endLsn = state.flushLsn;
    const coveredAt = now();
    let cursor: LogCursor = {
      schemaVersion: 1,
      database: args.database,
      kind: 'wal',
      next: from,
      ...(previous?.lastSegmentId && { lastSegmentId: previous.lastSegmentId }),
      coveredUntil: previous?.coveredUntil ?? coveredAt.toISOString(),
      updatedAt: now().toISOString(),
      ...((broken ?? previous?.broken) && { broken: broken ?? previous?.broken }),
    };
    const segments: SegmentManifest[] = [];
    const fromLsn = lsnOfCoordinates(from, segmentBytes).lsn;
    if (endLsn > fromLsn) {
      const directory = mkdtempSync(join(args.workDir, 'wal-'));
      try {
        const received = await receiveWal(args.connection, { from, endLsn, directory, segmentBytes });
        const tool = { name: 'pg_receivewal', version: await toolVersion('pg_receivewal'), args: received.args };
        const end = walCoordinates(server.timeline, endLsn, segmentBytes);
        for (const file of received.files) {
          const endPosition = file.closed ? segmentBytes : file.file === end.file ? end.position : 0;
          const known = file.file < from.file || (file.file === from.file && !file.closed && endPosition <= from.position);
          if (known || endPosition === 0) {
            continue;
          }
          const segmentId = mintSegmentId(args.database, 'wal', runAt, file.file, 0);
          const key = keys.segmentData(segmentId);
          const stored = await uploadCompressedFile({
            s3: args.s3,
            bucket: args.bucket,
            key,
            path: file.path,
            level: args.compressionLevel,
            expectedBytes: segmentBytes,
          });
          const manifest = SegmentManifestSchema.parse({
            schemaVersion: 1,
            segmentId,
            database: args.database,
            kind: 'wal',
            engine: { serverVersion: server.serverVersion },
            serverFile: file.file,
            startPosition: 0,
            endPosition,
            closed: file.closed,
            next: file.closed ? { file: nextWalFile(file.file, segmentBytes), position: 0 } : { file: file.file, position: endPosition },
            coveredUntil: coveredAt.toISOString(),
            artifact: {
              key,
              bytes: stored.bytes,
              sha256: stored.sha256,
              uncompressedBytes: stored.uncompressedBytes,
              compression: { algorithm: 'zstd', level: args.compressionLevel },
            },
            tool,
            archivedAt: now().toISOString(),
          } satisfies SegmentManifest);
          await putJson(args.s3, args.bucket, keys.segmentManifest(segmentId), manifest);
          segments.push(manifest);
          cursor = {
            ...cursor,
            next: manifest.next,
            lastSegmentId: segmentId,
            coveredUntil: manifest.coveredUntil,
            updatedAt: now().toISOString(),
          };
          await putJson(args.s3, args.bucket, cursorKey, cursor);
        }
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    }
    // A quiet server still moves the coverage on: it had flushed nothing after the cursor at `coveredAt`.
    if (lsnOfCoordinates(cursor.next, segmentBytes).lsn >= endLsn) {
      cursor = { ...cursor, coveredUntil: coveredAt.toISOString(), updatedAt: now().toISOString() };
    }
    await putJson(args.s3, args.bucket, cursorKey, cursor);
    await advanceSlot(client, slot, lsnOfCoordinates(cursor.next, segmentBytes).lsn);
    const after = await readSlot(client, slot);
    return {
      segments,
      cursor,
      ...(broken && { broken }),
      retainedBytes,
      retainedAfterBytes: after.retainedBytes,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why the WAL does not continue from the cursor, or undefined when it may. */
function brokenReason(
  previous: LogCursor | undefined,
  state: SlotState,
  slot: string,
  timeline: number,
  segmentBytes: number,
): string | undefined {
  if (!previous) {
    return undefined;
  }
  if (!state.exists) {
    return `the replication slot ${slot} is gone (dropped on the server), so WAL after ${previous.next.file} was not kept for Strongbox`;
  }
  if (state.walStatus === 'lost') {
    return `the replication slot ${slot} was invalidated (wal_status lost: the server removed WAL it held, max_slot_wal_keep_size exceeded) before ${previous.next.file} was archived`;
  }
  const at = lsnOfCoordinates(previous.next, segmentBytes);
  if (at.timeline !== timeline) {
    return `the server is on timeline ${timeline}, the archive on ${at.timeline} (${formatLsn(at.lsn)}): the server was promoted or restored`;
  }
  return undefined;
}

/**
 * archive-logs for PostgreSQL: one WAL archiving run, then the metrics the lag, broken-chain and retained-WAL
 * alarms read. A broken chain is a finding, not a failure: archiving resumes at the slot, the next base backup
 * starts a new chain, and `LogChainBroken` says so.
 */
export async function runArchiveWal(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  const workDir = mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), 'strongbox-wal-'));
  try {
    const result = await archiveWal({
      s3: await deps.s3(),
      bucket: env.STRONGBOX_VAULT_BUCKET,
      database: env.STRONGBOX_DATABASE,
      connection: await sourceConnection(env, deps.readSecret),
      compressionLevel: env.STRONGBOX_COMPRESSION_LEVEL,
      workDir,
    });
    const lagSeconds = publishArchiveRun({ database: env.STRONGBOX_DATABASE, engine: env.STRONGBOX_ENGINE, log: 'WAL' }, result, [
      { name: METRIC.retainedWalBytes, unit: 'Bytes', value: result.retainedBytes },
    ]);
    return {
      command: 'archive-logs',
      ok: true,
      segments: result.segments.length,
      bytes: result.segments.reduce((sum, m) => sum + m.artifact.bytes, 0),
      next: result.cursor.next,
      coveredUntil: result.cursor.coveredUntil,
      lagSeconds,
      retainedWalBytes: result.retainedBytes,
      retainedWalBytesAfter: result.retainedAfterBytes,
      ...(result.broken && { broken: result.broken }),
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
