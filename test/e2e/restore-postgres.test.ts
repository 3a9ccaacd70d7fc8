import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceRefusal } from '../../contracts/refusals';
import { parseBackupId } from '../../contracts/vault';
import { type EngineServer, startPostgres } from '../../dev/servers/engines';
import { auditOf, backedUp, causeMessage, type E2e, startE2e, targetSecret } from './harness';

/**
 * The console restore, end to end on the synthesized definition: Resolve, Guard (in-process Lambdas), the real
 * restore task against a real PostgreSQL, Validate counting the target, Notify writing the audit record.
 */

const RESTORED_PATH = ['Resolve', 'KeepResolved', 'DryRun?', 'Guard', 'Restore', 'Validate', 'Notify', 'Restored'];

let pg: EngineServer;
let e2e: E2e;
let secretArn: string;
let first: string;
let second: string;

function client(database: string): Client {
  return new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database });
}

async function query<T>(database: string, sql: string): Promise<T[]> {
  const c = client(database);
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

const orderCount = async (database: string) =>
  Number((await query<{ n: string }>(database, 'SELECT count(*) AS n FROM sales.orders'))[0].n);
const tables = async (database: string) =>
  (
    await query<{ t: string }>(
      database,
      "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE' ORDER BY 1",
    )
  ).map((r) => r.t);

const takenAt = (backupId: string) => parseBackupId(backupId).takenAt.toISOString();

beforeAll(async () => {
  pg = await startPostgres();
  await query('postgres', 'CREATE DATABASE shop');
  await query(
    'shop',
    `CREATE SCHEMA sales;
     CREATE SCHEMA hr;
     CREATE TABLE sales.customers (id int PRIMARY KEY, name text NOT NULL);
     CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES sales.customers, note text);
     CREATE TABLE hr.employees (id int PRIMARY KEY, name text NOT NULL);
     INSERT INTO sales.customers SELECT i, 'Zoë ' || i FROM generate_series(1, 50) i;
     INSERT INTO sales.orders SELECT i, 1 + i % 50, CASE WHEN i % 7 = 0 THEN NULL ELSE 'über ' || i END FROM generate_series(1, 300) i;
     INSERT INTO hr.employees SELECT i, 'Jürgen ' || i FROM generate_series(1, 12) i;`,
  );
  e2e = await startE2e([{ name: 'shop', server: pg, database: 'shop' }], {
    onTaskFailure: (failure) => process.stderr.write(`task failed (${failure.stateName}):\n${failure.stderrTail}\n`),
  });
  secretArn = targetSecret(e2e.strongbox, 'shop-scratch', pg);
  first = await backedUp(e2e.strongbox, 'shop');
}, 240_000);

afterAll(async () => {
  await e2e?.stop();
  await pg?.stop();
});

describe('restore state machine, end to end on PostgreSQL', () => {
  it('restores a backup by backupId', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'shop',
      backupId: first,
      target: { host: pg.host, port: pg.port, database: 'shop_first', secretArn },
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect((result.output as { resolved: { backupId: string } }).resolved.backupId).toBe(first);
    expect(await orderCount('shop_first')).toBe(300);
  });

  it('restores by pointInTime: the newest verified backup at or before that instant', async () => {
    // Prepare: an instant a second after the backup
    const between = new Date(Date.parse(takenAt(first)) + 1000);

    // Act
    const result = await e2e.strongbox.restore({
      database: 'shop',
      pointInTime: between.toISOString(),
      target: { host: pg.host, port: pg.port, database: 'shop_pit', secretArn },
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect((result.output as { resolved: { backupId: string } }).resolved.backupId).toBe(first);
    expect(await orderCount('shop_pit')).toBe(300);
  });

  it('refuses a pointInTime before the oldest backup at Resolve, listing the nearest verified points', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'shop',
      pointInTime: '2020-01-01T00:00:00Z',
      target: { host: pg.host, port: pg.port, database: 'shop_never', secretArn },
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.path[0]).toBe('Resolve');
    expect(result.path).not.toContain('Guard');
    expect(causeMessage(result.cause)).toBe(
      `No verified backup of "shop" was taken at or before pointInTime 2020-01-01T00:00:00Z. Nearest verified recovery points of "shop": ${first} (taken ${takenAt(first)})`,
    );
  });

  it('restores "latest" (a newer backup) into a new database, validates it, and records who asked in the audit trail', async () => {
    // Prepare: a second backup that differs from the first, a second later
    await query('shop', 'INSERT INTO sales.orders VALUES (301, 1, NULL)');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    second = await backedUp(e2e.strongbox, 'shop');
    const outboxBefore = e2e.strongbox.outbox.read().length;

    // Act
    const result = await e2e.strongbox.restore({
      database: 'shop',
      latest: true,
      target: { host: pg.host, port: pg.port, database: 'shop_latest', secretArn },
      requestedBy: 'alice, INC-42',
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(result.path).toEqual(RESTORED_PATH);
    expect(await orderCount('shop_latest')).toBe(301);
    expect(await tables('shop_latest')).toEqual(['hr.employees', 'sales.customers', 'sales.orders']);
    expect(await auditOf(e2e.strongbox, 'shop', result.name)).toMatchObject({
      outcome: 'restored',
      backupId: second,
      requested: 'latest',
      startedBy: { requestedBy: 'alice, INC-42', executionArn: result.executionArn },
      validation: { matched: true },
    });
    const chat = e2e.strongbox.outbox.read().slice(outboxBefore);
    expect(chat.map((m) => m.subject)).toEqual(['Strongbox restore restored: shop']);
    expect(chat[0].message).toMatch(new RegExp(`${second} restored to 127\\.0\\.0\\.1:${pg.port}/shop_latest in \\d`));
  });

  it('refuses a backupId that retention has since removed, listing the nearest verified points', async () => {
    // Act: daily retention kept only the newest backup of today
    const result = await e2e.strongbox.restore({
      database: 'shop',
      backupId: first,
      target: { host: pg.host, port: pg.port, database: 'shop_never', secretArn },
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.path[0]).toBe('Resolve');
    expect(result.path).not.toContain('Guard');
    expect(causeMessage(result.cause)).toBe(
      `Recovery point backupId "${first}" does not exist in the vault. Nearest verified recovery points of "shop": ${second} (taken ${takenAt(second)})`,
    );
  });

  it('restores one table only, and validates only that table', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'shop',
      latest: true,
      target: { host: pg.host, port: pg.port, database: 'shop_orders_only', secretArn },
      include: ['sales.orders'],
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await tables('shop_orders_only')).toEqual(['sales.orders']);
    expect(await orderCount('shop_orders_only')).toBe(301);
    expect((result.output as { validate: { compared: number; matched: boolean } }).validate.matched).toBe(true);
  });

  it('refuses the source connection at Guard with the exact message, and writes nothing', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'shop',
      latest: true,
      target: { host: 'localhost', port: pg.port, database: 'shop', secretArn },
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreRefusedError');
    expect(causeMessage(result.cause)).toBe(sourceRefusal('shop', { host: 'localhost', port: pg.port, database: 'shop' }));
    expect(result.path).toEqual(['Resolve', 'KeepResolved', 'DryRun?', 'Guard', 'NotifyFailure', 'RestoreFailed']);
    expect(await orderCount('shop')).toBe(301);
  });

  it('refuses a non-empty target at Guard, naming what is in the way, before the task starts', async () => {
    // Prepare
    await query('shop_first', 'DELETE FROM sales.orders WHERE id > 250');

    // Act
    const result = await e2e.strongbox.restore({
      database: 'shop',
      latest: true,
      target: { host: pg.host, port: pg.port, database: 'shop_first', secretArn },
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreRefusedError');
    expect(causeMessage(result.cause)).toMatch(
      new RegExp(
        `^Refusing to restore "shop" into a non-empty target 127\\.0\\.0\\.1:${pg.port}/shop_first \\(3 existing objects, such as .+\\): that would mix or replace data\\. Set "overwrite": true and "confirm": "shop" in the input to go ahead\\.$`,
      ),
    );
    expect(result.path).not.toContain('Restore');
    expect(await orderCount('shop_first')).toBe(250);
    expect(await auditOf(e2e.strongbox, 'shop', result.name)).toMatchObject({ outcome: 'refused', backupId: second });
  });

  it('overwrites a non-empty target when overwrite is true and confirm names the database', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'shop',
      latest: true,
      target: { host: pg.host, port: pg.port, database: 'shop_first', secretArn },
      overwrite: true,
      confirm: 'shop',
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(result.path).toEqual(RESTORED_PATH);
    expect(await orderCount('shop_first')).toBe(301);
  });
});
