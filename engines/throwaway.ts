import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from './connection';

/**
 * A throwaway server started inside the drill task (the image carries PostgreSQL 15, MariaDB and Redis): its
 * own data directory, loopback only, a random password, no durability (fsync off: it lives for one drill).
 * PostgreSQL's initdb refuses root and MariaDB should not run as root, so as root they run as their system
 * users; as any other user they run as that user. The argv builders and process helpers below are also what
 * the test and bench servers (dev/servers/engines.ts) start theirs with.
 */
export interface ThrowawayEngine {
  readonly engine: 'postgres' | 'mariadb' | 'redis';
  readonly connection: Connection;
  readonly directory: string;
  readonly startSeconds: number;
  stop(): Promise<void>;
}

const PG_BIN = process.env.STRONGBOX_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export async function startThrowaway(
  engine: 'postgres' | 'mariadb' | 'redis',
  options: { redisRdbPath?: string } = {},
): Promise<ThrowawayEngine> {
  const started = Date.now();
  const password = randomBytes(18).toString('base64url');
  const directory = mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), `strongbox-drill-${engine}-`));
  chmodSync(directory, 0o755);
  const port = await freePort();
  const server =
    engine === 'postgres'
      ? await startPostgres(directory, port, password)
      : engine === 'mariadb'
        ? await startMariadb(directory, port, password)
        : await startRedis(directory, port, password, options.redisRdbPath);
  return {
    engine,
    connection: { host: '127.0.0.1', port, tls: 'disable', ...server.credentials },
    directory,
    startSeconds: (Date.now() - started) / 1000,
    stop: async () => {
      await stopChild(server.child, engine === 'postgres' ? 'SIGINT' : 'SIGTERM');
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

interface Started {
  readonly child: ChildProcess;
  readonly credentials: { username?: string; password: string; database?: string };
}

async function startPostgres(directory: string, port: number, password: string): Promise<Started> {
  const data = join(directory, 'data');
  const pwfile = join(directory, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  own(directory, 'postgres');
  own(pwfile, 'postgres');
  execFileSync(join(PG_BIN, 'initdb'), postgresInitdbArgs(data, pwfile), { stdio: 'pipe', ...userIds('postgres') });
  rmSync(pwfile);
  // Nothing here outlives the drill, so nothing is made durable, and wal_level=minimal spares the restore's COPY its WAL.
  const child = spawnAs(
    'postgres',
    join(PG_BIN, 'postgres'),
    postgresServerArgs(data, port, directory, [
      'fsync=off',
      'synchronous_commit=off',
      'full_page_writes=off',
      'max_wal_size=8GB',
      'checkpoint_timeout=1h',
      'maintenance_work_mem=512MB',
      'wal_level=minimal',
      'max_wal_senders=0',
    ]),
  );
  const { Client } = await import('pg');
  await waitFor(child, 'postgres', async () => {
    const client = new Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
    await client.connect();
    await client.end();
  });
  return { child, credentials: { username: 'postgres', password, database: 'postgres' } };
}

async function startMariadb(directory: string, port: number, password: string): Promise<Started> {
  const data = join(directory, 'data');
  mkdirSync(data);
  own(directory, 'mysql');
  own(data, 'mysql');
  execFileSync('mariadb-install-db', mariadbInstallArgs(data), { stdio: 'pipe' });
  const socket = join(directory, 'mysqld.sock');
  const child = spawn(
    'mariadbd',
    mariadbServerArgs(data, directory, port, [
      '--skip-log-bin',
      // A drill must not run the application's scheduled events: they would change the data being compared.
      '--event-scheduler=OFF',
      '--innodb-flush-log-at-trx-commit=0',
      '--innodb-doublewrite=0',
      '--innodb-buffer-pool-size=512M',
      '--max-allowed-packet=1G',
    ]),
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const mysql = await import('mysql2/promise');
  await waitFor(child, 'mariadbd', async () => {
    const conn = await mysql.createConnection({ socketPath: socket, user: 'root' });
    await conn.end();
  });
  const root = await mysql.createConnection({ socketPath: socket, user: 'root' });
  await root.query('CREATE USER ?@? IDENTIFIED BY ?', ['strongbox', '%', password]);
  await root.query("GRANT ALL PRIVILEGES ON *.* TO 'strongbox'@'%' WITH GRANT OPTION");
  await root.end();
  return { child, credentials: { username: 'strongbox', password } };
}

async function startRedis(directory: string, port: number, password: string, rdbPath?: string): Promise<Started> {
  const args = redisServerArgs(port, directory, password);
  if (rdbPath) {
    // An RDB restore is a file the fresh server loads at start.
    args.push('--dir', join(rdbPath, '..'), '--dbfilename', rdbPath.split('/').pop() ?? 'dump.rdb');
  }
  const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const { Redis } = await import('ioredis');
  await waitFor(child, 'redis-server', async () => {
    const client = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined); // refusals while the server starts are expected; the probe retries
    try {
      await client.connect();
      const loading = (await client.info('persistence')).includes('loading:1');
      if (loading) {
        throw new Error('still loading the RDB');
      }
    } finally {
      client.disconnect();
    }
  });
  return { child, credentials: { password } };
}

/** initdb of a loopback server: superuser `postgres` with a SCRAM password from `pwfile`, UTF-8, no fsync. */
export function postgresInitdbArgs(data: string, pwfile: string): string[] {
  return ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'];
}

/** `postgres` on 127.0.0.1:`port` with its socket in `socketDirectory` and the given `name=value` settings. */
export function postgresServerArgs(data: string, port: number, socketDirectory: string, settings: readonly string[]): string[] {
  return [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    socketDirectory,
    '-c',
    'listen_addresses=127.0.0.1',
    ...settings.flatMap((setting) => ['-c', setting]),
  ];
}

/** mariadb-install-db with a root that logs in by password-less socket auth and no test database. */
export function mariadbInstallArgs(data: string): string[] {
  return ['--no-defaults', `--datadir=${data}`, ...mysqlUser(), '--auth-root-authentication-method=normal', '--skip-test-db'];
}

/** mariadbd on 127.0.0.1:`port` with socket and pid file in `directory`, plus the given options. */
export function mariadbServerArgs(data: string, directory: string, port: number, options: readonly string[]): string[] {
  return [
    '--no-defaults',
    `--datadir=${data}`,
    ...mysqlUser(),
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${join(directory, 'mysqld.sock')}`,
    `--pid-file=${join(directory, 'mysqld.pid')}`,
    '--skip-name-resolve',
    ...options,
  ];
}

/** redis-server on 127.0.0.1:`port`, AUTH by `password`, no persistence of its own. */
export function redisServerArgs(port: number, directory: string, password: string): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--dir', directory, '--save', '', '--appendonly', 'no', '--requirepass', password];
}

function mysqlUser(): string[] {
  return isRoot ? ['--user=mysql'] : [];
}

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

function spawnAs(user: string, command: string, args: string[]): ChildProcess {
  return spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...userIds(user) });
}

async function waitFor(child: ChildProcess, what: string, probe: () => Promise<void>, timeoutMs = 120_000): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`throwaway ${what} exited with code ${child.exitCode} before accepting connections:\n${stderr}`);
    }
    try {
      await probe();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`throwaway ${what} did not accept connections within ${timeoutMs / 1000} s:\n${stderr}`);
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
