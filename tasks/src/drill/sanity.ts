import type { DrillRecord, Inventory } from '../../../lambdas/shared/catalog';
import type { Connection } from '../credentials';
import { requiredRoles } from '../engines/postgres';
import { connectRedis } from '../engines/redis';

type Check = DrillRecord['checks'][number];

/**
 * The engine's own idea of "healthy", beyond row counts:
 *   PostgreSQL: every table and materialized view is readable to its last page (a sequential scan of every
 *               relation), and no index was left invalid by the restore.
 *   MariaDB:    CHECK TABLE on every table answers OK.
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
  try {
    const bad: string[] = [];
    for (const entry of inventory.entries.filter((e) => e.kind === 'table')) {
      const [db, ...rest] = entry.name.split('.');
      const [rows] = await conn.query<import('mysql2').RowDataPacket[]>(`CHECK TABLE \`${db}\`.\`${rest.join('.')}\``);
      const status = rows.find((r) => r.Msg_type === 'status' || r.Msg_type === 'error');
      if (status?.Msg_text !== 'OK') {
        bad.push(`${entry.name}: ${status?.Msg_text ?? 'no status'}`);
      }
    }
    return [
      {
        name: 'mariadb: CHECK TABLE on every table',
        passed: bad.length === 0,
        detail: bad.length ? bad.join('; ') : `${inventory.entries.length} tables OK`,
      },
    ];
  } finally {
    await conn.end();
  }
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
