import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ThrowawaySpec } from '../engine';
import { isRoot, own } from '../process';

/**
 * mariadb-install-db with a root that logs in by password-less socket auth and no test database. The bootstrap's
 * temporary tables go to the server's own `tmp` beside `data`: in the shared /tmp, another process's clean-up
 * removed one mid-bootstrap ("Unknown table 'mysql.tmp_user_sys'").
 */
export function mariadbInstallArgs(data: string): string[] {
  return [
    '--no-defaults',
    `--datadir=${data}`,
    `--tmpdir=${join(dirname(data), 'tmp')}`,
    ...mysqlUser(),
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ];
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
    `--tmpdir=${join(directory, 'tmp')}`,
    '--skip-name-resolve',
    ...options,
  ];
}

/** MariaDB should not run as root: as root it runs as the system user `mysql` (mariadbd's own --user). */
function mysqlUser(): string[] {
  return isRoot ? ['--user=mysql'] : [];
}

async function rootConnection(directory: string) {
  const mysql = await import('mysql2/promise');
  return mysql.createConnection({ socketPath: join(directory, 'mysqld.sock'), user: 'root' });
}

/** MariaDB: the image carries it, and it reads MySQL logical dumps too (the formats differ only in features a dump of tables, routines and triggers rarely uses). */
export const mariadbThrowaway: ThrowawaySpec = {
  engine: 'mariadb',
  binary: 'mariadbd',
  stopSignal: 'SIGTERM',
  drillOptions: [
    '--skip-log-bin',
    // A drill must not run the application's scheduled events: they would change the data being compared.
    '--event-scheduler=OFF',
    '--innodb-flush-log-at-trx-commit=0',
    '--innodb-doublewrite=0',
    '--innodb-buffer-pool-size=512M',
    '--max-allowed-packet=1G',
  ],
  initialize(directory) {
    const data = join(directory, 'data');
    const reuse = existsSync(join(data, 'mysql'));
    mkdirSync(data, { recursive: true });
    mkdirSync(join(directory, 'tmp'), { recursive: true });
    own(directory, 'mysql');
    own(data, 'mysql');
    own(join(directory, 'tmp'), 'mysql');
    if (!reuse) {
      execFileSync('mariadb-install-db', mariadbInstallArgs(data), { stdio: 'pipe' });
    }
  },
  command: (directory, port, _password, options) => ({
    command: 'mariadbd',
    args: mariadbServerArgs(join(directory, 'data'), directory, port, options),
  }),
  async probe(directory) {
    await (await rootConnection(directory)).end();
  },
  async login(directory, _port, password) {
    const root = await rootConnection(directory);
    try {
      await root.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', ['strongbox', '%', password]);
      await root.query("GRANT ALL PRIVILEGES ON *.* TO 'strongbox'@'%' WITH GRANT OPTION");
    } finally {
      await root.end();
    }
    return { username: 'strongbox', password };
  },
};
