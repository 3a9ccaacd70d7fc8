import { closeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { openBlockingPipes } from '../../../engines/blocking-pipe';
import { type RunningTool, startTool } from '../../../engines/tools';
import { MeteredPipe } from './metered-pipe';

export interface MeteredCompressor {
  readonly zstd: RunningTool;
  /** zstd's output, counted and hashed; it ends only once the producer and zstd both succeeded. */
  readonly meter: MeteredPipe;
}

/**
 * zstd as a child process. `input` is the dump tool's stdout (or a file) handed over as zstd's stdin file
 * descriptor, so the uncompressed bytes go from one process to the other without crossing Node; zstd writes
 * into a blocking pipe that Node reads with MeteredPipe. `-vv --no-progress` makes zstd print the exact byte
 * counts once at the end, which is how the manifest learns the uncompressed size.
 */
export function startMeteredCompressor(
  level: number,
  input: Readable | number | 'pipe',
  producerDone: () => Promise<void> = async () => undefined,
): MeteredCompressor {
  const [pipe] = openBlockingPipes(1);
  let zstd: RunningTool;
  try {
    zstd = startTool('zstd', ['-T0', `-${level}`, '-c', '-vv', '--no-progress'], { stdin: input, stdout: pipe.writeFd });
  } catch (error) {
    closeSync(pipe.readFd);
    throw error;
  } finally {
    // zstd holds the write end now: with ours closed, the read end sees its end when zstd exits.
    closeSync(pipe.writeFd);
  }
  const compressor = zstd;
  const meter = new MeteredPipe(pipe.readFd, async () => {
    await Promise.all([producerDone(), compressor.succeeded()]);
  });
  return { zstd: compressor, meter };
}

/** zstd -d writing into `output` (the restore tool's stdin, or a file descriptor), reading from a pipe we feed. */
export function startDecompressor(output: 'pipe' | number = 'pipe'): RunningTool {
  return startTool('zstd', ['-d', '-c', '-q'], { stdin: 'pipe', stdout: output });
}

/** Exact sizes from zstd's verbose summary line: `(    11 B =>     24 B, ...)`. */
export function parseZstdSummary(stderr: string): { uncompressedBytes: number; compressedBytes: number } | undefined {
  const match = /\(\s*(\d+) B =>\s*(\d+) B/.exec(stderr);
  return match ? { uncompressedBytes: Number(match[1]), compressedBytes: Number(match[2]) } : undefined;
}

/** zstd's verbose banner is noise in a failure's stderr tail. */
export function zstdErrors(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => line && !/^(\*\*\*|Note:|--zstd=|--format=|Using std|Decompression will|\/\*stdin\*\\)/.test(line))
    .join('\n');
}
