import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ThrowawaySpec } from '../engine';
import { own, userIds } from '../process';
import { PG_BIN } from './bin';
import { connect } from './connection';

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

/** PostgreSQL's initdb and postgres refuse root, so as root they run as the system user `postgres`. */
export const postgresThrowaway: ThrowawaySpec = {
  engine: 'postgres',
  binary: 'postgres',
  // SIGINT is PostgreSQL's fast shutdown: no waiting for clients left connected.
  stopSignal: 'SIGINT',
  // Nothing here outlives the drill, so nothing is made durable, and wal_level=minimal spares the restore's COPY its WAL.
  drillOptions: [
    'fsync=off',
    'synchronous_commit=off',
    'full_page_writes=off',
    'max_wal_size=8GB',
    'checkpoint_timeout=1h',
    'maintenance_work_mem=512MB',
    'wal_level=minimal',
    'max_wal_senders=0',
  ],
  initialize(directory, password) {
    const data = join(directory, 'data');
    own(directory, 'postgres');
    if (existsSync(join(data, 'PG_VERSION'))) {
      return;
    }
    const pwfile = join(directory, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    own(pwfile, 'postgres');
    try {
      execFileSync(join(PG_BIN, 'initdb'), postgresInitdbArgs(data, pwfile), { stdio: 'pipe', ...userIds('postgres') });
    } finally {
      rmSync(pwfile, { force: true });
    }
  },
  command: (directory, port, _password, options) => ({
    command: join(PG_BIN, 'postgres'),
    args: postgresServerArgs(join(directory, 'data'), port, directory, options),
    user: 'postgres',
  }),
  async probe(_directory, port, password) {
    const client = await connect({ host: '127.0.0.1', port, username: 'postgres', password, database: 'postgres', tls: 'disable' });
    await client.end();
  },
  login: async (_directory, _port, password) => ({ username: 'postgres', password, database: 'postgres' }),
};
