import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const MAIN = join(__dirname, '..', '..', 'tasks', 'src', 'main.ts');

export interface TaskRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The last stdout line, parsed: the command's result. */
  readonly result: Record<string, unknown>;
  readonly seconds: number;
}

/** The environment every test run of the task shares: s3rver checksum settings and fake credentials. */
export function baseEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    NODE_OPTIONS: '--openssl-legacy-provider',
    NODE_NO_WARNINGS: '1',
  };
}

/** Spawns the real entrypoint, `node --import tsx tasks/src/main.ts`, with exactly `env` (and `nodeArgs` before it). */
export function startTask(env: NodeJS.ProcessEnv, nodeArgs: readonly string[] = []): { child: ChildProcess; done: Promise<TaskRun> } {
  const started = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<TaskRun>((resolve) => {
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let result: Record<string, unknown> = {};
      try {
        result = JSON.parse(last);
      } catch {
        // no result line: the assertions on code and stderr tell why
      }
      resolve({ code, stdout, stderr, result, seconds: (Date.now() - started) / 1000 });
    });
  });
  return { child, done };
}

export function runTask(env: NodeJS.ProcessEnv, nodeArgs: readonly string[] = []): Promise<TaskRun> {
  return startTask(env, nodeArgs).done;
}

/** What a task run loaded: every file in its require cache, and each child process with whether the SDK was loaded by then. */
export interface LoadedModules {
  readonly modules: readonly string[];
  readonly spawns: readonly { readonly command: string; readonly args: readonly string[]; readonly sdkLoaded: boolean }[];
}

/** Runs the real entrypoint with test/tasks/loaded-modules.cjs preloaded and returns its record next to the run. */
export async function runTaskRecordingModules(env: NodeJS.ProcessEnv, file: string): Promise<{ run: TaskRun; loaded: LoadedModules }> {
  const run = await runTask({ ...env, STRONGBOX_TEST_MODULES_FILE: file }, ['--require', join(__dirname, 'loaded-modules.cjs')]);
  return { run, loaded: JSON.parse(readFileSync(file, 'utf8')) as LoadedModules };
}

/**
 * The environment of a task run of `command` for `database` on the test server `server`, storing into `bucket`
 * of the local vault at `endpoint`; `extra` adds or overrides the command's own variables.
 */
export function vaultTaskEnv(
  server: { taskEnv(): Record<string, string> },
  endpoint: string,
  bucket: string,
  command: string,
  database: string,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  return {
    ...baseEnv(),
    ...server.taskEnv(),
    STRONGBOX_COMMAND: command,
    STRONGBOX_DATABASE: database,
    STRONGBOX_VAULT_BUCKET: bucket,
    STRONGBOX_S3_ENDPOINT: endpoint,
    ...extra,
  };
}

/** The EMF documents a run printed, by metric name: value and dimensions. */
export function emittedMetrics(stdout: string): Record<string, { value: unknown; dimensions: string[] } | undefined> {
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .flatMap((doc) => {
        const names = (doc._aws as { CloudWatchMetrics: { Metrics: { Name: string }[]; Dimensions: string[][] }[] }).CloudWatchMetrics;
        return names.flatMap((m) => m.Metrics.map((metric) => [metric.Name, { value: doc[metric.Name], dimensions: m.Dimensions[0] }]));
      }),
  );
}
