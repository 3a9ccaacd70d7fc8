import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

/**
 * The task's bundle, one definition for the image (tasks/Dockerfile runs this file) and the bench (which must
 * measure what the image runs). An ES module build split at every dynamic import: Node compiles only the
 * files a command reaches, so a PostgreSQL backup never parses the MySQL and Redis drivers, the restore
 * code or, with the null sink, the AWS SDK (one 4 MB file cost every start ~0.15 s of compilation alone).
 */
export const TASK_ENTRY_FILE = 'main.mjs';

/**
 * V8 flags of the task's `node`, in the image's ENTRYPOINT (a test holds the Dockerfile to them). The task's
 * live heap is ~16 MB; what raised its peak RSS was garbage waiting for a collection: V8 by default lets the
 * young generation grow to 16 MB semi-spaces and collects the stream's 64 KiB chunks and lib-storage's part
 * copies (off-heap) late. `--optimize-for-size` collects sooner and keeps the heap tight (peak off-heap
 * buffers of a 1 GB backup 80 -> ~50 MB, heap 34 -> 18 MB), `--max-semi-space-size=1` caps the young
 * generation. Measured: 1 GB PostgreSQL backup 162 -> 122-137 MB; the CPU of the task's node ~+15%, which
 * is off the critical path (pg_dump and zstd are the pipeline's pace).
 */
export const TASK_NODE_FLAGS: readonly string[] = ['--optimize-for-size', '--max-semi-space-size=1'];

/**
 * glibc settings of the task's process, an ENV line of the image. glibc raises its mmap threshold to the
 * size of each large block freed (lib-storage's 8 MiB parts), after which parts and the stream's 64 KiB
 * chunks come from heap arenas that fragment and never shrink: ~12 MB of a 1 GB backup's peak RSS (137 ->
 * 122-125 MB). A fixed threshold keeps those buffers in their own mappings, returned to the system when
 * freed. entry.ts removes it from the environment so that the tools and servers the task starts keep glibc's
 * defaults.
 */
export const TASK_PROCESS_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '65536' };

const REPOSITORY_ROOT = join(__dirname, '..');

/** Bundles tasks/src/entry.ts into `outdir` (emptied first); returns the entry file's path. */
export function buildTask(outdir: string): string {
  rmSync(outdir, { recursive: true, force: true });
  buildSync({
    entryPoints: { main: join(REPOSITORY_ROOT, 'tasks', 'src', 'entry.ts') },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    splitting: true,
    outdir,
    outExtension: { '.js': '.mjs' },
    // The drivers and the SDK are CommonJS and call require() for Node's own modules.
    banner: {
      js: "import { createRequire as __strongboxRequire } from 'node:module'; const require = __strongboxRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  return join(outdir, TASK_ENTRY_FILE);
}

if (require.main === module) {
  const outdir = process.argv[2];
  if (!outdir) {
    process.stderr.write('usage: tsx tasks/build.ts <output directory>\n');
    process.exit(2);
  }
  process.stdout.write(`${buildTask(outdir)}\n`);
}
