import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Throwaway database servers on loopback for tests and the bench: PostgreSQL 15, MariaDB 10.11 and Redis 7 from
 * Debian, each in its own temp directory on a free port, with a password so that authentication is real.
 * PostgreSQL and MariaDB run as their system users when this process is root (initdb refuses root).
 *
 *   const pg = await startPostgres();
 *   process.env = { ...process.env, ...pg.taskEnv() };   // STRONGBOX_ENGINE/DB_HOST/DB_PORT/DB_USERNAME/...
 *   await pg.stop();
 */
export type EngineName = 'postgres' | 'mariadb' | 'redis';

export interface EngineServer {
  readonly engine: EngineName;
  readonly host: string;
  readonly port: number;
  /** Superuser (PostgreSQL `postgres`, MariaDB `strongbox` with all privileges); empty for Redis (AUTH by password only). */
  readonly username: string;
  readonly password: string;
  /** Database the server was created with: `postgres` for PostgreSQL, `strongbox` for MariaDB, `0` for Redis. */
  readonly database: string;
  readonly directory: string;
  /** Task environment variables that point the dump task at this server (no bucket, no command). */
  taskEnv(): Record<string, string>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Password for the superuser (Redis: requirepass). @default 's3cret-<random>' */
  readonly password?: string;
  /**
   * Keep the server's files in this directory and reuse them on the next start (the bench caches its datasets
   * this way); the directory is then not removed by `stop()`. Use the same password on every start.
   * @default a fresh temp directory, removed by `stop()`
   */
  readonly directory?: string;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** A free TCP port on loopback (closed again before the server binds it; the race is acceptable in tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function prepareDirectory(options: StartOptions, prefix: string): string {
  if (options.directory) {
    mkdirSync(options.directory, { recursive: true });
    return options.directory;
  }
  return mkdtempSync(join(tmpdir(), prefix));
}

function cleanUp(options: StartOptions, directory: string): void {
  if (!options.directory) {
    rmSync(directory, { recursive: true, force: true });
  }
}

function randomPassword(): string {
  return `s3cret-${Math.random().toString(36).slice(2, 12)}`;
}

function ownDirectory(path: string, user: string): void {
  if (!isRoot) {
    return;
  }
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  chownSync(path, uid, gid);
}

/**
 * Process options that run a child as `user` when we are root (initdb and postgres refuse root), otherwise as
 * ourselves. The server is then our direct child, so stopping it signals the server itself.
 */
function asUser(user: string): { uid?: number; gid?: number } {
  if (!isRoot) {
    return {};
  }
  return {
    uid: Number(execFileSync('id', ['-u', user]).toString().trim()),
    gid: Number(execFileSync('id', ['-g', user]).toString().trim()),
  };
}

async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  child: ChildProcess,
  log: () => string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${what} exited with code ${child.exitCode} before accepting connections:\n${log()}`);
    }
    if (await check().catch(() => false)) {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not accept connections within ${timeoutMs / 1000}s:\n${log()}`);
}

function collect(child: ChildProcess): () => string {
  let text = '';
  const add = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-8000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => text;
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

export async function startPostgres(options: StartOptions = {}): Promise<EngineServer> {
  const password = options.password ?? randomPassword();
  const directory = prepareDirectory(options, 'strongbox-pg-');
  chmodSync(directory, 0o755);
  const data = join(directory, 'data');
  const reuse = existsSync(join(data, 'PG_VERSION'));
  const pwfile = join(directory, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  ownDirectory(directory, 'postgres');
  ownDirectory(pwfile, 'postgres');
  const initArgs = [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=scram-sha-256',
    `--pwfile=${pwfile}`,
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
    '--no-sync',
  ];
  if (!reuse) {
    execFileSync(join(PG_BIN, 'initdb'), initArgs, { stdio: 'pipe', ...asUser('postgres') });
  }
  rmSync(pwfile);
  const port = await freePort();
  const args = [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    directory,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_wal_size=4GB',
    '-c',
    'shared_buffers=256MB',
  ];
  const child = spawn(join(PG_BIN, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...asUser('postgres') });
  const log = collect(child);
  const { Client } = await import('pg');
  const connect = async () => {
    const client = new Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
    await client.connect();
    await client.end();
    return true;
  };
  await waitFor(connect, 'postgres', child, log);
  return {
    engine: 'postgres',
    host: '127.0.0.1',
    port,
    username: 'postgres',
    password,
    database: 'postgres',
    directory,
    taskEnv: () => ({
      STRONGBOX_ENGINE: 'postgres',
      STRONGBOX_DB_HOST: '127.0.0.1',
      STRONGBOX_DB_PORT: String(port),
      STRONGBOX_DB_NAME: 'postgres',
      STRONGBOX_DB_TLS: 'disable',
      STRONGBOX_DB_USERNAME: 'postgres',
      STRONGBOX_DB_PASSWORD: password,
    }),
    stop: async () => {
      // SIGINT is PostgreSQL's "fast" shutdown: no waiting for clients that a failed test left connected.
      await stopChild(child, 'SIGINT');
      cleanUp(options, directory);
    },
  };
}

export async function startMariadb(options: StartOptions = {}): Promise<EngineServer> {
  const password = options.password ?? randomPassword();
  const directory = prepareDirectory(options, 'strongbox-mariadb-');
  chmodSync(directory, 0o755);
  const data = join(directory, 'data');
  const reuse = existsSync(join(data, 'mysql'));
  mkdirSync(data, { recursive: true });
  ownDirectory(directory, 'mysql');
  ownDirectory(data, 'mysql');
  const userArgs = isRoot ? ['--user=mysql'] : [];
  if (!reuse)
    execFileSync(
      'mariadb-install-db',
      ['--no-defaults', `--datadir=${data}`, ...userArgs, '--auth-root-authentication-method=normal', '--skip-test-db'],
      { stdio: 'pipe' },
    );
  const port = await freePort();
  const socket = join(directory, 'mysqld.sock');
  const child = spawn(
    'mariadbd',
    [
      '--no-defaults',
      `--datadir=${data}`,
      ...userArgs,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${join(directory, 'mysqld.pid')}`,
      '--skip-name-resolve',
      `--log-bin=${join(directory, 'binlog')}`,
      '--server-id=1',
      '--innodb-flush-log-at-trx-commit=0',
      '--innodb-buffer-pool-size=256M',
      '--innodb-log-file-size=256M',
      '--max-allowed-packet=256M',
      '--sync-binlog=0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = collect(child);
  const mysql = await import('mysql2/promise');
  await waitFor(
    async () => {
      const conn = await mysql.createConnection({ socketPath: socket, user: 'root' });
      await conn.end();
      return true;
    },
    'mariadbd',
    child,
    log,
  );
  const root = await mysql.createConnection({ socketPath: socket, user: 'root' });
  await root.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', ['strongbox', '%', password]);
  await root.query("GRANT ALL PRIVILEGES ON *.* TO 'strongbox'@'%' WITH GRANT OPTION");
  await root.query('CREATE DATABASE IF NOT EXISTS strongbox');
  await root.end();
  return {
    engine: 'mariadb',
    host: '127.0.0.1',
    port,
    username: 'strongbox',
    password,
    database: 'strongbox',
    directory,
    taskEnv: () => ({
      STRONGBOX_ENGINE: 'mariadb',
      STRONGBOX_DB_HOST: '127.0.0.1',
      STRONGBOX_DB_PORT: String(port),
      STRONGBOX_DB_TLS: 'disable',
      STRONGBOX_DB_USERNAME: 'strongbox',
      STRONGBOX_DB_PASSWORD: password,
    }),
    stop: async () => {
      await stopChild(child);
      cleanUp(options, directory);
    },
  };
}

export async function startRedis(options: StartOptions = {}): Promise<EngineServer> {
  const password = options.password ?? randomPassword();
  const directory = mkdtempSync(join(tmpdir(), 'strongbox-redis-'));
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      directory,
      '--save',
      '',
      '--appendonly',
      'no',
      '--requirepass',
      password,
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = collect(child);
  const { default: Redis } = await import('ioredis');
  await waitFor(
    async () => {
      const client = new Redis({
        host: '127.0.0.1',
        port,
        password,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      // A refused probe rejects connect(); without a listener ioredis would also print it as unhandled.
      client.on('error', () => undefined);
      try {
        await client.connect();
        return (await client.ping()) === 'PONG';
      } finally {
        client.disconnect();
      }
    },
    'redis-server',
    child,
    log,
  );
  return {
    engine: 'redis',
    host: '127.0.0.1',
    port,
    username: '',
    password,
    database: '0',
    directory,
    taskEnv: () => ({
      STRONGBOX_ENGINE: 'redis',
      STRONGBOX_DB_HOST: '127.0.0.1',
      STRONGBOX_DB_PORT: String(port),
      STRONGBOX_DB_TLS: 'disable',
      STRONGBOX_DB_PASSWORD: password,
    }),
    stop: async () => {
      await stopChild(child);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export function startEngine(engine: EngineName, options: StartOptions = {}): Promise<EngineServer> {
  switch (engine) {
    case 'postgres':
      return startPostgres(options);
    case 'mariadb':
      return startMariadb(options);
    case 'redis':
      return startRedis(options);
  }
}
