import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';

/** Where each tool comes from on Debian, so a missing binary names the package to install. */
export const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  pg_dump: 'postgresql-client',
  pg_restore: 'postgresql-client',
  psql: 'postgresql-client',
  pg_dumpall: 'postgresql-client',
  'mariadb-dump': 'mariadb-client',
  mariadb: 'mariadb-client',
  mysqldump: 'mysql-client (MySQL APT repository) or default-mysql-client',
  mysql: 'mysql-client (MySQL APT repository) or default-mysql-client',
  'redis-cli': 'redis-tools',
  'redis-server': 'redis-server',
  zstd: 'zstd',
  mongodump: 'mongodb-database-tools (MongoDB APT repository)',
  mongorestore: 'mongodb-database-tools (MongoDB APT repository)',
};

export class ToolNotFoundError extends Error {
  public constructor(public readonly tool: string) {
    super(
      `${tool} not found on PATH; install the Debian package ${DEBIAN_PACKAGES[tool] ?? tool} (apt-get install -y ${(DEBIAN_PACKAGES[tool] ?? tool).split(' ')[0]})`,
    );
    this.name = 'ToolNotFoundError';
  }
}

/**
 * Lines on stderr that mean the tool failed even when it exits 0 (a dump that skipped a table it could not read
 * is not a backup). Matched line by line as stderr arrives, so an early error is seen however much follows.
 */
export const STDERR_FAILURE: Readonly<Record<string, RegExp>> = {
  pg_dump: /^pg_dump: error: /,
  pg_restore: /^pg_restore: error: /,
  pg_dumpall: /^pg_dumpall: error: /,
  'mariadb-dump': /^(?:mariadb-dump|mysqldump): (?:Got error|Error|Couldn't)/,
  mysqldump: /^(?:mariadb-dump|mysqldump): (?:Got error|Error|Couldn't)/,
  mariadb: /^ERROR \d+/,
  mysql: /^ERROR \d+/,
  'redis-cli': /^(?:Error|I\/O error|Could not connect|ERR )/,
};

/** A tool that exited non-zero, was killed, or reported an error on stderr; carries the tail of its stderr. */
export class ToolFailedError extends Error {
  public constructor(
    public readonly tool: string,
    public readonly exit: ToolExit,
    public readonly stderrTail: string,
    /** The first stderr line that reports an error (STDERR_FAILURE): the cause, where the last line is often the echoed statement's ");". */
    public readonly errorLine?: string,
  ) {
    super(
      errorLine !== undefined && !exit.signal && exit.code === 0
        ? `${tool} exited 0 but reported an error on stderr: ${errorLine}`
        : `${tool} ${exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`}${errorLine !== undefined ? `: ${errorLine}` : stderrTail ? `: ${lastLine(stderrTail)}` : ''}`,
    );
    this.name = 'ToolFailedError';
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

export function findTool(tool: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    const candidate = join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export function requireTool(tool: string): string {
  const found = findTool(tool);
  if (!found) {
    throw new ToolNotFoundError(tool);
  }
  return found;
}

/** Keeps the last `limit` characters of a stream: enough for an alert, bounded however chatty the tool is. */
export class StderrTail {
  private text = '';
  public constructor(private readonly limit = 4000) {}
  public attach(stream: Readable | null): this {
    stream?.on('data', (chunk: Buffer) => this.add(chunk.toString()));
    return this;
  }
  public add(text: string): void {
    this.text = (this.text + text).slice(-this.limit);
  }
  public toString(): string {
    return this.text;
  }
}

export interface ToolExit {
  readonly code: number | null;
  readonly signal: string | null;
}

export interface RunningTool {
  readonly name: string;
  readonly args: readonly string[];
  readonly child: ChildProcess;
  readonly stderr: StderrTail;
  /** Resolves when the process has exited and its stdio is closed; never rejects. */
  readonly exited: Promise<ToolExit>;
  /** Resolves on exit 0, rejects with ToolFailedError otherwise. */
  succeeded(): Promise<void>;
}

export interface StartToolOptions {
  /** Extra environment (credentials such as PGPASSWORD); the task's own secrets are never passed on. */
  readonly env?: Record<string, string | undefined>;
  readonly stdin?: 'ignore' | 'pipe' | number | Readable;
  readonly stdout?: 'pipe' | 'ignore' | 'inherit' | number | Readable;
}

/** The environment a child sees: ours without the task's credential variables, plus what the caller adds. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/PASSWORD|SECRET|AWS_SESSION_TOKEN|AWS_SECRET_ACCESS_KEY/.test(name)) {
      env[name] = value;
    }
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined) {
      env[name] = value;
    }
  }
  return env;
}

/** Spawns `name` with an argv array (never a shell string). */
export function startTool(name: string, args: readonly string[], options: StartToolOptions = {}): RunningTool {
  const path = requireTool(name);
  const child = spawn(path, args, {
    stdio: [options.stdin ?? 'ignore', options.stdout ?? 'pipe', 'pipe'],
    env: childEnv(options.env),
  });
  // A stream handed over as the child's stdin/stdout now belongs to the child: closing our copy lets the
  // other side see EOF/EPIPE when the child exits, and lets our 'close' events fire.
  for (const handed of [options.stdin, options.stdout]) {
    if (handed !== null && typeof handed === 'object') {
      handed.destroy();
    }
  }
  const stderr = new StderrTail().attach(child.stderr);
  const failure = STDERR_FAILURE[name];
  let errorLine: string | undefined;
  if (failure && child.stderr) {
    let partial = '';
    const check = (line: string) => {
      if (errorLine === undefined && failure.test(line)) {
        errorLine = line;
      }
    };
    child.stderr.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      lines.forEach(check);
    });
    child.stderr.on('end', () => check(partial));
  }
  const exited = new Promise<ToolExit>((resolve) => {
    child.once('error', (error) => {
      stderr.add(`${error.message}\n`);
      resolve({ code: 127, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    name,
    args,
    child,
    stderr,
    exited,
    succeeded: async () => {
      const exit = await exited;
      if (exit.code !== 0 || errorLine !== undefined) {
        throw new ToolFailedError(name, exit, stderr.toString(), errorLine);
      }
    },
  };
}

/** Runs a tool to completion and returns its stdout; for short commands such as `--version`. */
export async function runTool(name: string, args: readonly string[], env?: Record<string, string | undefined>): Promise<string> {
  const tool = startTool(name, args, { env });
  let out = '';
  tool.child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  await tool.succeeded();
  return out;
}

/** First line of `<tool> --version`. */
export async function toolVersion(name: string): Promise<string> {
  const out = await runTool(name, ['--version']);
  return out.trim().split('\n')[0] ?? name;
}
