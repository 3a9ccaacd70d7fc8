import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineServer, startMariadb, startPostgres } from '../../dev/servers/engines';
import { auditOf, backedUp, type E2e, startE2e, targetSecret, targetSecretArn } from './harness';

/**
 * A DR plan, end to end: the synthesized DR plan state machine starts one nested execution of the synthesized
 * restore state machine per database (states:startExecution.sync:2), group by group, with the real task.
 */

let pg: EngineServer;
let maria: EngineServer;
let e2e: E2e;

async function pgQuery(database: string, sql: string) {
  const c = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database });
  await c.connect();
  try {
    return (await c.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

async function mariaQuery(sql: string) {
  const c = await mysql.createConnection({
    host: maria.host,
    port: maria.port,
    user: maria.username,
    password: maria.password,
    multipleStatements: true,
  });
  try {
    return (await c.query(sql))[0] as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

const DR_PLANS = (pgPort: number, mariaPort: number) => `drPlans:
  - name: region-loss
    groups:
      - databases: [shop]
      - databases: [billing, ledger]
      - databases: [catalog]
    targets:
      shop: { host: 127.0.0.1, port: ${pgPort}, database: shop_dr, secretArn: "${targetSecretArn('pg-dr')}" }
      billing: { host: 127.0.0.1, port: ${mariaPort}, database: billing_dr, secretArn: "${targetSecretArn('maria-dr')}" }
      ledger: { host: 127.0.0.1, port: ${mariaPort}, database: ledger_dr, secretArn: "${targetSecretArn('maria-dr')}" }
      catalog: { host: 127.0.0.1, port: ${pgPort}, database: catalog_dr, secretArn: "${targetSecretArn('pg-dr')}" }`;

beforeAll(async () => {
  [pg, maria] = await Promise.all([startPostgres(), startMariadb()]);
  await pgQuery('postgres', 'CREATE DATABASE shop');
  await pgQuery('postgres', 'CREATE DATABASE catalog');
  await pgQuery('shop', 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 120)');
  await mariaQuery(`CREATE DATABASE ledger;
    CREATE TABLE strongbox.invoices (id INT PRIMARY KEY); INSERT INTO strongbox.invoices VALUES (1), (2);
    CREATE TABLE ledger.entries (id INT PRIMARY KEY); INSERT INTO ledger.entries VALUES (1), (2), (3);
    CREATE DATABASE billing_dr; CREATE TABLE billing_dr.invoices (id INT PRIMARY KEY); INSERT INTO billing_dr.invoices VALUES (99);`);
  e2e = await startE2e(
    [
      { name: 'shop', server: pg, database: 'shop' },
      { name: 'billing', server: maria, database: 'strongbox' },
      { name: 'ledger', server: maria, database: 'ledger' },
      { name: 'catalog', server: pg, database: 'catalog' },
    ],
    {},
    DR_PLANS(pg.port, maria.port),
  );
  targetSecret(e2e.strongbox, 'pg-dr', pg);
  targetSecret(e2e.strongbox, 'maria-dr', maria);
  for (const database of ['shop', 'billing', 'ledger']) {
    await backedUp(e2e.strongbox, database);
  }
}, 300_000);

afterAll(async () => {
  await e2e?.stop();
  await Promise.all([pg?.stop(), maria?.stop()]);
});

describe('DR plan state machine, end to end', () => {
  it('restores group 1, stops after group 2 fails on a non-empty target, and reports what was and was not restored', async () => {
    // Prepare
    const outboxBefore = e2e.strongbox.outbox.read().length;

    // Act
    const result = await e2e.strongbox.stateMachine('dr-plan').execute({ plan: 'region-loss', requestedBy: 'bob, INC-9' });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DrPlanFailedError');
    expect(result.cause).toMatch(
      /^DR plan region-loss stopped at group 2 of 3: billing failed \(RestoreRefusedError: Refusing to restore "billing" into a non-empty target 127\.0\.0\.1:\d+\/billing_dr \(1 existing object, such as billing_dr\.invoices\): that would mix or replace data\. This restore was started by DR plan "region-loss": set "overwrite": true and "confirm": "region-loss" .*\)\. Restored: shop, ledger\. Not restored: billing, catalog\.$/,
    );
    expect(await pgQuery('shop_dr', 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 120 }]);
    expect(await mariaQuery('SELECT count(*) AS n FROM ledger_dr.entries')).toEqual([{ n: 3 }]);
    expect(await mariaQuery('SELECT id FROM billing_dr.invoices')).toEqual([{ id: 99 }]);
    expect(await pgQuery('postgres', "SELECT datname FROM pg_database WHERE datname = 'catalog_dr'")).toEqual([]);
    const started = result.transitions.filter((t) => t.state === 'RestoreDatabase' && t.type === 'entered');
    expect(started.map((t) => (t.input as { database: string }).database).sort()).toEqual(['billing', 'ledger', 'shop']);
    expect(
      e2e.strongbox.outbox
        .read()
        .slice(outboxBefore)
        .map((m) => m.subject),
    ).toContain('Strongbox DR plan failed: region-loss');
    const nested = result.transitions
      .filter((t) => t.state === 'Restored' && t.type === 'exited')
      .map((t) => t.output as { database: string; executionArn: string });
    const audits = await Promise.all(nested.map((n) => auditOf(e2e.strongbox, n.database, n.executionArn.replace(/^.*:/, ''))));
    expect(audits.map((a) => [a?.database, a?.outcome, a?.startedBy.requestedBy]).sort()).toEqual([
      ['ledger', 'restored', `DR plan region-loss (${result.name}): bob, INC-9`],
      ['shop', 'restored', `DR plan region-loss (${result.name}): bob, INC-9`],
    ]);
  });
});
