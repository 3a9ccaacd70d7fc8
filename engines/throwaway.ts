import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from './connection';
import type { ThrowawaySpec } from './engine';
import { freePort, stopChild, userIds } from './process';

/**
 * A throwaway server: its own data directory, loopback only, a password so that authentication is real. The
 * drill starts one inside its task (the image carries PostgreSQL 15, MariaDB and Redis) with the spec's
 * drillOptions; dev/servers starts the test, bench and demo servers through the same loop with their own.
 */
export interface ThrowawayServer {
  readonly engine: string;
  readonly connection: Connection & { readonly password: string };
  readonly directory: string;
  readonly startSeconds: number;
  /** Stops the server, and removes its directory unless the caller supplied it. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface StartServerOptions {
  /** Server options, or a function of the server's directory giving them; @default the spec's drillOptions. */
  readonly options?: readonly string[] | ((directory: string) => readonly string[]);
  /** A file the server loads at start (spec.loadsAtStart), such as the RDB a drill restored. */
  readonly load?: string;
  /** @default a random one */
  readonly password?: string;
  /** Keep the server's files here and reuse them on the next start; not removed by stop(). @default a fresh temp directory */
  readonly directory?: string;
  /** Prefix of the fresh temp directory. @default `strongbox-drill-<engine>-` in STRONGBOX_WORK_DIR */
  readonly prefix?: string;
  /** @default 120 s */
  readonly timeoutMs?: number;
}

export async function startThrowaway(spec: ThrowawaySpec, options: StartServerOptions = {}): Promise<ThrowawayServer> {
  const started = Date.now();
  const password = options.password ?? randomBytes(18).toString('base64url');
  const directory =
    options.directory ?? mkdtempSync(options.prefix ?? join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), `strongbox-drill-${spec.engine}-`));
  mkdirSync(directory, { recursive: true });
  chmodSync(directory, 0o755);
  const removeDirectory = () => {
    if (!options.directory) {
      rmSync(directory, { recursive: true, force: true });
    }
  };
  const port = await freePort();
  let child: ChildProcess | undefined;
  try {
    spec.initialize(directory, password);
    const extra = [...(typeof options.options === 'function' ? options.options(directory) : (options.options ?? spec.drillOptions))];
    if (options.load) {
      if (!spec.loadsAtStart) {
        throw new Error(`a throwaway ${spec.engine} server loads no file at start`);
      }
      extra.push(...spec.loadsAtStart.options(options.load));
    }
    const { command, args, user } = spec.command(directory, port, password, extra);
    child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(user ? userIds(user) : {}) });
    await waitFor(child, spec.binary, () => spec.probe(directory, port, password), options.timeoutMs);
    const credentials = await spec.login(directory, port, password);
    const server = child;
    return {
      engine: spec.engine,
      connection: { host: '127.0.0.1', port, tls: 'disable', ...credentials },
      directory,
      startSeconds: (Date.now() - started) / 1000,
      stop: async (timeoutMs?: number) => {
        await stopChild(server, spec.stopSignal, timeoutMs);
        removeDirectory();
      },
    };
  } catch (error) {
    // A child that never spawned (no pid) has nothing to stop and never emits 'exit'.
    if (child?.pid !== undefined) {
      await stopChild(child, 'SIGKILL', 5_000);
    }
    removeDirectory();
    throw error;
  }
}

async function waitFor(child: ChildProcess, what: string, probe: () => Promise<void>, timeoutMs = 120_000): Promise<void> {
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // 'exit' can come before the last of the output was read, and the server's reason for exiting is in that last part.
  const drained = new Promise<void>((resolve) => child.once('close', () => resolve()));
  if (child.pid === undefined) {
    // A binary that is missing or not executable: spawn reports why as an event, and the server never starts.
    const [error] = (await once(child, 'error')) as [Error];
    throw new Error(`throwaway ${what} could not be started: ${error.message}`);
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 2000))]);
      throw new Error(`throwaway ${what} exited with code ${child.exitCode} before accepting connections:\n${output}`);
    }
    try {
      await probe();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`throwaway ${what} did not accept connections within ${timeoutMs / 1000} s:\n${output}`);
}
