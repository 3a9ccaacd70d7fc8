import { type ChildProcess, execFileSync } from 'node:child_process';
import { chownSync } from 'node:fs';
import { createServer } from 'node:net';

/** Process helpers for the servers Strongbox starts itself: the drill's throwaway servers and dev/servers. */

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Process options that run a child as `user` when we are root (initdb and postgres refuse root), otherwise as
 * ourselves. The child is then the server itself, not runuser: runuser does not pass SIGINT on, so a fast
 * shutdown never reached PostgreSQL, stop() waited 15 s, killed runuser and left the server running.
 */
export function userIds(user: string): { uid?: number; gid?: number } {
  if (!isRoot) {
    return {};
  }
  return {
    uid: Number(execFileSync('id', ['-u', user]).toString().trim()),
    gid: Number(execFileSync('id', ['-g', user]).toString().trim()),
  };
}

/** Gives `path` to `user` when we are root, so a server running as that user can write there. */
export function own(path: string, user: string): void {
  const { uid, gid } = userIds(user);
  if (uid !== undefined && gid !== undefined) {
    chownSync(path, uid, gid);
  }
}

/** Signals a server (SIGINT is PostgreSQL's fast shutdown) and waits for it, SIGKILL after `timeoutMs`. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
