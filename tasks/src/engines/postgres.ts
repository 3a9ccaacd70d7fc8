import { writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { Client, type ClientConfig } from 'pg';
import type { Inventory } from '../../../lambdas/shared/catalog';
import { type Connection, requireUsername } from '../credentials';
import { runTool, startTool, toolVersion } from '../tools';
import {
  CONNECT_TIMEOUT_SECONDS,
  connectError,
  type DumpSession,
  type EngineAdapter,
  type RestorePlan,
  TargetNotEmptyError,
} from './engine';

/**
 * PostgreSQL: `pg_dump -Fc -Z0` (zstd compresses better and faster than pg_dump's own zlib) on the snapshot
 * of a REPEATABLE READ transaction in which the row counts are taken, so the inventory is exact.
 */
const USER_TABLES = `
  SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
  ORDER BY 1, 2`;

function clientConfig(connection: Connection, database = connection.database ?? 'postgres'): ClientConfig {
  return {
    host: connection.host,
    port: connection.port,
    user: connection.username,
    password: connection.password,
    database,
    connectionTimeoutMillis: CONNECT_TIMEOUT_SECONDS * 1000,
    ssl: connection.tls === 'disable' ? false : { rejectUnauthorized: connection.tls === 'verify-full' },
    application_name: 'strongbox',
  };
}

async function connect(connection: Connection, database?: string): Promise<Client> {
  requireUsername(connection, 'postgres');
  const client = new Client(clientConfig(connection, database));
  // An error event after connect (server gone) must not crash the task; the pending query rejects instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw connectError('postgres', connection, error);
  }
  return client;
}

/** libpq's own variables: the password never appears in argv. */
function toolEnv(connection: Connection): Record<string, string | undefined> {
  return {
    PGPASSWORD: connection.password,
    PGSSLMODE: connection.tls === 'verify-full' ? 'verify-full' : connection.tls,
    PGCONNECT_TIMEOUT: String(CONNECT_TIMEOUT_SECONDS),
    PGAPPNAME: 'strongbox',
  };
}

function connectionArgs(connection: Connection, database: string): string[] {
  return [
    '-h',
    connection.host,
    '-p',
    String(connection.port),
    '-U',
    requireUsername(connection, 'postgres'),
    '-d',
    database,
    '--no-password',
  ];
}

/** Counts every table and view in the client's current transaction (exact when that holds the dump's snapshot). */
async function countRelations(client: Client): Promise<Inventory['entries']> {
  const relations = await client.query<{ schema: string; name: string; kind: string }>(USER_TABLES);
  const entries: Inventory['entries'] = [];
  for (const relation of relations.rows) {
    const counted = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${quoteIdent(relation.schema)}.${quoteIdent(relation.name)}`,
    );
    entries.push({
      name: `${relation.schema}.${relation.name}`,
      kind: relation.kind === 'r' ? 'table' : 'view',
      count: Number(counted.rows[0].n),
    });
  }
  return entries;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export async function pgServerVersion(client: Client): Promise<string> {
  const out = await client.query<{ server_version: string }>('SHOW server_version');
  return out.rows[0].server_version;
}

export const postgres: EngineAdapter = {
  name: 'postgres',

  async serverVersion(connection) {
    const client = await connect(connection);
    try {
      return await pgServerVersion(client);
    } finally {
      await client.end();
    }
  },

  async inventory(connection) {
    const client = await connect(connection);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const entries = await countRelations(client);
      await client.query('COMMIT');
      return { exact: true, entries };
    } finally {
      await client.end();
    }
  },

  async dump(connection, _options): Promise<DumpSession> {
    const database = connection.database ?? 'postgres';
    // Asked while connecting: the manifest needs it, pg_dump's start does not.
    const toolVersionAsked = toolVersion('pg_dump');
    toolVersionAsked.catch(() => undefined);
    const client = await connect(connection, database);
    try {
      // The transaction stays open until pg_dump exits: pg_dump attaches to the exported snapshot, and the
      // counts are taken in the very same snapshot, so the inventory is exact.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const started = (
        await client.query<{ snapshot: string; version: string; lsn: string; size: string }>(
          `SELECT pg_export_snapshot() AS snapshot, current_setting('server_version') AS version,
             CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text AS lsn,
             pg_database_size(current_database()) AS size`,
        )
      ).rows[0];
      const args = ['-Fc', '-Z0', `--snapshot=${started.snapshot}`, ...connectionArgs(connection, database)];
      const process = startTool('pg_dump', args, { env: toolEnv(connection) });
      // Counted while pg_dump runs rather than before it starts (a count of every table is seconds on a large
      // database): same transaction, same snapshot, off the critical path. done() waits for both, and the
      // manifest is only built after done(), so `inventory` is never read before the counts are in.
      let entries: Inventory['entries'] | undefined;
      const counted = countRelations(client).then((counts) => {
        entries = counts;
      });
      counted.catch(() => undefined);
      const version = await toolVersionAsked.catch((error: Error) => {
        process.child.kill('SIGTERM');
        throw error;
      });
      return {
        format: 'pgdump',
        serverVersion: started.version,
        tool: { name: 'pg_dump', version, args },
        output: { kind: 'tool', process },
        get inventory(): Inventory {
          if (!entries) {
            throw new Error('postgres: the inventory was read before done() resolved; the counts run alongside pg_dump');
          }
          return { exact: true, entries };
        },
        position: { lsn: started.lsn },
        expectedBytes: Number(started.size),
        done: async () => {
          await Promise.all([process.succeeded(), counted]);
        },
        close: async () => {
          // A failed dump does not wait for counts still running (a COMMIT would queue behind them): closing
          // the connection ends the transaction as well.
          if (entries) {
            await client.query('COMMIT').catch(() => undefined);
          }
          await client.end().catch(() => undefined);
        },
      };
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  },

  async restore(connection, options): Promise<RestorePlan> {
    const database = connection.database ?? 'postgres';
    const existed = await ensureEmptyDatabase(connection, database, options.overwrite);
    // Overwriting replaces the dump's objects that the target already has (dropped first, in the same transaction
    // where there is one); objects the dump does not have are left alone. A database created just now has
    // nothing to drop.
    const clean = options.overwrite && existed ? ['--clean', '--if-exists'] : [];
    const common = [...clean, '--no-owner', '--no-privileges', '--exit-on-error', ...connectionArgs(connection, database)];
    const env = toolEnv(connection);
    if (options.jobs > 1 || options.include.length > 0) {
      // pg_restore --jobs and the TOC filtering need a seekable archive: a local file, as large as the
      // uncompressed dump (ephemeral storage is sized for it in the task definition).
      return {
        kind: 'file',
        fromFile: async (path) => {
          const selection = options.include.length > 0 ? ['-L', await selectionList(path, options.include)] : [];
          const jobs = options.jobs > 1 ? ['--jobs', String(options.jobs)] : ['--single-transaction'];
          await startTool('pg_restore', [...jobs, ...selection, ...common, path], { env }).succeeded();
        },
      };
    }
    return {
      kind: 'stream',
      // One transaction: a restore that fails (or is stopped on a checksum mismatch) leaves nothing behind.
      consume: (input: Readable) => startTool('pg_restore', ['--single-transaction', ...common], { env, stdin: input }).succeeded(),
    };
  },
};

/**
 * Creates the target database when missing; refuses a target that holds tables unless overwriting. Returns
 * whether the database existed before.
 */
async function ensureEmptyDatabase(connection: Connection, database: string, overwrite: boolean): Promise<boolean> {
  const admin = await connect(connection, 'postgres');
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${quoteIdent(database)}`);
      return false;
    }
  } finally {
    await admin.end();
  }
  if (overwrite) {
    return true;
  }
  const target = await connect(connection, database);
  try {
    const tables = await target.query(`SELECT count(*)::int AS n FROM (${USER_TABLES}) t`);
    if (tables.rows[0].n > 0) {
      throw new TargetNotEmptyError(
        `target database "${database}" on ${connection.host}:${connection.port} already has ${tables.rows[0].n} tables or views; restore into an empty database or set overwrite`,
      );
    }
  } finally {
    await target.end();
  }
  return true;
}

/**
 * pg_restore's -n and -t combine with AND, so ["public.orders", "sales"] cannot be expressed with them; the
 * archive's table of contents is filtered instead. A schema name keeps everything in that schema; a
 * `schema.table` keeps the table, its data, sequences named after it, its constraints and triggers, and the
 * schema itself. Indexes are listed without their table, so they come along only with a whole schema.
 */
export async function selectionList(archive: string, include: readonly string[]): Promise<string> {
  const toc = await runTool('pg_restore', ['-l', archive]);
  const listPath = `${archive}.list`;
  const selected = filterToc(toc, include);
  // A foreign key into a table left out cannot be created (the whole restore would fail on it), so such keys
  // are left out too and named in the log. The TOC does not say what a key references; its DDL does.
  const foreignKeys = selected.split('\n').filter((line) => parseTocLine(line)?.type === 'FK CONSTRAINT');
  let dropped: string[] = [];
  if (foreignKeys.length > 0) {
    writeFileSync(listPath, `${foreignKeys.join('\n')}\n`);
    const references = foreignKeyReferences(await runTool('pg_restore', ['-f', '-', '-L', listPath, archive]));
    dropped = foreignKeys.filter((line) => {
      const referenced = references.get(parseTocLine(line)!.name[1] ?? '');
      return referenced !== undefined && !isSelected(referenced, include);
    });
  }
  writeFileSync(
    listPath,
    selected
      .split('\n')
      .filter((line) => !dropped.includes(line))
      .join('\n'),
  );
  if (dropped.length > 0) {
    process.stderr.write(
      `${JSON.stringify({ level: 'WARN', message: 'foreign keys into tables outside the selection are not restored', constraints: dropped.map((line) => parseTocLine(line)!.name.join(' ')) })}\n`,
    );
  }
  return listPath;
}

/** `ALTER TABLE ONLY s.t ADD CONSTRAINT c FOREIGN KEY (x) REFERENCES s2.t2(id);` -> c -> "s2.t2". */
export function foreignKeyReferences(ddl: string): Map<string, string> {
  const unquote = (identifier: string) => identifier.replace(/"/g, '');
  const found = new Map<string, string>();
  for (const match of ddl.matchAll(
    /ADD CONSTRAINT ("[^"]+"|\S+) FOREIGN KEY [\s\S]*?REFERENCES ((?:"[^"]+"|[^\s(".]+)\.(?:"[^"]+"|[^\s(".]+))\(/g,
  )) {
    found.set(unquote(match[1]), unquote(match[2]));
  }
  return found;
}

function isSelected(table: string, include: readonly string[]): boolean {
  const [schema] = table.split('.', 1);
  return include.includes(schema) || include.includes(table);
}

const MULTI_WORD_TYPES = [
  'MATERIALIZED VIEW DATA',
  'SEQUENCE OWNED BY',
  'MATERIALIZED VIEW',
  'SEQUENCE SET',
  'FK CONSTRAINT',
  'TABLE DATA',
  'TABLE ATTACH',
  'INDEX ATTACH',
  'DEFAULT ACL',
];

/** `3375; 0 16390 TABLE DATA public orders postgres` -> { type, schema, name: ['orders'] }. */
export function parseTocLine(line: string): { type: string; schema: string; name: string[] } | undefined {
  const match = /^\d+; \d+ \d+ (.+)$/.exec(line);
  if (!match) {
    return undefined;
  }
  const rest = match[1];
  const type = MULTI_WORD_TYPES.find((t) => rest.startsWith(`${t} `)) ?? rest.split(' ')[0];
  const tokens = rest.slice(type.length + 1).split(' ');
  if (tokens.length < 3) {
    return undefined;
  }
  return { type, schema: tokens[0], name: tokens.slice(1, -1) };
}

export function filterToc(toc: string, include: readonly string[]): string {
  const schemas = new Set(include.filter((name) => !name.includes('.')));
  const tables = include.filter((name) => name.includes('.')).map((name) => name.split('.', 2) as [string, string]);
  const tableSchemas = new Set(tables.map(([schema]) => schema));
  const kept = toc.split('\n').filter((line) => {
    const entry = parseTocLine(line);
    if (!entry) {
      return false;
    }
    const first = entry.name[0] ?? '';
    if (entry.type === 'SCHEMA') {
      return schemas.has(first) || tableSchemas.has(first);
    }
    if (schemas.has(entry.schema)) {
      return true;
    }
    return tables.some(([schema, table]) => schema === entry.schema && (first === table || first.startsWith(`${table}_`)));
  });
  return `${kept.join('\n')}\n`;
}
