import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type mysql from 'mysql2/promise';
import type { Inventory, Manifest } from '../../contracts/vault';
import { type Connection, requireUsername } from '../connection';
import {
  type DrillContext,
  type DumpSession,
  type EngineAdapter,
  type LogPosition,
  type RestorePlan,
  TargetNotEmptyError,
} from '../engine';
import { objectsInTheWay } from '../objects-in-the-way';
import { findTool, type RunningTool, startTool, toolVersion } from '../tools';
import { connect, quote } from './connection';
import { startCountingCopy } from './dump-worker';
import { type DumpedTable, DumpParseError } from './insert-counter';
import { mariadbSanityChecks } from './sanity';
import { mariadbThrowaway } from './throwaway';

/**
 * MySQL and MariaDB: the flavour and version decide the dump tool and its flags. A backup's row counts are read
 * from the dump stream itself as it passes to zstd (insert-counter.ts): they are the snapshot that was dumped,
 * so the manifest's inventory is `exact: true`, and counting costs the source nothing. Only base tables are
 * counted: a view is the application's query, which a backup never runs, so it is listed with a hash of its
 * definition. `inventory()` (a restored target, the inventory command) counts a live server with COUNT(*).
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

/** Where Debian's and Alpine's coreutils keep stdbuf's preload library. */
const STDBUF_LIBRARIES = ['/usr/libexec/coreutils/libstdbuf.so', '/usr/lib/coreutils/libstdbuf.so'];

/**
 * The environment that makes the dump tool write its stdout in 64 KiB blocks, as `stdbuf -o64K` does: through
 * stdio it writes 4 KiB blocks (the st_blksize of a pipe), 125,000 writes for 500 MB, each a read for the
 * counting worker that passes the dump on to zstd (dump-worker.ts); 64 KiB blocks, a pipe's capacity, make that
 * 8,000. 1 MiB blocks were slower: the tool then stalls on each write until the copy and zstd took it all.
 * Without coreutils' library the tool runs as it is.
 */
export function largeStdoutBlocks(libraries: readonly string[] = STDBUF_LIBRARIES): Record<string, string> {
  const library = libraries.find((path) => existsSync(path));
  if (!library) {
    return {};
  }
  const preload = process.env.LD_PRELOAD;
  return { LD_PRELOAD: preload ? `${library}:${preload}` : library, _STDBUF_O: String(64 * 1024) };
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

/**
 * A live server's inventory: base tables counted with COUNT(*), views listed (see listViews). For a restored target
 * and the inventory command; a backup's counts come from its dump stream (dumpInventory).
 */
async function countTables(conn: mysql.Connection, databases: readonly string[]): Promise<Inventory['entries']> {
  const entries = await listViews(conn, databases);
  for (const database of databases) {
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? AND table_type <> 'VIEW'",
      [database],
    );
    for (const table of tables) {
      const [counted] = await conn.query<mysql.RowDataPacket[]>(
        `SELECT COUNT(*) AS n FROM ${quote(database)}.${quote(String(table.name))}`,
      );
      entries.push({ name: `${database}.${table.name}`, kind: 'table', count: Number(counted[0].n) });
    }
  }
  return sortedByName(entries);
}

function sortedByName(entries: Inventory['entries']): Inventory['entries'] {
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The views of `databases`, listed by a hash of their definition and never run (a view's query can take longer
 * than the whole dump, and may call anything). The definition reads empty to an account without SHOW VIEW; the
 * view is then compared by name only.
 */
async function listViews(conn: mysql.Connection, databases: readonly string[]): Promise<Inventory['entries']> {
  if (databases.length === 0) {
    return [];
  }
  const [views] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT table_schema AS db, table_name AS name, view_definition AS definition FROM information_schema.views WHERE table_schema IN (?)',
    [databases],
  );
  return views.map((view) => {
    const definition = view.definition ? String(view.definition) : '';
    return {
      name: `${view.db}.${view.name}`,
      kind: 'view' as const,
      ...(definition ? { definitionSha256: viewDefinitionSha256(String(view.db), definition) } : {}),
    };
  });
}

/**
 * The inventory of a dump: its tables with the rows its INSERTs hold (a sequence is one row, as COUNT(*) says),
 * and the catalog's views. `database` names the tables of a single-database dump, which never says USE.
 */
export function dumpInventory(tables: readonly DumpedTable[], views: Inventory['entries'], database?: string): Inventory {
  const entries: Inventory['entries'] = tables.map((table) => ({
    name: `${table.database ?? database ?? ''}.${table.name}`,
    kind: 'table' as const,
    count: table.kind === 'sequence' ? 1 : table.rows,
  }));
  return { exact: true, entries: sortedByName([...entries, ...views]) };
}

/**
 * SHA-256 of a view's definition as information_schema.VIEWS prints it, without the qualifier of the view's own
 * database: the server qualifies every column with it (`shop`.`t`.`id`), and a single-database dump restores
 * under any name, where the same view reads `shop_copy`.`t`.`id`. References to other databases stay.
 */
function viewDefinitionSha256(database: string, definition: string): string {
  return createHash('sha256')
    .update(definition.split(`${quote(database)}.`).join(''))
    .digest('hex');
}

// ---- DEFINER accounts -----------------------------------------------------------------------------------

/**
 * DEFINER accounts as a DEFINER clause names them: `'user'@'host'`, or `'role'` for a MariaDB role (which
 * information_schema prints as `role@`). Quotes inside a name are doubled.
 */
function formatDefiner(definer: string): string {
  const at = definer.lastIndexOf('@');
  const user = at < 0 ? definer : definer.slice(0, at);
  const host = at < 0 ? '' : definer.slice(at + 1);
  const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;
  return host === '' ? literal(user) : `${literal(user)}@${literal(host)}`;
}

/** The user and host of a formatted DEFINER account (`host` absent for a role); undefined when malformed. */
function parseDefiner(account: string): { user: string; host?: string } | undefined {
  const match = /^'((?:[^']|'')*)'(?:@'((?:[^']|'')*)')?$/.exec(account);
  if (!match) {
    return undefined;
  }
  return { user: match[1].replace(/''/g, "'"), ...(match[2] !== undefined ? { host: match[2].replace(/''/g, "'") } : {}) };
}

/** The DEFINER accounts of the views, triggers, routines and events in `databases`, formatted and sorted. */
async function definersOf(conn: mysql.Connection, databases: readonly string[]): Promise<string[]> {
  if (databases.length === 0) {
    return [];
  }
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    `SELECT definer AS d FROM information_schema.views WHERE table_schema IN (?)
     UNION SELECT definer FROM information_schema.triggers WHERE trigger_schema IN (?)
     UNION SELECT definer FROM information_schema.routines WHERE routine_schema IN (?)
     UNION SELECT definer FROM information_schema.events WHERE event_schema IN (?)`,
    [databases, databases, databases, databases],
  );
  const definers = rows.map((row) => String(row.d ?? '')).filter((d) => d !== '');
  return [...new Set(definers.map(formatDefiner))].sort();
}

/** The accounts and roles the server has, formatted like formatDefiner. */
async function accountsOf(conn: mysql.Connection, connection: Connection): Promise<Set<string>> {
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT User AS u, Host AS h FROM mysql.user');
    return new Set(rows.map((row) => formatDefiner(`${row.u}@${row.h}`)));
  } catch (error) {
    throw new Error(
      `cannot list the accounts on ${connection.host}:${connection.port} to check DEFINER accounts: ${(error as Error).message}; grant ${connection.username ?? 'the restore user'} SELECT ON mysql.user`,
    );
  }
}

/** Of the DEFINER accounts `definers`, those the server at `connection` does not have. */
export async function missingDefiners(connection: Connection, definers: readonly string[]): Promise<string[]> {
  if (definers.length === 0) {
    return [];
  }
  const conn = await connect(connection);
  try {
    const present = await accountsOf(conn, connection);
    return definers.filter((definer) => !present.has(definer));
  } finally {
    await conn.end();
  }
}

/**
 * Throwaway servers only (drills): creates the DEFINER accounts the restored objects run as and the server lacks,
 * with what views, triggers and routines typically need and nothing more: SELECT, INSERT, UPDATE, DELETE, EXECUTE
 * and TRIGGER on `databases`, no global privilege, no password and ACCOUNT LOCK (nobody logs in as them; a
 * locked account still works as a definer). Before the restore: a view that calls a routine cannot even be
 * created while the routine's definer is missing. Returns the accounts it created.
 */
export async function createDefinerAccounts(
  connection: Connection,
  databases: readonly string[],
  definers: readonly string[],
): Promise<string[]> {
  if (definers.length === 0) {
    return [];
  }
  const conn = await connect(connection);
  try {
    const present = await accountsOf(conn, connection);
    const created: string[] = [];
    for (const definer of definers.filter((d) => !present.has(d))) {
      const account = parseDefiner(definer);
      if (!account) {
        throw new Error(`DEFINER account ${definer}: expected 'user'@'host' or 'role'`);
      }
      const grantee = account.host === undefined ? quoteString(account.user) : `${quoteString(account.user)}@${quoteString(account.host)}`;
      await conn.query(account.host === undefined ? `CREATE ROLE ${grantee}` : `CREATE USER ${grantee} ACCOUNT LOCK`);
      for (const database of databases) {
        await conn.query(`GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE, TRIGGER ON ${quote(database)}.* TO ${grantee}`);
      }
      created.push(definer);
    }
    return created;
  } finally {
    await conn.end();
  }
}

function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * Collects the DEFINER accounts a dump's statements name (`DEFINER=\`user\`@\`host\``, or `DEFINER=\`role\``),
 * formatted like formatDefiner: for backups whose manifest predates `requires.definers`.
 */
export class DumpDefiners extends Writable {
  private static readonly MARKER = Buffer.from('DEFINER=`');
  /** Longer than any DEFINER clause (user names up to 128 characters, host names up to 255). */
  private static readonly SEAM = 1024;
  public readonly found = new Set<string>();
  private carry: Buffer = Buffer.alloc(0);

  public override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // A clause near the end of what is at hand may continue in the next chunk: it is read once the seam holds it.
    this.scan(Buffer.concat([this.carry, chunk.subarray(0, DumpDefiners.SEAM)]), false);
    this.scan(chunk, false);
    this.carry = Buffer.concat([this.carry, chunk]).subarray(-2 * DumpDefiners.SEAM);
    callback();
  }

  public override _final(callback: (error?: Error | null) => void): void {
    this.scan(this.carry, true);
    callback();
  }

  private scan(buffer: Buffer, complete: boolean): void {
    const last = complete ? buffer.length : buffer.length - DumpDefiners.SEAM;
    let at = buffer.indexOf(DumpDefiners.MARKER);
    while (at >= 0 && at < last) {
      const clause = /^DEFINER=`((?:[^`]|``)+)`(?:@`((?:[^`]|``)*)`)?/.exec(
        buffer.toString('utf8', at, Math.min(buffer.length, at + DumpDefiners.SEAM)),
      );
      if (clause) {
        const user = clause[1].replace(/``/g, '`');
        this.found.add(formatDefiner(clause[2] === undefined ? user : `${user}@${clause[2].replace(/``/g, '`')}`));
      }
      at = buffer.indexOf(DumpDefiners.MARKER, at + 1);
    }
  }

  /** The accounts found, sorted. */
  public definers(): string[] {
    return [...this.found].sort();
  }
}

/**
 * The DEFINER accounts a MySQL dump names, for manifests written before `requires.definers`: one extra read of
 * the artifact, before the restore is timed (the restore itself needs them: a view calling a routine cannot be
 * created while the routine's definer is missing).
 */
async function definersInDump(context: DrillContext): Promise<string[]> {
  const found = new DumpDefiners();
  await context.readArtifact(found);
  return found.definers();
}

/**
 * The databases a dump restores into by their own names: those after `--databases` in the recorded argv (the
 * adapter's own), else the databases of the inventory's entries.
 */
export function dumpedDatabases(manifest: Pick<Manifest, 'tool' | 'inventory'>): string[] {
  const at = manifest.tool.args.indexOf('--databases');
  if (at >= 0) {
    return manifest.tool.args.slice(at + 1);
  }
  return [...new Set(manifest.inventory.entries.map((e) => e.name.split('.')[0]))];
}

// ---- Failed restores ------------------------------------------------------------------------------------

interface ObjectCount {
  readonly tables: number;
  readonly routines: number;
  readonly events: number;
}

const total = (count: ObjectCount) => count.tables + count.routines + count.events;

function describeCount(count: ObjectCount): string {
  const parts = [
    [count.tables, 'table'],
    [count.routines, 'routine'],
    [count.events, 'event'],
  ] as const;
  const said = parts.filter(([n]) => n > 0).map(([n, noun]) => `${n} ${noun}${n === 1 ? '' : 's'}`);
  return said.length > 0 ? said.join(', ') : 'nothing';
}

/** What each of `databases` holds; databases that do not exist are absent from the map. */
async function objectCounts(conn: mysql.Connection, databases: readonly string[]): Promise<Map<string, ObjectCount>> {
  const counts = new Map<string, ObjectCount>();
  if (databases.length === 0) {
    return counts;
  }
  const [existing] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT schema_name AS s FROM information_schema.schemata WHERE schema_name IN (?)',
    [databases],
  );
  for (const database of existing.map((row) => String(row.s))) {
    const one = async (sql: string) => Number((await conn.query<mysql.RowDataPacket[]>(sql, [database]))[0][0].n);
    counts.set(database, {
      tables: await one('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ?'),
      routines: await one('SELECT COUNT(*) AS n FROM information_schema.routines WHERE routine_schema = ?'),
      events: await one('SELECT COUNT(*) AS n FROM information_schema.events WHERE event_schema = ?'),
    });
  }
  return counts;
}

/** Drops every view, table, sequence, routine and event of `database`, leaving the database and its settings. */
async function dropObjects(conn: mysql.Connection, database: string): Promise<void> {
  const db = quote(database);
  const [tables] = await conn.query<mysql.RowDataPacket[]>(
    "SELECT table_name AS name, table_type AS type FROM information_schema.tables WHERE table_schema = ? ORDER BY table_type = 'VIEW' DESC",
    [database],
  );
  for (const { name, type } of tables) {
    const what = type === 'VIEW' ? 'VIEW' : type === 'SEQUENCE' ? 'SEQUENCE' : 'TABLE';
    await conn.query(`DROP ${what} IF EXISTS ${db}.${quote(String(name))}`);
  }
  const [routines] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT routine_name AS name, routine_type AS type FROM information_schema.routines WHERE routine_schema = ?',
    [database],
  );
  for (const { name, type } of routines) {
    await conn.query(`DROP ${type === 'FUNCTION' ? 'FUNCTION' : 'PROCEDURE'} IF EXISTS ${db}.${quote(String(name))}`);
  }
  const [events] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT event_name AS name FROM information_schema.events WHERE event_schema = ?',
    [database],
  );
  for (const { name } of events) {
    await conn.query(`DROP EVENT IF EXISTS ${db}.${quote(String(name))}`);
  }
}

/**
 * Takes back a failed restore where MySQL cannot roll it back (every statement of a dump that creates or drops
 * something commits at once): a database the restore created is dropped, and an existing database that held
 * nothing loses what the restore wrote into it. A database that held objects before (overwrite) cannot be put
 * back; the sentence returned says so, for the failure message.
 */
async function undoRestore(
  connection: Connection,
  before: ReadonlyMap<string, ObjectCount>,
  written: readonly string[],
): Promise<string | undefined> {
  const conn = await connect(connection);
  try {
    await conn.query('SET SESSION foreign_key_checks = 0');
    const now = await objectCounts(conn, written);
    const notes: string[] = [];
    for (const [database, held] of now) {
      const previously = before.get(database);
      if (previously === undefined) {
        await conn.query(`DROP DATABASE ${quote(database)}`);
        notes.push(
          `dropped database ${quote(database)}, which this restore had created (it held ${describeCount(held)} when the restore failed)`,
        );
      } else if (total(previously) === 0) {
        await dropObjects(conn, database);
        notes.push(`removed what this restore had written into the existing empty database ${quote(database)} (${describeCount(held)})`);
      } else {
        const n = total(previously);
        notes.push(
          `database ${quote(database)} held ${n} object${n === 1 ? '' : 's'} before the restore and may now hold a partial restore: MySQL commits each statement of a dump at once, so it cannot be put back; restore it again, or from another backup`,
        );
      }
    }
    return notes.length > 0 ? notes.join('; ') : undefined;
  } finally {
    await conn.end();
  }
}

/**
 * Notes the databases a dump creates (CREATE DATABASE ... `name`) as the stream passes, unchanged, to the
 * client: a multi-database restore takes back only databases its own dump created. mariadb-dump escapes newlines
 * inside values, so a line that starts with CREATE DATABASE is a statement.
 */
class CreatedDatabases extends Transform {
  private static readonly MARKER = Buffer.from('\nCREATE DATABASE ');
  /** Longer than any CREATE DATABASE line (a 64-character name and its character set). */
  private static readonly SEAM = 1024;
  private carry: Buffer = Buffer.alloc(0);

  public constructor(private readonly found: Set<string>) {
    super();
  }

  public override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // A statement split between two chunks is whole in the seam; any other is whole in the chunk itself.
    this.scan(Buffer.concat([this.carry, chunk.subarray(0, CreatedDatabases.SEAM)]));
    this.scan(chunk);
    this.carry =
      chunk.length >= CreatedDatabases.SEAM
        ? chunk.subarray(chunk.length - CreatedDatabases.SEAM)
        : Buffer.concat([this.carry, chunk]).subarray(-CreatedDatabases.SEAM);
    callback(null, chunk);
  }

  private scan(buffer: Buffer): void {
    let at = buffer.indexOf(CreatedDatabases.MARKER);
    while (at >= 0) {
      const end = buffer.indexOf(0x0a, at + 1);
      if (end < 0) {
        return;
      }
      const name = /`((?:[^`]|``)+)`/.exec(buffer.toString('utf8', at + 1, end));
      if (name) {
        this.found.add(name[1].replace(/``/g, '`'));
      }
      at = buffer.indexOf(CreatedDatabases.MARKER, end);
    }
  }
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
    // The rows are counted on the way from the tool to zstd, in a worker thread (see dump-worker.ts).
    const copy = startCountingCopy(connection.database);
    let conn: mysql.Connection;
    try {
      conn = await connect(connection);
    } catch (error) {
      copy.abandon();
      throw error;
    }
    let options: { path: string; remove(): void } | undefined;
    try {
      const info = await serverInfo(conn);
      const tool = dumpTool(info.flavour);
      const databases = connection.database ? [connection.database] : await userDatabases(conn);
      const [sizes] = await conn.query<mysql.RowDataPacket[]>(
        'SELECT COALESCE(SUM(data_length + index_length), 0) AS size FROM information_schema.tables WHERE table_schema NOT IN (?)',
        [SYSTEM_DATABASES],
      );
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
      let process: RunningTool;
      try {
        process = startTool(tool, [`--defaults-extra-file=${options.path}`, ...shownArgs.slice(1)], {
          env: largeStdoutBlocks(),
          stdout: copy.toolStdout,
        });
      } finally {
        copy.closeToolStdout();
      }
      // Asked once the tool and zstd run (setImmediate comes after the caller's synchronous start of zstd; a spawn
      // is 2-6 ms of this thread): only the manifest needs it, after done(). The tool's stdout is the worker's
      // pipe from its spawn, so nothing it writes meanwhile can be lost (with a stdout pipe handed over only after
      // dump() returned, bytes written while dump() still awaited the version were).
      const versionAsked = new Promise<string>((resolve, reject) => setImmediate(() => toolVersion(tool).then(resolve, reject)));
      versionAsked.catch(() => undefined);
      // Read from the catalog while the dump runs: what a restore target must have, checked before anything is
      // written there, and the views, which are listed, never run. Outside the dump's snapshot either way, so
      // they are no less consistent than read before the tool started, and a large catalog no longer delays it.
      // The rows are counted from the dump stream, so this connection has nothing else to do.
      let catalogSettled = false;
      const catalogRead = (async () => {
        const read = { definers: await definersOf(conn, databases), views: await listViews(conn, databases) };
        await conn.end();
        return read;
      })().finally(() => {
        catalogSettled = true;
      });
      catalogRead.catch(() => undefined);
      const file = options;
      let inventory: Inventory | undefined;
      let position: LogPosition | undefined;
      let version: string | undefined;
      let definers: string[] | undefined;
      const known = <T>(value: T | undefined, what: string): T => {
        if (value === undefined) {
          throw new Error(`mysql: the ${what} was read before done() resolved; it is known once the dump has passed`);
        }
        return value;
      };
      return {
        format: 'sql',
        serverVersion: info.version,
        tool: {
          name: tool,
          get version(): string {
            return known(version, 'tool version');
          },
          args: shownArgs,
        },
        // Every byte passes the counter on its way to zstd (see dump-worker.ts).
        output: { kind: 'tool', process, stdout: copy.takeZstdStdin() },
        // Read for the manifest, which is built only after done() resolved.
        get inventory(): Inventory {
          return known(inventory, 'inventory');
        },
        get requires() {
          return { definers: known(definers, 'list of DEFINER accounts') };
        },
        expectedBytes: Number(sizes[0].size),
        // Read for the manifest, after done(): the whole stream has passed, so a GTID comment printed past the head has been seen.
        get position(): LogPosition | undefined {
          return position;
        },
        done: async () => {
          // The worker reports once the tool's output ended, so the counter has seen every byte by then.
          const [result, , catalog, asked] = await Promise.all([copy.result, process.succeeded(), catalogRead, versionAsked]);
          if (!result.ok) {
            throw result.parse
              ? new DumpParseError(result.message)
              : new Error(`mysql: passing the ${tool} output to zstd failed: ${result.message}`);
          }
          if (result.bytes === 0) {
            throw new Error(`mysql: ${tool} exited 0 but wrote nothing; a dump always begins with its header`);
          }
          const coordinates = positionFromDumpHead(result.head);
          position = coordinates && !coordinates.gtid && result.gtid ? { ...coordinates, gtid: result.gtid } : coordinates;
          inventory = dumpInventory(result.tables, catalog.views, connection.database);
          definers = catalog.definers;
          version = asked;
        },
        close: async () => {
          file.remove();
          // A failed backup stopped the tool and zstd first, so a worker still copying sees its pipes end.
          copy.stop();
          // A failed backup does not wait for catalog queries still running.
          if (!catalogSettled) {
            conn.destroy();
          }
        },
      };
    } catch (error) {
      options?.remove();
      copy.abandon();
      await conn.end().catch(() => undefined);
      throw error;
    }
  },

  async restore(connection, restoreOptions): Promise<RestorePlan> {
    const conn = await connect(connection);
    let info: ServerInfo;
    let before: Map<string, ObjectCount>;
    try {
      info = await serverInfo(conn);
      await checkTarget(conn, connection, restoreOptions.overwrite);
      before = await objectCounts(conn, connection.database ? [connection.database] : await userDatabases(conn));
      if (connection.database) {
        await conn.query(`CREATE DATABASE IF NOT EXISTS ${quote(connection.database)}`);
      }
    } finally {
      await conn.end();
    }
    const tool = clientTool(info.flavour);
    // The databases this restore writes into: the target database, or those the dump's CREATE DATABASE names.
    const written = new Set<string>(connection.database ? [connection.database] : []);
    return {
      kind: 'stream',
      // Synchronous up to the client's start: zstd's stdout fd is handed over before Node reads from it.
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
          const stages: Transform[] = [
            ...(restoreOptions.include.length > 0 ? [new SqlSelection(restoreOptions.include, connection.database)] : []),
            ...(connection.database ? [] : [new CreatedDatabases(written)]),
          ];
          if (stages.length === 0) {
            // zstd's stdout becomes the client's stdin: no byte passes through Node.
            await startTool(tool, args, { stdin: input }).succeeded();
            return;
          }
          const client = startTool(tool, args, { stdin: 'pipe' });
          // The client's exit is the verdict; a pipe broken by a client that died is its consequence.
          pipeline(input, ...(stages as [Transform]), client.child.stdin as NodeJS.WritableStream).catch(() => undefined);
          await client.succeeded();
        } finally {
          file.remove();
        }
      },
      undo: async () => undoRestore(connection, before, [...written]),
    };
  },

  targetHoldsData: (connection, include) => objectsInTheWay(mysqlAdapter, connection, include),

  drill: {
    throwaway: mariadbThrowaway,
    // Under the dumped name, or under their own names when several databases were dumped.
    database: (configured) => configured,
    privileges: () => 'restore',
    async prepare(target, context) {
      // The objects run as their DEFINER accounts, as in production: the throwaway server gets them first.
      const definers = context.manifest.requires?.definers ?? (await definersInDump(context));
      const created = await createDefinerAccounts(
        target,
        context.database ? [context.database] : dumpedDatabases(context.manifest),
        definers,
      );
      if (created.length > 0) {
        context.log('info', 'drill: created the DEFINER accounts in the throwaway server', { accounts: created });
      }
    },
    sanityChecks: (connection, inventory) => mariadbSanityChecks(connection, inventory),
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
 * and the view and sequence markers open a table's section (its triggers follow its data). Lines outside any
 * section (session settings, routines, which triggers and views may call) are kept for selected databases; a
 * database's events only when the whole database is selected: a scheduled job would start running on the target
 * against tables that were not restored. Works line by line, so memory is bounded by
 * the longest line (one extended INSERT, at most the dump's net buffer length).
 */
export class SqlSelection extends Transform {
  private database: string | undefined;
  private table: string | undefined;
  /** Inside a database's events, which only a whole-database selection restores. */
  private events = false;
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
    if (!tables || this.events) {
      return false;
    }
    return this.table === undefined || tables.has(this.table);
  }

  private line(line: string): void {
    const use = /^USE `((?:[^`]|``)+)`;/.exec(line);
    if (use) {
      this.database = use[1].replace(/``/g, '`');
      this.table = undefined;
      this.events = false;
    }
    const create = /^CREATE DATABASE .*`((?:[^`]|``)+)`/.exec(line);
    if (create) {
      this.database = create[1].replace(/``/g, '`');
      this.table = undefined;
      this.events = false;
    }
    const section =
      /^-- (?:Table structure for table|Dumping data for table|Temporary table structure for view|Final view structure for view|Sequence structure for) `((?:[^`]|``)+)`/.exec(
        line,
      );
    if (section) {
      this.table = section[1].replace(/``/g, '`');
      this.events = false;
    } else if (/^-- Dumping (?:routines|events) for database/.test(line)) {
      this.table = undefined;
      this.events = line.startsWith('-- Dumping events');
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
