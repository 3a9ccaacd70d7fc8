import type { Client } from 'pg';
import type { Inventory } from '../../contracts/vault';
import type { Connection } from '../connection';
import type { Check } from '../engine';
import { quoteIdent, requiredRoles } from './catalog';
import { connect } from './connection';

/**
 * Every table and materialized view is readable to its last page (a sequential scan of every relation), no
 * index was left invalid by the restore, and, given the backup's roles, owners and privileges came back.
 */
export async function postgresSanityChecks(
  connection: Connection,
  inventory: Inventory,
  expectedRoles?: readonly string[],
): Promise<Check[]> {
  const client = await connect(connection);
  try {
    const unreadable: string[] = [];
    // Stored rows only: tables and populated materialized views. Views are never run (their queries are the
    // application's, and may be slow or fail); they were compared by definition.
    const stored = inventory.entries.filter((e) => e.kind === 'table' || (e.kind === 'matview' && e.populated !== false));
    for (const entry of stored) {
      const [schema, ...rest] = entry.name.split('.');
      const ident = `${quoteIdent(schema)}.${quoteIdent(rest.join('.'))}`;
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
async function privilegesCheck(client: Client, expected: readonly string[]): Promise<Check> {
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
