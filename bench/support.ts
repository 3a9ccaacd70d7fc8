import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

export const BENCH_DIR = join(__dirname, '..', '.bench');

export interface Timed {
  readonly seconds: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs argv (never a shell string unless the baseline itself is a shell pipeline) and times it. */
export function timed(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout = (stdout + c.toString()).slice(-100_000);
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-20_000);
    });
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) {
        reject(new Error(`${command} ${args.join(' ').slice(0, 200)} exited ${code}: ${stderr.slice(-2000)}`));
      } else {
        resolve({ seconds, stdout, stderr });
      }
    });
  });
}

/** The task as the container runs it: one esbuild bundle run by plain node (no tsx start-up in the figures). */
export function bundleTask(): string {
  const outfile = join(BENCH_DIR, 'task', 'main.js');
  buildSync({
    entryPoints: [join(__dirname, '..', 'tasks', 'src', 'main.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

/** Runs the bundled task and returns its final JSON result line and wall time. */
export async function runTask(bundle: string, env: NodeJS.ProcessEnv): Promise<{ seconds: number; result: Record<string, unknown> }> {
  const out = await timed(process.execPath, [bundle], env);
  const last = out.stdout.trim().split('\n').pop() ?? '{}';
  return { seconds: out.seconds, result: JSON.parse(last) };
}

export const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

export function log(message: string): void {
  process.stderr.write(`bench/dump: ${message}\n`);
}
