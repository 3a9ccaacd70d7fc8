import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  mariadbInstallArgs,
  mariadbServerArgs,
  own,
  postgresInitdbArgs,
  postgresServerArgs,
  redisServerArgs,
  stopChild,
  userIds,
} from '../../engines/throwaway';

export { freePort };

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

export async function startPostgres(options: StartOptions = {}): Promise<EngineServer> {
  const password = options.password ?? randomPassword();
  const directory = prepareDirectory(options, 'strongbox-pg-');
  chmodSync(directory, 0o755);
  const data = join(directory, 'data');
  const reuse = existsSync(join(data, 'PG_VERSION'));
  const pwfile = join(directory, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  own(directory, 'postgres');
  own(pwfile, 'postgres');
  if (!reuse) {
    execFileSync(join(PG_BIN, 'initdb'), postgresInitdbArgs(data, pwfile), { stdio: 'pipe', ...userIds('postgres') });
  }
  rmSync(pwfile);
  const port = await freePort();
  const args = postgresServerArgs(data, port, directory, [
    'fsync=off',
    'synchronous_commit=off',
    'full_page_writes=off',
    'max_wal_size=4GB',
    'shared_buffers=256MB',
  ]);
  const child = spawn(join(PG_BIN, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...userIds('postgres') });
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
      await stopChild(child, 'SIGINT', 20_000);
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
  own(directory, 'mysql');
  own(data, 'mysql');
  if (!reuse) {
    execFileSync('mariadb-install-db', mariadbInstallArgs(data), { stdio: 'pipe' });
  }
  const port = await freePort();
  const socket = join(directory, 'mysqld.sock');
  const child = spawn(
    'mariadbd',
    mariadbServerArgs(data, directory, port, [
      `--log-bin=${join(directory, 'binlog')}`,
      '--server-id=1',
      '--innodb-flush-log-at-trx-commit=0',
      '--innodb-buffer-pool-size=256M',
      '--innodb-log-file-size=256M',
      '--max-allowed-packet=256M',
      '--sync-binlog=0',
    ]),
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
      await stopChild(child, 'SIGTERM', 20_000);
      cleanUp(options, directory);
    },
  };
}

export async function startRedis(options: StartOptions = {}): Promise<EngineServer> {
  const password = options.password ?? randomPassword();
  const directory = mkdtempSync(join(tmpdir(), 'strongbox-redis-'));
  const port = await freePort();
  // DEBUG (DIGEST, for the fidelity suites) from loopback only; the task's own throwaway servers keep it off.
  const child = spawn(
    'redis-server',
    [...redisServerArgs(port, directory, password), '--daemonize', 'no', '--enable-debug-command', 'local'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
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
      await stopChild(child, 'SIGTERM', 20_000);
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
