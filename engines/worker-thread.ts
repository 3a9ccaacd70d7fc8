import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * One of the engines' worker scripts. The task's bundle carries each as a file of its own beside its entry
 * (`WORKER_ENTRIES` in tasks/build.ts), named `${name}.mjs`. Everywhere else (the tests and the local runtime,
 * which run the TypeScript sources under tsx) the worker loads the source through tsx's CommonJS hook: a
 * worker does not inherit the `--import tsx` of its parent.
 */
export interface WorkerScript {
  /** The bundle's file name without `.mjs`. */
  readonly name: string;
  /** The TypeScript source, asked only outside the bundle (`__dirname` does not exist in the ES module bundle). */
  readonly source: () => string;
}

/**
 * Heap limits for a worker that keeps almost nothing, so that it cannot grow the task's RSS unnoticed; and no fd
 * tracking: the workers are handed fds the parent opened, and Node warns on stderr when a worker closes those.
 */
const WORKER_OPTIONS: WorkerOptions = {
  resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 1 },
  trackUnmanagedFds: false,
};

export function startWorker(script: WorkerScript, workerData: unknown, entry = process.argv[1] ?? ''): Worker {
  const bundled = join(dirname(entry), `${script.name}.mjs`);
  if (existsSync(bundled)) {
    return new Worker(bundled, { ...WORKER_OPTIONS, workerData });
  }
  const tsx = require.resolve('tsx/cjs/api');
  const code = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(script.source())});`;
  return new Worker(code, { ...WORKER_OPTIONS, eval: true, workerData });
}
