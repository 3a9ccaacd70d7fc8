import { type ChildProcess, spawn } from 'node:child_process';
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

/** Spawns the real entrypoint, `node --import tsx tasks/src/main.ts`, with exactly `env`. */
export function startTask(env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<TaskRun> } {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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

export function runTask(env: NodeJS.ProcessEnv): Promise<TaskRun> {
  return startTask(env).done;
}
