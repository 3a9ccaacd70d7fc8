import type { DrillRecord, Inventory } from '../contracts/vault';
import type { Connection } from './connection';
import { requiredRoles } from './postgres/adapter';
import { connectRedis } from './redis/adapter';

type Check = DrillRecord['checks'][number];

/**
 * The engine's own idea of "healthy", beyond row counts:
 *   PostgreSQL: every table and materialized view is readable to its last page (a sequential scan of every
 *               relation), and no index was left invalid by the restore.
 *   MariaDB:    CHECK TABLE on every table answers OK; every view answers SELECT ... LIMIT 0; every routine,
 *               trigger and event has its DEFINER account, and every routine's stored body loads.
 *   Redis:      every keyspace answers SCAN, and a sample of keys each DUMP (the serialized value is readable).
 */
export async function sanityChecks(
  engine: string,
  connection: Connection,
  inventory: Inventory,
  /** PostgreSQL: the roles the backup's owners, grants and policies named (manifest.requires.roles). */
  requiredRoles?: readonly string[],
): Promise<Check[]> {
  try {
    if (engine === 'postgres') {
      return await postgresChecks(connection, inventory, requiredRoles);
    }
    if (engine === 'mariadb' || engine === 'mysql') {
      return await mariadbChecks(connection, inventory);
    }
    return await redisChecks(connection, inventory);
  } catch (error) {
    return [{ name: 'sanity', passed: false, detail: error instanceof Error ? error.message : String(error) }];
  }
}

async function postgresChecks(connection: Connection, inventory: Inventory, expectedRoles?: readonly string[]): Promise<Check[]> {
  const { Client } = await import('pg');
  const client = new Client({
    host: connection.host,
    port: connection.port,
    user: connection.username,
    password: connection.password,
    database: connection.database,
  });
  await client.connect();
  try {
    const unreadable: string[] = [];
    // Stored rows only: tables and populated materialized views. Views are never run (their queries are the
    // application's, and may be slow or fail); they were compared by definition.
    const stored = inventory.entries.filter((e) => e.kind === 'table' || (e.kind === 'matview' && e.populated !== false));
    for (const entry of stored) {
      const [schema, ...rest] = entry.name.split('.');
      const ident = `${quote(schema)}.${quote(rest.join('.'))}`;
      try {
        // Reads every column of every row: toasted values are detoasted, a broken page errors.
        await client.query(`SELECT sum(length(t::text)) FROM ${ident} t`);
      } catch (error) {
        unreadable.push(`${entry.name} (${(error as Error).message})`);
      }
    }
    const invalid = await client.query<{ name: string }>(
      "SELECT n.nspname || '.' || c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid",
    );
    return [
      {
        name: 'postgres: every table readable',
        passed: unreadable.length === 0,
        detail: unreadable.length ? unreadable.join('; ') : `${stored.length} relations read in full`,
      },
      {
        name: 'postgres: no invalid index',
        passed: invalid.rowCount === 0,
        ...(invalid.rowCount ? { detail: invalid.rows.map((r) => r.name).join(', ') } : {}),
      },
      ...(expectedRoles ? [await privilegesCheck(client, expectedRoles)] : []),
    ];
  } finally {
    await client.end();
  }
}

/**
 * Owners and privileges came back: the roles the restored objects name as owners, grantees and policy roles
 * are exactly the ones the backup's objects named. A restore that dropped grants or owners names fewer.
 */
async function privilegesCheck(client: import('pg').Client, expected: readonly string[]): Promise<Check> {
  const named = await requiredRoles(client);
  const missing = expected.filter((role) => !named.includes(role));
  const extra = named.filter((role) => !expected.includes(role));
  return {
    name: 'postgres: owners and privileges restored',
    passed: missing.length === 0 && extra.length === 0,
    detail:
      missing.length || extra.length
        ? [
            missing.length ? `roles no longer named: ${missing.join(', ')}` : '',
            extra.length ? `roles not named in the backup: ${extra.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('; ')
        : `${expected.length} roles named by owners, grants and policies, as in the backup`,
  };
}

async function mariadbChecks(connection: Connection, inventory: Inventory): Promise<Check[]> {
  const mysql = await import('mysql2/promise');
  const conn = await mysql.createConnection({
    host: connection.host,
    port: connection.port,
    user: connection.username,
    password: connection.password,
  });
  type Rows = import('mysql2').RowDataPacket[];
  const ident = (name: string) => {
    const [db, ...rest] = name.split('.');
    return `${quoteMy(db)}.${quoteMy(rest.join('.'))}`;
  };
  try {
    const bad: string[] = [];
    const unchecked: string[] = [];
    const tables = inventory.entries.filter((e) => e.kind === 'table');
    for (const entry of tables) {
      const [rows] = await conn.query<Rows>(`CHECK TABLE ${ident(entry.name)}`);
      const status = rows.find((r) => r.Msg_type === 'status' || r.Msg_type === 'error');
      if (!status && rows.some((r) => /doesn't support check/.test(String(r.Msg_text)))) {
        // Sequences: their engine has no CHECK; they were read by the count.
        unchecked.push(entry.name);
      } else if (status?.Msg_text !== 'OK') {
        bad.push(`${entry.name}: ${status?.Msg_text ?? 'no status'}`);
      }
    }
    const checked = `${tables.length - unchecked.length} tables OK${unchecked.length ? `, ${unchecked.length} whose engine has no CHECK (${unchecked.join(', ')})` : ''}`;
    // LIMIT 0 resolves the view as production would (its DEFINER account, that account's privileges on every
    // table and routine it reads) without running its query, which may take longer than the whole drill.
    const views = inventory.entries.filter((e) => e.kind === 'view');
    const broken: string[] = [];
    for (const view of views) {
      await conn.query(`SELECT * FROM ${ident(view.name)} LIMIT 0`).catch((error: Error) => broken.push(`${view.name}: ${error.message}`));
    }
    const databases = [...new Set(inventory.entries.map((e) => e.name.split('.')[0]))];
    const [programs] = databases.length
      ? await conn.query<Rows>(
          `SELECT 'routine' AS kind, routine_schema AS db, routine_name AS name, routine_type AS type, definer FROM information_schema.routines WHERE routine_schema IN (?)
           UNION ALL SELECT 'trigger', trigger_schema, trigger_name, '', definer FROM information_schema.triggers WHERE trigger_schema IN (?)
           UNION ALL SELECT 'event', event_schema, event_name, '', definer FROM information_schema.events WHERE event_schema IN (?)`,
          [databases, databases, databases],
        )
      : [[] as Rows];
    const [accounts] = await conn.query<Rows>('SELECT User AS u, Host AS h FROM mysql.user');
    const present = new Set(accounts.map((a) => `${a.u}@${a.h}`));
    const orphaned: string[] = [];
    for (const program of programs) {
      const name = `${program.db}.${program.name}`;
      if (!present.has(String(program.definer))) {
        orphaned.push(`${program.kind} ${name}: DEFINER ${program.definer} does not exist`);
      } else if (program.kind === 'routine') {
        // Loads the stored body, as the first call in production would.
        await conn
          .query(
            `SHOW CREATE ${program.type === 'FUNCTION' ? 'FUNCTION' : 'PROCEDURE'} ${quoteMy(String(program.db))}.${quoteMy(String(program.name))}`,
          )
          .catch((error: Error) => orphaned.push(`routine ${name}: ${error.message}`));
      }
    }
    const counted = (kind: string) => {
      const n = programs.filter((p) => p.kind === kind).length;
      return `${n} ${kind}${n === 1 ? '' : 's'}`;
    };
    return [
      {
        name: 'mariadb: CHECK TABLE on every table',
        passed: bad.length === 0,
        detail: bad.length ? bad.join('; ') : checked,
      },
      {
        name: 'mariadb: every view answers SELECT (LIMIT 0)',
        passed: broken.length === 0,
        detail: broken.length ? broken.join('; ') : `${views.length} view${views.length === 1 ? '' : 's'}`,
      },
      {
        name: 'mariadb: every routine, trigger and event has its DEFINER account',
        passed: orphaned.length === 0,
        detail: orphaned.length ? orphaned.join('; ') : `${counted('routine')}, ${counted('trigger')}, ${counted('event')}`,
      },
    ];
  } finally {
    await conn.end();
  }
}

function quoteMy(identifier: string): string {
  return `\`${identifier.replace(/`/g, '``')}\``;
}

async function redisChecks(connection: Connection, inventory: Inventory): Promise<Check[]> {
  const client = await connectRedis(connection);
  try {
    let sampled = 0;
    const bad: string[] = [];
    for (const entry of inventory.entries) {
      await client.select(Number(entry.name.replace(/^db/, '')));
      const [, batch] = await client.scan('0', 'COUNT', 200);
      for (const key of batch.slice(0, 100)) {
        const dumped = await client.dumpBuffer(key);
        sampled++;
        if (dumped === null && (await client.exists(key)) === 1) {
          bad.push(`${entry.name}:${key}`);
        }
      }
    }
    return [
      {
        name: 'redis: sampled keys readable (DUMP)',
        passed: bad.length === 0,
        detail: bad.length ? bad.slice(0, 10).join(', ') : `${sampled} keys read`,
      },
    ];
  } finally {
    client.disconnect();
  }
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
