import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ThrowawaySpec } from '../../engines/engine';
import { connect as connectMysql } from '../../engines/mysql/connection';
import { mariadbThrowaway } from '../../engines/mysql/throwaway';
import { postgresThrowaway } from '../../engines/postgres/throwaway';
import { freePort } from '../../engines/process';
import { redisThrowaway } from '../../engines/redis/throwaway';
import { startThrowaway, type ThrowawayServer } from '../../engines/throwaway';

export { freePort };

/**
 * Throwaway database servers on loopback for tests, the bench and the demo: PostgreSQL 15, MariaDB 10.11 and Redis 7
 * from Debian, each in its own temp directory on a free port, with a password so that authentication is real.
 * They are the engines' own throwaway specs (engines/<engine>/throwaway.ts, as the drill starts them) with
 * settings of their own: a binlog for MariaDB (positions), DEBUG for Redis (DIGEST), smaller buffers.
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
  /** MariaDB: write a binary log (positions in dumps, binlog archiving). @default true */
  readonly logBin?: boolean;
  /** MariaDB: the binlog format; archiving needs ROW. @default the server's own (MIXED in 10.11) */
  readonly binlogFormat?: 'ROW' | 'MIXED' | 'STATEMENT';
}

function randomPassword(): string {
  return `s3cret-${Math.random().toString(36).slice(2, 12)}`;
}

function start(
  spec: ThrowawaySpec,
  prefix: string,
  serverOptions: (directory: string) => string[],
  options: StartOptions,
): Promise<ThrowawayServer> {
  return startThrowaway(spec, {
    password: options.password ?? randomPassword(),
    directory: options.directory,
    prefix: join(tmpdir(), prefix),
    options: serverOptions,
    timeoutMs: 60_000,
  });
}

function described(server: ThrowawayServer, engine: EngineName, database: string, env: Record<string, string>): EngineServer {
  const { port, username, password } = server.connection;
  return {
    engine,
    host: '127.0.0.1',
    port,
    username: username ?? '',
    password,
    database,
    directory: server.directory,
    taskEnv: () => ({
      STRONGBOX_ENGINE: engine,
      STRONGBOX_DB_HOST: '127.0.0.1',
      STRONGBOX_DB_PORT: String(port),
      STRONGBOX_DB_TLS: 'disable',
      ...(username ? { STRONGBOX_DB_USERNAME: username } : {}),
      STRONGBOX_DB_PASSWORD: password,
      ...env,
    }),
    // PostgreSQL's stop signal is SIGINT, its fast shutdown: no waiting for clients a failed test left connected.
    stop: () => server.stop(20_000),
  };
}

export async function startPostgres(options: StartOptions = {}): Promise<EngineServer> {
  const server = await start(
    postgresThrowaway,
    'strongbox-pg-',
    () => ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_wal_size=4GB', 'shared_buffers=256MB'],
    options,
  );
  return described(server, 'postgres', 'postgres', { STRONGBOX_DB_NAME: 'postgres' });
}

export async function startMariadb(options: StartOptions = {}): Promise<EngineServer> {
  const server = await start(
    mariadbThrowaway,
    'strongbox-mariadb-',
    (directory) => [
      ...(options.logBin === false ? [] : [`--log-bin=${join(directory, 'binlog')}`]),
      ...(options.binlogFormat ? [`--binlog-format=${options.binlogFormat}`] : []),
      '--server-id=1',
      '--innodb-flush-log-at-trx-commit=0',
      '--innodb-buffer-pool-size=256M',
      '--innodb-log-file-size=256M',
      '--max-allowed-packet=256M',
      '--sync-binlog=0',
    ],
    options,
  );
  try {
    const conn = await connectMysql(server.connection);
    await conn.query('CREATE DATABASE IF NOT EXISTS strongbox');
    await conn.end();
  } catch (error) {
    await server.stop();
    throw error;
  }
  return described(server, 'mariadb', 'strongbox', {});
}

export async function startRedis(options: StartOptions = {}): Promise<EngineServer> {
  // DEBUG (DIGEST, for the fidelity suites) from loopback only; the task's own throwaway servers keep it off.
  // Nothing of a Redis server is kept (no persistence), so `directory` is not reused.
  const server = await start(redisThrowaway, 'strongbox-redis-', () => ['--daemonize', 'no', '--enable-debug-command', 'local'], {
    password: options.password,
  });
  return described(server, 'redis', '0', {});
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
