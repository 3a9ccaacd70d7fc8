import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { copyThrough } from '../blocking-pipe';
import type { WorkerScript } from '../worker-thread';
import { GtidCommentWatch } from './gtid-comment';
import { type DumpedTable, DumpParseError, InsertCounter } from './insert-counter';

/** This file as a worker: `mysql-dump-worker.mjs` in the task's bundle (tasks/build.ts). */
export const DUMP_WORKER: WorkerScript = { name: 'mysql-dump-worker', source: () => join(__dirname, 'dump-worker.ts') };

/** What the adapter hands the worker: the tool's stdout, zstd's stdin and the dump's default database. */
export interface DumpWorkerData {
  /** Tells this worker's data from another's (a test runner's own worker thread imports this file too). */
  readonly role: 'mysql-dump';
  readonly input: number;
  readonly output: number;
  readonly database: string | undefined;
}

/** The worker's one message: the counts and the GTID comment, or why the dump cannot be counted or copied. */
export type DumpWorkerResult =
  | { readonly ok: true; readonly tables: DumpedTable[]; readonly gtid: string | undefined; readonly bytes: number }
  | { readonly ok: false; readonly parse: boolean; readonly message: string; readonly bytes: number };

/**
 * The dump's way from the tool to zstd, in a worker thread: blocking reads and writes into one buffer, each
 * chunk counted on the way (see InsertCounter). On the main thread the same bytes went through two Node streams
 * (a 64 KiB Buffer allocated per read, a write queue per chunk): 0.35 s more CPU per 0.5 GB, on a task whose two
 * cores also run the dump tool and zstd. zstd dying makes the write fail (EPIPE): the copy ends, closes the
 * tool's pipe, and the tool fails in turn.
 */
export function countThrough(data: DumpWorkerData): DumpWorkerResult {
  const gtid = new GtidCommentWatch();
  const counter = new InsertCounter(data.database, (text) => gtid.comment(text));
  let bytes = 0;
  try {
    bytes = copyThrough(data.input, data.output, (chunk) => counter.write(chunk));
    return { ok: true, tables: counter.end(), gtid: gtid.gtid, bytes };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, parse: error instanceof DumpParseError, message, bytes: bytes || counter.bytesRead };
  }
}

if (parentPort && (workerData as Partial<DumpWorkerData> | undefined)?.role === 'mysql-dump') {
  parentPort.postMessage(countThrough(workerData as DumpWorkerData));
}
