import type { Readable } from 'node:stream';
import { type RunningTool, startTool } from '../../../engines/tools';

/**
 * zstd as a child process. `input` is the dump tool's stdout handed over as zstd's stdin file descriptor, so
 * the uncompressed bytes go from one process to the other without crossing Node. `-vv --no-progress` makes
 * zstd print the exact byte counts once at the end, which is how the manifest learns the uncompressed size.
 */
export function startCompressor(level: number, input: Readable | number | 'pipe'): RunningTool {
  return startTool('zstd', ['-T0', `-${level}`, '-c', '-vv', '--no-progress'], { stdin: input });
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
