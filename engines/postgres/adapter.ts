import { writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Client } from 'pg';
import type { Inventory } from '../../contracts/vault';
import { type Connection, requireUsername } from '../connection';
import {
  CONNECT_TIMEOUT_SECONDS,
  type DumpSession,
  type EngineAdapter,
  type RestorePlan,
  type RoleCreation,
  TargetNotEmptyError,
} from '../engine';
import { objectsInTheWay } from '../objects-in-the-way';
import { startTool, toolVersion } from '../tools';
import { quoteIdent, requiredRoles } from './catalog';
import { connect } from './connection';
import { postgresSanityChecks } from './sanity';
import { postgresThrowaway } from './throwaway';
import { listFile, readArchiveToc, selectEntries } from './toc';

/**
 * PostgreSQL: `pg_dump -Fc -Z0` (zstd compresses better and faster than pg_dump's own zlib) on the snapshot
 * of a REPEATABLE READ transaction in which the row counts are taken, so the inventory is exact.
 *
 * Only base tables (partitions included) and populated materialized views are counted. Views and
 * materialized views are listed with a SHA-256 of their definition and never queried: a backup reads data and
 * must not run the application's queries (a view over a slow function made a 0.5 s dump take 5.6 s), and an
 * unpopulated materialized view cannot be read at all ("has not been populated"), which used to abort the
 * exporting transaction and with it the dump. The definition is printed with an empty search_path so that it
 * is fully qualified and reads the same wherever the inventory is taken.
 */
const USER_RELATIONS = `
  SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind, c.relispopulated AS populated,
    CASE WHEN c.relkind IN ('v', 'm') THEN encode(sha256(convert_to(pg_get_viewdef(c.oid), 'UTF8')), 'hex') END AS definition
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
  ORDER BY 1, 2`;

/** libpq's own variables: the password never appears in argv. */
export function toolEnv(connection: Connection): Record<string, string | undefined> {
  return {
    PGPASSWORD: connection.password,
    PGSSLMODE: connection.tls === 'verify-full' ? 'verify-full' : connection.tls,
    PGCONNECT_TIMEOUT: String(CONNECT_TIMEOUT_SECONDS),
    PGAPPNAME: 'strongbox',
  };
}

export function connectionArgs(connection: Connection, database: string): string[] {
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

/**
 * The inventory of the client's current transaction (exact when that holds the dump's snapshot): base tables
 * and populated materialized views counted, views and unpopulated materialized views listed (see USER_RELATIONS).
 */
async function relationInventory(client: Client): Promise<Inventory['entries']> {
  // No parallel workers for the counts: they run beside pg_dump, whose wait is far longer, so workers would only
  // add the source's CPU (on the bench's 1.1M-row table, 80-150 ms of backend CPU with two, 60-70 ms without).
  await client.query("SELECT set_config('search_path', '', true), set_config('max_parallel_workers_per_gather', '0', true)");
  const relations = await client.query<{ schema: string; name: string; kind: string; populated: boolean; definition: string | null }>(
    USER_RELATIONS,
  );
  const entries: Inventory['entries'] = [];
  for (const relation of relations.rows) {
    const name = `${relation.schema}.${relation.name}`;
    const definition = relation.definition ? { definitionSha256: relation.definition } : {};
    if (relation.kind === 'v') {
      entries.push({ name, kind: 'view', ...definition });
      continue;
    }
    if (relation.kind === 'm' && !relation.populated) {
      entries.push({ name, kind: 'matview', populated: false, ...definition });
      continue;
    }
    const counted = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${quoteIdent(relation.schema)}.${quoteIdent(relation.name)}`,
    );
    entries.push(
      relation.kind === 'm'
        ? { name, kind: 'matview', populated: true, count: Number(counted.rows[0].n), ...definition }
        : { name, kind: 'table', count: Number(counted.rows[0].n) },
    );
  }
  return entries;
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
      const entries = await relationInventory(client);
      await client.query('COMMIT');
      return { exact: true, entries };
    } finally {
      await client.end();
    }
  },

  async dump(connection, _options): Promise<DumpSession> {
    const database = connection.database ?? 'postgres';
    // The connection first, then the version while it is made: the manifest needs the version, pg_dump's start
    // does not, and its spawn (2-6 ms of this thread) no longer delays the connection's first packet.
    const connecting = connect(connection, database);
    const toolVersionAsked = toolVersion('pg_dump');
    toolVersionAsked.catch(() => undefined);
    const client = await connecting;
    try {
      // The LSN is the insert position, not pg_current_wal_lsn() (the write position): with synchronous_commit=off a
      // commit is visible before its WAL is written, and recovering to the write position missed it.
      // The transaction stays open until pg_dump exits: pg_dump attaches to the exported snapshot, and the
      // counts are taken in the very same snapshot, so the inventory is exact.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const started = (
        await client.query<{ snapshot: string; version: string; lsn: string; size: string; authid: boolean }>(
          `SELECT pg_export_snapshot() AS snapshot, current_setting('server_version') AS version,
             CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END::text AS lsn,
             pg_database_size(current_database()) AS size,
             has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS authid`,
        )
      ).rows[0];
      const args = ['-Fc', '-Z0', `--snapshot=${started.snapshot}`, ...connectionArgs(connection, database)];
      // The version is awaited before pg_dump starts: the caller hands the tool's stdout to zstd only once dump()
      // returns, and bytes pg_dump wrote while this function still awaited something could be lost (seen with
      // mariadb-dump under load: an empty 13-byte artifact that verified).
      const version = await toolVersionAsked;
      const process = startTool('pg_dump', args, { env: toolEnv(connection) });
      // Counted while pg_dump runs rather than before it starts (a count of every table is seconds on a large
      // database): same transaction, same snapshot, off the critical path. done() waits for both, and the
      // manifest is only built after done(), so `inventory` is never read before the counts are in.
      let entries: Inventory['entries'] | undefined;
      let roles: string[] | undefined;
      const counted = relationInventory(client).then(async (counts) => {
        entries = counts;
        roles = await requiredRoles(client);
      });
      counted.catch(() => undefined);
      // Role passwords live in pg_authid, which only superusers read (not an RDS master user): there the roles
      // are dumped without them, and the manifest says so.
      const passwordsOmitted = !started.authid;
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
        get requires() {
          if (!roles) {
            throw new Error('postgres: the required roles were read before done() resolved; they are read alongside pg_dump');
          }
          return { roles };
        },
        roles: {
          passwordsOmitted,
          start: () =>
            startTool(
              'pg_dumpall',
              [
                '--roles-only',
                ...(passwordsOmitted ? ['--no-role-passwords'] : []),
                ...connectionArgs(connection, database).map((arg) => (arg === '-d' ? '-l' : arg)),
              ],
              { env: toolEnv(connection) },
            ),
        },
        position: { lsn: started.lsn },
        expectedBytes: Number(started.size),
        done: async () => {
          await Promise.all([process.succeeded(), counted]);
        },
        close: async () => {
          // A failed dump does not wait for counts still running (a COMMIT would queue behind them): closing
          // the connection ends the transaction as well.
          if (roles) {
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

  /**
   * Owners and privileges are restored unless `privileges` is "skip". A failed restore leaves the target as it
   * found it: a stream or a selection restores in one transaction; `--jobs` (many sessions, no common
   * transaction) is used only into a database this restore creates, which is dropped again on failure; into an
   * existing database the restore is one transaction instead. The database and any roles to create are made
   * only when the first byte is about to be written (after a file's checksum matched), and undone on failure.
   */
  async restore(connection, options): Promise<RestorePlan> {
    const database = connection.database ?? 'postgres';
    const existed = await checkTargetDatabase(connection, database, options.overwrite);
    // Overwriting replaces the dump's objects that the target already has (dropped first, in the same transaction);
    // objects the dump does not have are left alone. A database created just now has nothing to drop.
    const clean = options.overwrite && existed ? ['--clean', '--if-exists'] : [];
    const privileges = options.privileges === 'skip' ? ['--no-owner', '--no-privileges'] : [];
    const common = [...clean, ...privileges, '--exit-on-error', ...connectionArgs(connection, database)];
    const env = toolEnv(connection);
    const parallel = options.jobs > 1 && options.include.length === 0 && !existed;
    const made = { database: false, roles: [] as string[] };
    const prepare = async () => {
      if (options.createRoles && options.createRoles.roles.length > 0) {
        await createRoles(connection, options.createRoles);
        made.roles = [...options.createRoles.roles];
      }
      if (!existed) {
        await withClient(connection, 'postgres', (admin) => admin.query(`CREATE DATABASE ${quoteIdent(database)}`));
        made.database = true;
      }
    };
    // Nothing to add to the failure message: the transaction rolled back, and this only removes what prepare() made.
    const undo = async (): Promise<undefined> => {
      if (made.database) {
        made.database = false;
        await withClient(connection, 'postgres', (admin) => admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`)).catch(
          (error: Error) =>
            logWarning('the database this restore created could not be dropped after the failure', { database, error: error.message }),
        );
      }
      if (made.roles.length > 0) {
        const roles = made.roles;
        made.roles = [];
        await dropRoles(connection, roles).catch((error: Error) =>
          logWarning('the roles this restore created could not be dropped after the failure', { roles, error: error.message }),
        );
      }
      return undefined;
    };
    if (parallel || options.include.length > 0) {
      // pg_restore --jobs and the TOC selection need a seekable archive: a local file, as large as the
      // uncompressed dump (ephemeral storage is sized for it in the task definition).
      return {
        kind: 'file',
        fromFile: async (path) => {
          const selection = options.include.length > 0 ? ['-L', selectionList(path, options.include)] : [];
          await prepare();
          await startTool(
            'pg_restore',
            [...(parallel ? ['--jobs', String(options.jobs)] : ['--single-transaction']), ...selection, ...common, path],
            {
              env,
            },
          ).succeeded();
        },
        undo,
      };
    }
    // pg_restore takes zstd's stdout as its stdin descriptor the moment consume() runs (a small dump's zstd may
    // have exited, and its pipe closed, by the time anything awaited here finished), so the database and roles
    // are made before the plan is handed over, and undo() removes them.
    try {
      await prepare();
    } catch (error) {
      await undo();
      throw error;
    }
    return {
      kind: 'stream',
      // One transaction: a restore that fails (or is stopped on a checksum mismatch) leaves nothing behind.
      consume: (input: Readable) => startTool('pg_restore', ['--single-transaction', ...common], { env, stdin: input }).succeeded(),
      undo,
    };
  },

  targetHoldsData: (connection, include) => objectsInTheWay(postgres, connection, include),

  drill: {
    throwaway: postgresThrowaway,
    // One database, under any name.
    database: (configured) => configured ?? 'drill',
    // The throwaway server has none of the source's roles: they are created from the backup's stored
    // definitions, so the drill restores owners and privileges exactly as a real restore does. A backup from
    // before roles were recorded cannot say which roles it needs, so it drills without them.
    privileges: (manifest) => (manifest.requires?.roles ? 'restore' : 'skip'),
    sanityChecks: postgresSanityChecks,
  },
};

function logWarning(message: string, fields: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ level: 'WARN', message, ...fields })}\n`);
}

async function withClient<T>(connection: Connection, database: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(connection, database);
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/**
 * Refuses a target database that holds tables or views unless overwriting; returns whether it exists (a missing
 * one is created when the restore starts writing).
 */
async function checkTargetDatabase(connection: Connection, database: string, overwrite: boolean): Promise<boolean> {
  const exists = await withClient(connection, 'postgres', (admin) =>
    admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]),
  );
  if (exists.rowCount === 0) {
    return false;
  }
  if (overwrite) {
    return true;
  }
  const tables = await withClient(connection, database, (target) => target.query(`SELECT count(*)::int AS n FROM (${USER_RELATIONS}) t`));
  if (tables.rows[0].n > 0) {
    throw new TargetNotEmptyError(
      `target database "${database}" on ${connection.host}:${connection.port} already has ${tables.rows[0].n} tables or views; restore into an empty database or set overwrite`,
    );
  }
  return true;
}

/**
 * Writes the `pg_restore -L` list of what restoring `include` needs (see selectEntries: computed from the
 * archive's own dependency lists, not from names) and returns its path. Parts of selected tables that need a
 * table outside the selection, such as a foreign key into it, are left out and named in the log.
 */
export function selectionList(archive: string, include: readonly string[]): string {
  const selection = selectEntries(readArchiveToc(archive), include);
  const listPath = `${archive}.list`;
  writeFileSync(listPath, listFile(selection.entries));
  if (selection.leftOut.length > 0) {
    logWarning('objects that need a table outside the selection are not restored', {
      objects: selection.leftOut.map((e) => `${e.desc} ${e.namespace ? `${e.namespace}.` : ''}${e.tag}`),
    });
  }
  return listPath;
}

// ---- Roles ----------------------------------------------------------------------------------------------

/** Of `roles`, those the server at `connection` does not have (roles are global: any database answers). */
export async function missingRoles(connection: Connection, roles: readonly string[]): Promise<string[]> {
  if (roles.length === 0) {
    return [];
  }
  const ask = (client: Client) => client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [[...roles]]);
  let present: { rows: { rolname: string }[] };
  try {
    present = await withClient(connection, connection.database ?? 'postgres', ask);
  } catch (error) {
    // The target database may not exist yet; the maintenance database answers for the cluster.
    if (!/does not exist/.test(error instanceof Error ? error.message : String(error))) {
      throw error;
    }
    present = await withClient(connection, 'postgres', ask);
  }
  const found = new Set(present.rows.map((row) => row.rolname));
  return roles.filter((role) => !found.has(role)).sort();
}

/** One SQL statement of `pg_dumpall --roles-only` output, split at semicolons outside quotes. */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (const line of sql.split('\n')) {
    if (!quote && (line.startsWith('--') || line.startsWith('\\') || line.trim() === '')) {
      continue;
    }
    for (const char of `${line}\n`) {
      current += char;
      if (quote) {
        if (char === quote) {
          quote = undefined;
        }
      } else if (char === "'" || char === '"') {
        quote = char;
      } else if (char === ';') {
        statements.push(current.trim());
        current = '';
      }
    }
  }
  return statements;
}

const IDENTIFIER = '(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)';

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replace(/""/g, '"') : identifier;
}

/**
 * The statements that create `roles` as `pg_dumpall --roles-only` defined them (attributes, comment, settings,
 * memberships among roles that will exist), without passwords: a restore creates roles for the objects to
 * belong to, and whoever runs the service sets passwords. `existing` are the roles the target already has.
 */
export function roleCreation(rolesSql: string, roles: readonly string[], existing: readonly string[]): RoleCreation {
  const wanted = new Set(roles);
  const available = new Set([...roles, ...existing]);
  const statements: string[] = [];
  const found = new Set<string>();
  const role = new RegExp(`^(CREATE ROLE|ALTER ROLE|COMMENT ON ROLE) (${IDENTIFIER})[ ;]`);
  const membership = new RegExp(`^GRANT (${IDENTIFIER}) TO (${IDENTIFIER})(.*?)(?: GRANTED BY ${IDENTIFIER})?;$`, 's');
  for (const statement of splitStatements(rolesSql)) {
    const named = role.exec(statement);
    if (named && wanted.has(unquote(named[2]))) {
      // Per-database settings name a database the target may not have.
      if (/^ALTER ROLE \S+ IN DATABASE /.test(statement)) {
        continue;
      }
      if (named[1] === 'CREATE ROLE') {
        found.add(unquote(named[2]));
      }
      statements.push(statement.replace(/ PASSWORD '(?:[^']|'')*'/g, ''));
      continue;
    }
    const granted = membership.exec(statement);
    if (granted) {
      const [group, member] = [unquote(granted[1]), unquote(granted[2])];
      if ((wanted.has(group) || wanted.has(member)) && available.has(group) && available.has(member)) {
        statements.push(`GRANT ${granted[1]} TO ${granted[2]}${granted[3]};`);
      }
    }
  }
  const undefinedRoles = roles.filter((r) => !found.has(r));
  if (undefinedRoles.length > 0) {
    throw new RoleDefinitionsError(
      `the backup's stored role definitions do not define ${undefinedRoles.join(', ')}; create ${undefinedRoles.length === 1 ? 'it' : 'them'} on the target by hand, or restore with "privileges": "skip"`,
    );
  }
  return { roles: [...roles], statements };
}

/** The stored role definitions cannot create what a restore needs. */
export class RoleDefinitionsError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'RoleDefinitionsError';
  }
}

async function createRoles(connection: Connection, creation: RoleCreation): Promise<void> {
  await withClient(connection, 'postgres', async (client) => {
    await client.query('BEGIN');
    try {
      for (const statement of creation.statements) {
        await client.query(statement);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new RoleDefinitionsError(
        `creating roles ${creation.roles.join(', ')} from the backup's stored definitions failed: ${(error as Error).message}; create them by hand, or restore with "privileges": "skip"`,
      );
    }
  });
}

async function dropRoles(connection: Connection, roles: readonly string[]): Promise<void> {
  await withClient(connection, 'postgres', async (client) => {
    await client.query('BEGIN');
    for (const role of roles) {
      await client.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
    }
    await client.query('COMMIT');
  });
}
