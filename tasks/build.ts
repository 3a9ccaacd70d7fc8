import { readFileSync, rmSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';

/**
 * The task's bundle, one definition for the image (tasks/Dockerfile runs this file) and the bench (which must
 * measure what the image runs). An ES module build split at every dynamic import: Node compiles only the
 * files a command reaches, so a PostgreSQL backup never parses the MySQL and Redis drivers, the restore
 * code or, with the null sink, the AWS SDK (one 4 MB file cost every start ~0.15 s of compilation alone).
 */
export const TASK_ENTRY_FILE = 'main.mjs';

/**
 * V8 flags of the task's `node`, in the image's ENTRYPOINT (a test holds the Dockerfile to them). The task's
 * live heap is ~10-16 MB; what raised its peak RSS was garbage waiting for a collection: the stream's 64 KiB
 * chunks (off-heap) hang on small JS wrappers that V8 finds dead only in a collection, and the stream makes
 * too few JS objects to fill even a 1 MB young generation often. `--max-semi-space-size=1` caps the young
 * generation; `--expose-gc` lets tasks/src/stream/collect.ts scavenge it every 4 MiB of stream, which frees
 * the chunks within a few MB. `--optimize-for-size` (the earlier answer to the same garbage) is gone: it
 * reached the chunks only through full mark-compacts of the whole heap, ~30 per MariaDB backup, and beside
 * the forced scavenges it promoted more and ran twice as many. Measured on a loaded 2-core machine, the
 * image's node, A/B in one run: MariaDB 0.5 GB to a null sink 92-93 -> 75 MB peak RSS and the task's own CPU
 * 2.7-2.9 -> 2.0-2.2 s; to s3rver 135 -> 125.5 MB (122 MB with the 4 MiB cadence and a 1 MiB pass-through
 * queue); a 1.1 GB PostgreSQL restore 104 -> 98 MB, CPU 4.2 -> 3.5 s; a 1.1 GB PostgreSQL backup to s3rver
 * 120 -> 119 MB (its peak was then lib-storage's parts in flight; stream/upload.ts now pools them).
 */
export const TASK_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--expose-gc'];

/**
 * glibc settings of the task's process, an ENV line of the image. glibc raises its mmap threshold to the size of
 * each large block freed, after which large buffers come from heap arenas that fragment and never shrink. A
 * fixed threshold of 128 KiB keeps blocks above it (the SDK's response buffers, the restore's holdback) in their
 * own mappings, returned when freed, while the stream's 64 KiB chunks come from the arenas' free lists. 64 KiB
 * (the earlier setting) put every chunk in a mapping of its own: one mmap, 16 page faults and one munmap per
 * chunk, ~0.1-0.8 s of system CPU per backup. Measured with the pooled part buffers (stream/upload.ts), the
 * image's node, alternated, 3 runs each: a 0.5 GB MariaDB backup to s3rver 10.7 -> 9.6 s (median) at the same
 * 92 MB peak RSS; with no fixed threshold at all, 97.6 MB. entry.ts removes it from the environment so that the
 * tools and servers the task starts keep glibc's defaults.
 */
export const TASK_PROCESS_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };

const REPOSITORY_ROOT = join(__dirname, '..');

/**
 * A CommonJS package loaded by `await import('pkg')` (mysql2/promise, the Secrets Manager client) becomes a
 * chunk whose only export is `default`: Node would have found its named exports, esbuild cannot, and
 * `const { createConnection } = await import('mysql2/promise')` would get undefined. Such imports go
 * through a module that re-exports the package's names, read from the package itself at build time.
 */
const CJS_DYNAMIC = 'strongbox-cjs-dynamic';
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

export const namedCjsExports: Plugin = {
  name: 'named-cjs-exports',
  setup(on) {
    // Only the project's own imports: the packages' dynamic imports of their own files are esbuild's business.
    on.onResolve({ filter: /^[^./]/ }, (args) =>
      args.kind === 'dynamic-import' && args.namespace === 'file' && !args.importer.includes('node_modules') && !isBuiltin(args.path)
        ? { path: args.path, namespace: CJS_DYNAMIC, pluginData: { resolveDir: args.resolveDir } }
        : undefined,
    );
    on.onLoad({ filter: /.*/, namespace: CJS_DYNAMIC }, (args) => {
      const resolveDir = (args.pluginData as { resolveDir: string }).resolveDir;
      const loaded = createRequire(join(resolveDir, 'noop.js'))(args.path) as Record<string, unknown>;
      const names = Object.keys(loaded).filter((name) => IDENTIFIER.test(name) && name !== 'default');
      const contents = [
        `import * as pkg from ${JSON.stringify(args.path)};`,
        ...names.map((name) => `export const ${name} = pkg[${JSON.stringify(name)}];`),
        'export default pkg.default;',
      ].join('\n');
      return { contents, resolveDir, loader: 'js' };
    });
  },
};

/**
 * pg asks at load time whether it runs in Cloudflare Workers. Where `navigator` is undefined (Node 20) it
 * constructs a fetch `Response` to find out, which loads undici: ~50 ms of every PostgreSQL task's start, before
 * pg_dump can start (node 20 here: `require('pg')` 56-83 ms, `new Response(null)` alone 45-52 ms). The task
 * runs only on Node, so the bundle answers no. The build fails if pg's probe changes, rather than keeping a
 * patch that no longer applies.
 */
export const PG_RUNTIME_PROBE = 'function isCloudflareRuntime() {';

export const nodeOnlyPg: Plugin = {
  name: 'node-only-pg',
  setup(on) {
    on.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes(PG_RUNTIME_PROBE)) {
        throw new Error(`${args.path} no longer defines isCloudflareRuntime(); update nodeOnlyPg in tasks/build.ts`);
      }
      return { contents: source.replace(PG_RUNTIME_PROBE, `${PG_RUNTIME_PROBE}\n  return false;`), loader: 'js' };
    });
  },
};

/**
 * The engines' worker threads, each a file of its own beside main.mjs, named as its WorkerScript says
 * (engines/worker-thread.ts): a worker loads only what it runs.
 */
export const WORKER_ENTRIES: Readonly<Record<string, string>> = {
  'mysql-dump-worker': join(REPOSITORY_ROOT, 'engines', 'mysql', 'dump-worker.ts'),
};

/** Bundles tasks/src/entry.ts into `outdir` (emptied first); returns the entry file's path. */
export async function buildTask(outdir: string): Promise<string> {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: { main: join(REPOSITORY_ROOT, 'tasks', 'src', 'entry.ts'), ...WORKER_ENTRIES },
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
    plugins: [namedCjsExports, nodeOnlyPg],
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
  buildTask(outdir).then(
    (entry) => process.stdout.write(`${entry}\n`),
    (error: Error) => {
      process.stderr.write(`tasks/build.ts: ${error.message}\n`);
      process.exit(1);
    },
  );
}
