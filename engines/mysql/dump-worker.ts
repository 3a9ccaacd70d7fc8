import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { copyThrough, openBlockingPipes } from '../blocking-pipe';
import { startWorker, type WorkerScript } from '../worker-thread';
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

/**
 * Bytes of the dump's start kept for its header comments: the binlog coordinates (`CHANGE MASTER TO`) come
 * before the first table. 256 KiB is what the side `zstd -d` this replaced kept of its decompressed head.
 */
export const HEAD_BYTES = 256 * 1024;

/** The worker's one message: the counts, the head and the GTID comment, or why the dump cannot be counted or copied. */
export type DumpWorkerResult =
  | {
      readonly ok: true;
      readonly tables: DumpedTable[];
      /** The dump's first HEAD_BYTES as text, for the log position (positionFromDumpHead). */
      readonly head: string;
      readonly gtid: string | undefined;
      readonly bytes: number;
    }
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
  const head: Buffer[] = [];
  let headBytes = 0;
  try {
    copyThrough(data.input, data.output, (chunk) => {
      if (headBytes < HEAD_BYTES) {
        // Copied: copyThrough reuses its buffer for the next read.
        const part = Buffer.from(chunk.subarray(0, HEAD_BYTES - headBytes));
        head.push(part);
        headBytes += part.length;
      }
      counter.write(chunk);
    });
    const tables = counter.end();
    return { ok: true, tables, head: Buffer.concat(head).toString('utf8'), gtid: gtid.gtid, bytes: counter.bytesRead };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, parse: error instanceof DumpParseError, message, bytes: counter.bytesRead };
  }
}

/** The main thread's side of the copy: the fds for the tool and zstd, and the worker's report. */
export interface CountingCopy {
  /** For the tool's stdout. */
  readonly toolStdout: number;
  /** Closes this process's copy of toolStdout, once the tool holds it: its exit is then the copy's end. */
  closeToolStdout(): void;
  /** Hands zstd's stdin over: the taker closes it once zstd holds it. */
  takeZstdStdin(): number;
  /** The worker's report, once the tool's output ended; rejects if the worker died without one. */
  readonly result: Promise<DumpWorkerResult>;
  /** Closes the fds still held (a dump that failed before its tool started), so that the worker sees their end and exits. */
  abandon(): void;
  /** Stops a worker still running (after a failed backup stopped the tool and zstd). */
  stop(): void;
}

/**
 * Starts the worker before the tool exists: it boots (~0.1 s of one core) while the caller loads the driver and
 * reads the catalog, instead of after the tool started, when the tool's first 64 KiB already waited for it.
 */
export function startCountingCopy(database: string | undefined): CountingCopy {
  const [fromTool, toZstd] = openBlockingPipes(2);
  const worker = startWorker(DUMP_WORKER, {
    role: 'mysql-dump',
    input: fromTool.readFd,
    output: toZstd.writeFd,
    database,
  } satisfies DumpWorkerData);
  // Never what keeps the task alive: the tool and zstd are, while the copy runs.
  worker.unref();
  const result = new Promise<DumpWorkerResult>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`mysql: the row-counting worker exited with code ${code} before it reported`)));
  });
  result.catch(() => undefined);
  // Each fd is closed exactly once: a number closed twice may by then be another file's.
  const held = new Set([fromTool.writeFd, toZstd.readFd]);
  return {
    toolStdout: fromTool.writeFd,
    closeToolStdout: () => {
      if (held.delete(fromTool.writeFd)) {
        closeSync(fromTool.writeFd);
      }
    },
    takeZstdStdin: () => {
      if (!held.delete(toZstd.readFd)) {
        throw new Error('mysql: the pipe to zstd was already handed over or closed');
      }
      return toZstd.readFd;
    },
    result,
    abandon: () => {
      for (const fd of held) {
        closeSync(fd);
      }
      held.clear();
    },
    stop: () => {
      void worker.terminate();
    },
  };
}

if (parentPort && (workerData as Partial<DumpWorkerData> | undefined)?.role === 'mysql-dump') {
  parentPort.postMessage(countThrough(workerData as DumpWorkerData));
}
