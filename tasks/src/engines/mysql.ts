import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import type mysql from 'mysql2/promise';
import type { Inventory } from '../../../lambdas/shared/catalog';
import { type Connection, requireUsername } from '../credentials';
import { findTool, startTool, toolVersion } from '../tools';
import {
  CONNECT_TIMEOUT_SECONDS,
  connectError,
  type DumpSession,
  type EngineAdapter,
  type LogPosition,
  type RestorePlan,
  TargetNotEmptyError,
} from './engine';

/**
 * MySQL and MariaDB: the flavour and version decide the dump tool and its flags. The inventory is counted on a
 * separate connection next to the dump, not inside mysqldump's snapshot, so it is `exact: false`: a drill
 * compares table names and tolerates count drift of a live database.
 */
export type Flavour = 'mysql' | 'mariadb';

export interface ServerInfo {
  readonly flavour: Flavour;
  readonly version: string;
  /** major.minor.patch as numbers, for flag decisions. */
  readonly numeric: readonly [number, number, number];
  readonly logBin: boolean;
  readonly gtidMode: boolean;
}

const SYSTEM_DATABASES = ['mysql', 'information_schema', 'performance_schema', 'sys'];

function sslOption(connection: Connection): mysql.ConnectionOptions['ssl'] {
  if (connection.tls === 'disable') {
    return undefined;
  }
  return { rejectUnauthorized: connection.tls === 'verify-full' };
}

async function connect(connection: Connection, database?: string): Promise<mysql.Connection> {
  // Loaded on first use: every task start would otherwise evaluate mysql2 (and keep its ~3 MB of heap, which
  // each full GC of a PostgreSQL or Redis stream then walks).
  const { createConnection } = await import('mysql2/promise');
  try {
    return await createConnection({
      host: connection.host,
      port: connection.port,
      user: requireUsername(connection, 'mysql'),
      password: connection.password,
      database,
      connectTimeout: CONNECT_TIMEOUT_SECONDS * 1000,
      ssl: sslOption(connection),
      multipleStatements: false,
    });
  } catch (error) {
    if (error instanceof Error && error.name === 'TaskEnvError') {
      throw error;
    }
    throw connectError('mysql', connection, error);
  }
}

export async function serverInfo(conn: mysql.Connection): Promise<ServerInfo> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v, @@version_comment AS c, @@log_bin AS b');
  const { v, c, b } = rows[0] as { v: string; c: string; b: number };
  const flavour: Flavour = /mariadb/i.test(`${v} ${c}`) ? 'mariadb' : 'mysql';
  let gtidMode = false;
  if (flavour === 'mysql') {
    const [gtid] = await conn.query<mysql.RowDataPacket[]>('SELECT @@GLOBAL.gtid_mode AS g');
    gtidMode = String(gtid[0].g).toUpperCase() === 'ON';
  }
  const parts = (/^(\d+)\.(\d+)\.(\d+)/.exec(v) ?? ['', '0', '0', '0']).slice(1).map(Number) as [number, number, number];
  return { flavour, version: `${v} (${c})`, numeric: parts, logBin: Number(b) === 1, gtidMode };
}

function atLeast(version: readonly [number, number, number], major: number, minor: number, patch: number): boolean {
  const [a, b, c] = version;
  return a !== major ? a > major : b !== minor ? b > minor : c >= patch;
}

/** The dump tool for a flavour: Oracle's mysqldump for MySQL (MariaDB's cannot read MySQL 8's catalog), mariadb-dump for MariaDB. */
export function dumpTool(flavour: Flavour): string {
  if (flavour === 'mysql') {
    return 'mysqldump';
  }
  return findTool('mariadb-dump') || !findTool('mysqldump') ? 'mariadb-dump' : 'mysqldump';
}

export function clientTool(flavour: Flavour): string {
  if (flavour === 'mysql') {
    return 'mysql';
  }
  return findTool('mariadb') || !findTool('mysql') ? 'mariadb' : 'mysql';
}

/**
 * Consistent InnoDB dump flags plus the log position, by flavour and version:
 * - MariaDB: `--master-data=2 --gtid` writes the binlog coordinates and the GTID position as comments.
 * - MySQL >= 8.0.26: `--source-data=2` (`--master-data` is deprecated); older: `--master-data=2`.
 * - MySQL with GTID mode ON: `--set-gtid-purged=COMMENTED` (>= 8.0.32) keeps the GTID set as a comment, so
 *   a restore into a server with its own GTID history does not fail; older versions use OFF.
 * The position flags need binary logging; without it there is no position to record.
 */
export function dumpFlags(info: ServerInfo): string[] {
  const flags = [
    '--single-transaction',
    '--quick',
    '--routines',
    '--triggers',
    '--events',
    '--hex-blob',
    '--default-character-set=utf8mb4',
    '--max-allowed-packet=1G',
  ];
  if (info.flavour === 'mariadb') {
    if (info.logBin) {
      flags.push('--master-data=2', '--gtid');
    }
    return flags;
  }
  if (info.logBin) {
    flags.push(atLeast(info.numeric, 8, 0, 26) ? '--source-data=2' : '--master-data=2');
  }
  if (info.gtidMode) {
    flags.push(atLeast(info.numeric, 8, 0, 32) ? '--set-gtid-purged=COMMENTED' : '--set-gtid-purged=OFF');
  }
  return flags;
}

export function tlsFlags(flavour: Flavour, tls: Connection['tls']): string[] {
  if (flavour === 'mysql') {
    return [`--ssl-mode=${tls === 'disable' ? 'DISABLED' : tls === 'require' ? 'REQUIRED' : 'VERIFY_IDENTITY'}`];
  }
  return tls === 'disable' ? ['--skip-ssl'] : tls === 'require' ? ['--ssl'] : ['--ssl', '--ssl-verify-server-cert'];
}

/** Quotes a value for a MySQL option file. */
function optionValue(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The credentials go to the tool in a 0600 option file (`--defaults-extra-file`, which must be the first
 * argument), never in argv. The file lives in a 0700 directory removed by `remove()`.
 */
export function credentialsFile(connection: Connection): { path: string; remove(): void } {
  const directory = mkdtempSync(join(tmpdir(), 'strongbox-my-'));
  const path = join(directory, 'client.cnf');
  const lines = ['[client]', `user=${optionValue(requireUsername(connection, 'mysql'))}`];
  if (connection.password !== undefined) {
    lines.push(`password=${optionValue(connection.password)}`);
  }
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { path, remove: () => rmSync(directory, { recursive: true, force: true }) };
}

/** Reads the log position from the comments at the top of the dump. */
export function positionFromDumpHead(head: string): LogPosition | undefined {
  const coordinates = /(?:MASTER|SOURCE)_LOG_FILE='([^']+)',\s*(?:MASTER|SOURCE)_LOG_POS=(\d+)/.exec(head);
  const gtid = /gtid_slave_pos='([^']*)'/i.exec(head) ?? /GTID_PURGED=(?:\/\*!\d+ \+\*\/ )?'([^']*)'/i.exec(head);
  if (!coordinates && !gtid) {
    return undefined;
  }
  return {
    ...(coordinates ? { binlogFile: coordinates[1], binlogPosition: Number(coordinates[2]) } : {}),
    ...(gtid?.[1] ? { gtid: gtid[1] } : {}),
  };
}

async function userDatabases(conn: mysql.Connection): Promise<string[]> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT schema_name AS name FROM information_schema.schemata ORDER BY 1');
  return rows.map((row) => String(row.name)).filter((name) => !SYSTEM_DATABASES.includes(name));
}

function quote(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

async function countTables(conn: mysql.Connection, databases: readonly string[]): Promise<Inventory['entries']> {
  const entries: Inventory['entries'] = [];
  for (const database of databases) {
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT table_name AS name, table_type AS type FROM information_schema.tables WHERE table_schema = ? ORDER BY 1',
      [database],
    );
    for (const table of tables) {
      const [counted] = await conn.query<mysql.RowDataPacket[]>(
        `SELECT COUNT(*) AS n FROM ${quote(database)}.${quote(String(table.name))}`,
      );
      entries.push({ name: `${database}.${table.name}`, kind: table.type === 'VIEW' ? 'view' : 'table', count: Number(counted[0].n) });
    }
  }
  return entries;
}

export const mysqlAdapter: EngineAdapter = {
  name: 'mysql',

  async serverVersion(connection) {
    const conn = await connect(connection);
    try {
      return (await serverInfo(conn)).version;
    } finally {
      await conn.end();
    }
  },

  async inventory(connection) {
    const conn = await connect(connection);
    try {
      const databases = connection.database ? [connection.database] : await userDatabases(conn);
      return { exact: false, entries: await countTables(conn, databases) };
    } finally {
      await conn.end();
    }
  },

  async dump(connection): Promise<DumpSession> {
    const conn = await connect(connection);
    let options: { path: string; remove(): void } | undefined;
    try {
      const info = await serverInfo(conn);
      const databases = connection.database ? [connection.database] : await userDatabases(conn);
      const [sizes] = await conn.query<mysql.RowDataPacket[]>(
        'SELECT COALESCE(SUM(data_length + index_length), 0) AS size FROM information_schema.tables WHERE table_schema NOT IN (?)',
        [SYSTEM_DATABASES],
      );
      const tool = dumpTool(info.flavour);
      const versionAsked = toolVersion(tool);
      versionAsked.catch(() => undefined);
      // A COUNT(*) of a large InnoDB table takes seconds, so the counts run alongside the dump where that is safe.
      // mariadb-dump takes the binlog position from its consistent snapshot and no global lock; Oracle's
      // mysqldump runs FLUSH TABLES WITH READ LOCK for the position (and the GTID set), which would wait for a
      // running COUNT(*) and stall every writer of the server behind it, so on MySQL they run first.
      let entries = info.flavour === 'mysql' ? await countTables(conn, databases) : undefined;
      options = credentialsFile(connection);
      // A single database is dumped without CREATE DATABASE/USE, so it can be restored under any name;
      // several are dumped with --databases and restore under their own names.
      const selection = connection.database ? [connection.database] : ['--databases', ...databases];
      const shownArgs = [
        '--defaults-extra-file=<0600 option file>',
        '-h',
        connection.host,
        '-P',
        String(connection.port),
        ...tlsFlags(info.flavour, connection.tls),
        ...dumpFlags(info),
        ...selection,
      ];
      const process = startTool(tool, [`--defaults-extra-file=${options.path}`, ...shownArgs.slice(1)]);
      const file = options;
      let counting = true;
      const counted = (entries ? Promise.resolve(entries) : countTables(conn, databases)).then((counts) => {
        entries = counts;
        counting = false;
      });
      counted.catch(() => undefined);
      const version = await versionAsked.catch((error: Error) => {
        process.child.kill('SIGTERM');
        throw error;
      });
      return {
        format: 'sql',
        serverVersion: info.version,
        tool: { name: tool, version, args: shownArgs },
        output: { kind: 'tool', process },
        // Read for the manifest, which is built only after done() resolved.
        get inventory(): Inventory {
          if (!entries) {
            throw new Error('mysql: the inventory was read before done() resolved; the counts run alongside the dump');
          }
          return { exact: false, entries };
        },
        expectedBytes: Number(sizes[0].size),
        positionFromHead: positionFromDumpHead,
        done: async () => {
          await Promise.all([process.succeeded(), counted]);
        },
        close: async () => {
          file.remove();
          // A failed dump does not wait for counts still running on the server.
          if (counting) {
            conn.destroy();
          } else {
            await conn.end().catch(() => undefined);
          }
        },
      };
    } catch (error) {
      options?.remove();
      await conn.end().catch(() => undefined);
      throw error;
    }
  },

  async restore(connection, restoreOptions): Promise<RestorePlan> {
    const conn = await connect(connection);
    let info: ServerInfo;
    try {
      info = await serverInfo(conn);
      await checkTarget(conn, connection, restoreOptions.overwrite);
      if (connection.database) {
        await conn.query(`CREATE DATABASE IF NOT EXISTS ${quote(connection.database)}`);
      }
    } finally {
      await conn.end();
    }
    const tool = clientTool(info.flavour);
    return {
      kind: 'stream',
      consume: async (input: Readable) => {
        const file = credentialsFile(connection);
        try {
          const args = [
            `--defaults-extra-file=${file.path}`,
            '-h',
            connection.host,
            '-P',
            String(connection.port),
            ...tlsFlags(info.flavour, connection.tls),
            '--default-character-set=utf8mb4',
            '--max-allowed-packet=1G',
            '--binary-mode',
            ...(connection.database ? [connection.database] : []),
          ];
          if (restoreOptions.include.length === 0) {
            await startTool(tool, args, { stdin: input }).succeeded();
            return;
          }
          const client = startTool(tool, args, { stdin: 'pipe' });
          const filter = new SqlSelection(restoreOptions.include, connection.database);
          input.pipe(filter).pipe(client.child.stdin as NodeJS.WritableStream);
          await client.succeeded();
        } finally {
          file.remove();
        }
      },
    };
  },
};

async function checkTarget(conn: mysql.Connection, connection: Connection, overwrite: boolean): Promise<void> {
  if (overwrite) {
    return;
  }
  const databases = connection.database ? [connection.database] : await userDatabases(conn);
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema IN (?)', [
    databases.length > 0 ? databases : [''],
  ]);
  if (Number(rows[0].n) > 0) {
    throw new TargetNotEmptyError(
      `target ${connection.database ? `database "${connection.database}"` : 'server'} on ${connection.host}:${connection.port} already has ${rows[0].n} tables; restore into an empty target or set overwrite`,
    );
  }
}

/**
 * Database- and table-level selection on a mysqldump/mariadb-dump stream, by the markers the tools write:
 * `USE \`db\`;` switches database, `-- Table structure for table \`t\``, `-- Dumping data for table \`t\``
 * and the view markers open a table's section (its triggers follow its data). Lines outside any section
 * (session settings, routines) are kept for selected databases. Works line by line, so memory is bounded by
 * the longest line (one extended INSERT, at most the dump's net buffer length).
 */
export class SqlSelection extends Transform {
  private database: string | undefined;
  private table: string | undefined;
  private rest = '';
  private readonly databases = new Set<string>();
  private readonly tables = new Map<string, Set<string>>();

  public constructor(include: readonly string[], defaultDatabase?: string) {
    super();
    this.database = defaultDatabase;
    for (const name of include) {
      const [db, table] = name.includes('.') ? (name.split('.', 2) as [string, string]) : [name, undefined];
      if (table) {
        this.tables.set(db, (this.tables.get(db) ?? new Set()).add(table));
      } else {
        this.databases.add(db);
      }
    }
    // A bare table name selects that table in the single database being restored.
    if (defaultDatabase) {
      for (const name of include.filter((n) => !n.includes('.'))) {
        if (name !== defaultDatabase) {
          this.databases.delete(name);
          this.tables.set(defaultDatabase, (this.tables.get(defaultDatabase) ?? new Set()).add(name));
        }
      }
    }
  }

  private keep(): boolean {
    if (this.database === undefined) {
      return true;
    }
    if (this.databases.has(this.database)) {
      return true;
    }
    const tables = this.tables.get(this.database);
    if (!tables) {
      return false;
    }
    return this.table === undefined || tables.has(this.table);
  }

  private line(line: string): void {
    const use = /^USE `((?:[^`]|``)+)`;/.exec(line);
    if (use) {
      this.database = use[1].replace(/``/g, '`');
      this.table = undefined;
    }
    const create = /^CREATE DATABASE .*`((?:[^`]|``)+)`/.exec(line);
    if (create) {
      this.database = create[1].replace(/``/g, '`');
      this.table = undefined;
    }
    const section =
      /^-- (?:Table structure for table|Dumping data for table|Temporary table structure for view|Final view structure for view) `((?:[^`]|``)+)`/.exec(
        line,
      );
    if (section) {
      this.table = section[1].replace(/``/g, '`');
    } else if (/^-- Dumping (?:routines|events) for database/.test(line)) {
      this.table = undefined;
    }
    if (this.keep()) {
      this.push(Buffer.from(`${line}\n`, 'latin1'));
    }
  }

  public override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const text = this.rest + chunk.toString('latin1');
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) {
      this.line(line);
    }
    callback();
  }

  public override _flush(callback: TransformCallback): void {
    if (this.rest) {
      this.line(this.rest);
    }
    callback();
  }
}
