import type { AwsOptions } from '../../cli/backends/aws';
import { runCli } from '../../cli/main';

/** The CLI in-process, with its output captured: exit code, stdout and stderr. */
export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  /** stdout parsed (for --json runs). */
  json<T = Record<string, unknown>>(): T;
}

export async function cli(args: readonly string[], options: { now?: Date; aws?: AwsOptions } = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    args,
    { out: (line) => out.push(line), err: (line) => err.push(line) },
    { ...(options.now && { now: () => options.now! }), ...(options.aws && { aws: options.aws }) },
  );
  const stdout = out.join('\n');
  return { code, out: stdout, err: err.join('\n'), json: <T>() => JSON.parse(stdout) as T };
}
