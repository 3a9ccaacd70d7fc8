import type { RowDataPacket } from 'mysql2';
import type { Inventory } from '../../contracts/vault';
import type { Connection } from '../connection';
import type { Check } from '../engine';
import { connect, quote } from './connection';

/**
 * CHECK TABLE on every table answers OK; every view answers SELECT ... LIMIT 0; every routine, trigger and event
 * has its DEFINER account, and every routine's stored body loads.
 */
export async function mariadbSanityChecks(connection: Connection, inventory: Inventory): Promise<Check[]> {
  const conn = await connect(connection);
  type Rows = RowDataPacket[];
  const ident = (name: string) => {
    const [db, ...rest] = name.split('.');
    return `${quote(db)}.${quote(rest.join('.'))}`;
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
            `SHOW CREATE ${program.type === 'FUNCTION' ? 'FUNCTION' : 'PROCEDURE'} ${quote(String(program.db))}.${quote(String(program.name))}`,
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
