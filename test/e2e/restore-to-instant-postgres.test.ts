import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineServer, startPostgres } from '../../dev/servers/engines';
import { connect } from '../../engines/postgres/connection';
import { connectionTo } from '../support/engine-vault';
import { auditOf, causeMessage, type E2e, startE2e, targetSecret } from './harness';

/**
 * PostgreSQL restore to an instant and to an LSN, end to end on the synthesized restore machine: a real PostgreSQL 15
 * (wal_level=replica), WAL archived by the synthesized log-archive machine, a base by the task's base-backup command,
 * then Resolve's plan and the task's recovery delivered into a new database of another server, exact to the row.
 */

let source: EngineServer;
let target: EngineServer;
let pg: Client;
let e2e: E2e;
let secretArn: string;
let baseId: string;
let baseFinishedAt: number;
let expected: number;
let beforeDelete: { at: string; lsn: string };

const secondOf = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString();
const into = (database: string) => ({ host: target.host, port: target.port, database, secretArn });

async function archive(): Promise<void> {
  const run = await e2e.strongbox.stateMachine('log-archive').execute({ database: 'ledger', trigger: 'manual' });
  if (run.status !== 'SUCCEEDED') {
    throw new Error(`WAL archiving failed: ${run.cause}`);
  }
}

async function onTarget<T>(database: string, query: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ host: '127.0.0.1', port: target.port, user: target.username, password: target.password, database });
  await client.connect();
  try {
    return await query(client);
  } finally {
    await client.end();
  }
}

const rowsIn = (database: string) =>
  onTarget(database, async (c) => {
    const out = await c.query<{ n: string; max: number }>('SELECT count(*) AS n, max(id) AS max FROM public.ledger');
    return { n: Number(out.rows[0].n), max: Number(out.rows[0].max) };
  });

const databaseExists = (database: string) =>
  onTarget('postgres', async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount === 1);

beforeAll(async () => {
  [source, target] = await Promise.all([startPostgres(), startPostgres()]);
  pg = await connect(connectionTo(source, 'postgres'));
  await pg.query('CREATE TABLE public.ledger (id serial PRIMARY KEY, note text NOT NULL)');
  await pg.query("INSERT INTO public.ledger (note) SELECT 'before ' || g FROM generate_series(1, 500) g");
  e2e = await startE2e([
    {
      name: 'ledger',
      server: source,
      database: 'postgres',
      logs: '{ intervalMinutes: 5, windowDays: 7, baseBackup: { expression: "cron(0 2 * * ? *)" } }',
    },
  ]);
  secretArn = targetSecret(e2e.strongbox, 'pg-pitr-target', target);
  // The first run creates the slot, so the server keeps every WAL file the base needs from its start on.
  await archive();
  const base = await e2e.strongbox.runTask('ledger', { STRONGBOX_COMMAND: 'base-backup' });
  if (base.exitCode !== 0) {
    throw new Error(`base backup failed: ${base.stderrTail}`);
  }
  baseId = String(base.result?.baseId);
  baseFinishedAt = Date.now();
  await pg.query("INSERT INTO public.ledger (note) SELECT 'after ' || g FROM generate_series(1, 250) g");
  expected = 750;
  const [mark] = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows;
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const deleted = await pg.query<{ at: Date }>("DELETE FROM public.ledger WHERE note LIKE 'before%' RETURNING now() AS at");
  beforeDelete = { at: secondOf(deleted.rows[0].at.getTime() - 1000), lsn: mark.lsn };
  await pg.query("INSERT INTO public.ledger (note) VALUES ('after the delete')");
  await pg.query('SELECT pg_switch_wal()');
  await archive();
}, 300_000);

afterAll(async () => {
  await pg?.end();
  await e2e?.stop();
  await Promise.all([source?.stop(), target?.stop()]);
});

describe('restore machine: PostgreSQL to an instant or an LSN', () => {
  it('restores to one second before a destructive DELETE into a new database of another server, exact to the row', async () => {
    // Act
    const result = await e2e.strongbox.restore({ database: 'ledger', pointInTime: beforeDelete.at, target: into('before_delete') });

    // Assess
    expect(result.status, causeMessage(result.cause)).toBe('SUCCEEDED');
    expect(await rowsIn('before_delete')).toEqual({ n: expected, max: expected });
    // The audit trail names the base, the stop and every WAL file planned.
    const audit = await auditOf(e2e.strongbox, 'ledger', result.name);
    expect(audit?.outcome).toBe('restored');
    expect(audit?.backupId).toBe(baseId);
    expect(audit?.recovery).toMatchObject({ baseId, stop: { kind: 'instant', at: beforeDelete.at } });
    expect(audit?.recovery?.segmentIds.length).toBeGreaterThan(0);
    expect(audit?.recovery?.segmentIds.every((id) => id.startsWith('ledger-') && id.includes('-wal-'))).toBe(true);
    expect(audit?.validation?.matched).toBe(true);
  });

  it('restores to an LSN', async () => {
    // Act
    const result = await e2e.strongbox.restore({ database: 'ledger', lsn: beforeDelete.lsn, target: into('by_lsn') });

    // Assess
    expect(result.status, causeMessage(result.cause)).toBe('SUCCEEDED');
    expect(await rowsIn('by_lsn')).toEqual({ n: expected, max: expected });
  });

  it('returns the plan of a dry run and touches nothing', async () => {
    // Act
    const result = await e2e.strongbox.restore({ database: 'ledger', pointInTime: beforeDelete.at, target: into('dry_run'), dryRun: true });
    const resolved = (result.output as { resolved?: { recovery?: { baseId: string; segmentIds: string[]; expectedEnd?: unknown } } })
      .resolved;

    // Assess
    expect(result.status, causeMessage(result.cause)).toBe('SUCCEEDED');
    expect(result.path.at(-1)).toBe('Planned');
    expect(result.path).not.toContain('Guard');
    expect(resolved?.recovery?.baseId).toBe(baseId);
    expect(resolved?.recovery?.segmentIds.length).toBeGreaterThan(0);
    expect(resolved?.recovery?.expectedEnd).toBeDefined();
    expect(await databaseExists('dry_run')).toBe(false);
  });

  it('refuses an instant outside the restorable ranges and lists them', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'ledger',
      pointInTime: new Date(baseFinishedAt - 3_600_000).toISOString(),
      target: into('too_early'),
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(causeMessage(result.cause)).toMatch(
      /pointInTime: found "[^"]+"; expected an instant in the restorable ranges of "ledger": \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ to \d{4}/,
    );
    expect(await databaseExists('too_early')).toBe(false);
  });
});
