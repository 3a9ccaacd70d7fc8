import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A kernel pipe whose two ends are blocking file descriptors, for a worker thread that copies with readSync and
 * writeSync. Node makes a child's 'pipe' stdio a non-blocking socket pair, which a synchronous read cannot wait
 * on, and has no pipe(2); a FIFO opened from both ends and unlinked at once is the same kernel object. Each fd
 * is owned by whoever it is handed to, who closes it: a child's copy once it is spawned, the reader's at its end.
 */
export interface BlockingPipe {
  readonly readFd: number;
  readonly writeFd: number;
}

/** `count` blocking pipes, made with one mkfifo (an exec is ~5-20 ms of a task's start). */
export function openBlockingPipes(count: number): BlockingPipe[] {
  const directory = mkdtempSync(join(tmpdir(), 'strongbox-pipe-'));
  const paths = Array.from({ length: count }, (_, i) => join(directory, `fifo-${i}`));
  try {
    execFileSync('mkfifo', ['-m', '0600', ...paths]);
    return paths.map((path) => {
      // Opening a FIFO blocks until the other end is open, except a non-blocking read end, which is opened
      // first only to let the blocking write end open at once; the blocking read end then opens at once too.
      const probe = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        const writeFd = openSync(path, constants.O_WRONLY);
        const readFd = openSync(path, constants.O_RDONLY);
        return { readFd, writeFd };
      } finally {
        closeSync(probe);
      }
    });
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Read size for one of these pipes: a default pipe holds 64 KiB, so no read returns more. */
export const PIPE_READ_BYTES = 64 * 1024;

/**
 * input -> observe -> output with blocking reads and writes into one reused buffer, until input's end; closes
 * both fds, whatever happened, so that the writer upstream sees EPIPE and the reader downstream its end.
 * Returns the bytes copied. For a worker thread only: it blocks its thread until the stream ends.
 */
export function copyThrough(input: number, output: number, observe: (chunk: Buffer) => void): number {
  const buffer = Buffer.allocUnsafeSlow(PIPE_READ_BYTES);
  let bytes = 0;
  try {
    for (;;) {
      const read = readSync(input, buffer, 0, PIPE_READ_BYTES, null);
      if (read === 0) {
        return bytes;
      }
      observe(buffer.subarray(0, read));
      for (let written = 0; written < read; ) {
        written += writeSync(output, buffer, written, read - written);
      }
      bytes += read;
    }
  } finally {
    closeSync(input);
    closeSync(output);
  }
}
