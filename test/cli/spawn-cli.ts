import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';

/** The `strongbox` bin as an operator runs it: the executable launcher (its shebang adds --openssl-legacy-provider). */
export const CLI_BIN = join(__dirname, '..', '..', 'bin', 'strongbox-cli.cjs');

export interface SpawnedCli {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves once stdout or stderr holds `text`. */
  waitFor(text: string | RegExp, stream?: 'stdout' | 'stderr'): Promise<void>;
  readonly exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env): SpawnedCli {
  const child = spawn(CLI_BIN, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { text: string | RegExp; stream?: 'stdout' | 'stderr'; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const haystack = w.stream === 'stdout' ? stdout : w.stream === 'stderr' ? stderr : stdout + stderr;
      if (typeof w.text === 'string' ? haystack.includes(w.text) : w.text.test(haystack)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    check();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    check();
  });
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return {
    child,
    exited,
    waitFor: (text, stream) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ text, stream, resolve });
        check();
        void exited.then(({ stdout: out, stderr: err }) =>
          reject(new Error(`the CLI exited before printing ${String(text)}:\n${out}\n${err}`)),
        );
      }),
  };
}
