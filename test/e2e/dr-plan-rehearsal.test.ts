import { createServer, type Server } from 'node:net';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrReport, DrReportSchema } from '../../contracts/payloads/dr-plan';
import { type EngineServer, startPostgres } from '../../dev/servers/engines';
import type { ExecutionResult } from '../../local/executor/runtime';
import { backedUp, type E2e, startE2e, targetSecret, targetSecretArn } from './harness';

/**
 * DR plan rehearsals, end to end: the synthesized DR plan state machine, started with `"rehearsal": true`,
 * starts one nested execution of the synthesized drill state machine per database (the real task restoring into
 * a throwaway PostgreSQL), group by group. The plans' targets are a listener that counts connections: a
 * rehearsal must not open one.
 */

let pg: EngineServer;
let e2e: E2e;
let target: Server;
let targetConnections = 0;
let targetPort = 0;

async function pgQuery(database: string, sql: string) {
  const c = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database });
  await c.connect();
  try {
    return (await c.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

const DR_PLANS = (port: number, realPort: number) => `drPlans:
  - name: two-step
    groups:
      - databases: [shop]
      - databases: [catalog]
    targets:
      shop: { host: 127.0.0.1, port: ${port}, database: shop_dr, secretArn: "${targetSecretArn('dr')}" }
      catalog: { host: 127.0.0.1, port: ${port}, database: catalog_dr, secretArn: "${targetSecretArn('dr')}" }
    rto: 1h
  - name: broken
    groups:
      - databases: [shop]
      - databases: [ledger]
      - databases: [catalog]
    targets:
      shop: { host: 127.0.0.1, port: ${realPort}, database: shop_dr, secretArn: "${targetSecretArn('pg-dr')}" }
      ledger: { host: 127.0.0.1, port: ${realPort}, database: ledger_dr, secretArn: "${targetSecretArn('pg-dr')}" }
      catalog: { host: 127.0.0.1, port: ${realPort}, database: catalog_dr, secretArn: "${targetSecretArn('pg-dr')}" }`;

/** The Report state's output: a failed plan ends in a Fail state, whose cause is only the summary. */
function reportOf(result: ExecutionResult): DrReport {
  const exited = result.transitions.filter((t) => t.state === 'Report' && t.type === 'exited');
  return DrReportSchema.parse((exited[exited.length - 1]?.output as { report?: unknown } | undefined)?.report);
}

const entered = (result: ExecutionResult, state: string) =>
  result.transitions.filter((t) => t.state === state && t.type === 'entered').map((t) => (t.input as { database: string }).database);

beforeAll(async () => {
  target = createServer((socket) => {
    targetConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetPort = (target.address() as { port: number }).port;
  pg = await startPostgres();
  for (const database of ['shop', 'catalog', 'ledger']) {
    await pgQuery('postgres', `CREATE DATABASE ${database}`);
  }
  await pgQuery('shop', 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 120)');
  await pgQuery('catalog', 'CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 40)');
  e2e = await startE2e(
    [
      { name: 'shop', server: pg, database: 'shop' },
      { name: 'catalog', server: pg, database: 'catalog' },
      { name: 'ledger', server: pg, database: 'ledger' },
    ],
    {},
    DR_PLANS(targetPort, pg.port),
  );
  targetSecret(e2e.strongbox, 'pg-dr', pg);
  // ledger is never backed up: it has no verified backup, so its drill (and a real restore) cannot start.
  for (const database of ['shop', 'catalog']) {
    await backedUp(e2e.strongbox, database);
  }
}, 300_000);

afterAll(async () => {
  await e2e?.stop();
  await pg?.stop();
  await new Promise((resolve) => target?.close(resolve));
});

describe('DR plan rehearsal, end to end', () => {
  it('drills a two-group plan group by group into throwaway engines, reports each group and the plan RTO, and never connects to a target', async () => {
    // Prepare
    const outboxBefore = e2e.strongbox.outbox.read().length;
    const started = Date.now();

    // Act
    const result = await e2e.strongbox.stateMachine('dr-plan').execute({ plan: 'two-step', rehearsal: true, requestedBy: 'carol' });

    // Assess
    const wall = (Date.now() - started) / 1000;
    expect(result.status).toBe('SUCCEEDED');
    const report = DrReportSchema.parse(result.output);
    expect(report).toMatchObject({ plan: 'two-step', status: 'succeeded', rehearsal: true, restored: ['shop', 'catalog'], failed: [] });
    expect(report.notRestored).toEqual([]);
    expect(report.groups?.map((g) => [g.group, g.status, g.databases.map((d) => [d.database, d.status])])).toEqual([
      [1, 'passed', [['shop', 'passed']]],
      [2, 'passed', [['catalog', 'passed']]],
    ]);
    const [one, two] = report.groups ?? [];
    for (const group of [one, two]) {
      expect(group.seconds).toBeGreaterThan(0);
      expect(group.databases[0].seconds).toBeGreaterThan(0);
      expect(group.databases[0].seconds).toBeLessThanOrEqual(group.seconds ?? 0);
      expect(group.databases[0].backupId).toMatch(new RegExp(`^${group.databases[0].database}-\\d{8}T\\d{6}Z-full$`));
      expect(group.databases[0].restoreSeconds).toBeGreaterThanOrEqual(0);
    }
    expect(report.rto?.targetSeconds).toBe(3600);
    expect(report.rto?.met).toBe(true);
    expect(report.rto?.measuredSeconds).toBeGreaterThanOrEqual((one.seconds ?? 0) + (two.seconds ?? 0) - 0.2);
    expect(report.rto?.measuredSeconds).toBeLessThanOrEqual(wall + 1);
    // Group by group: the second drill starts only after the first one's group was recorded.
    const order = result.transitions.filter((t) => ['RehearseDatabase', 'Advance'].includes(t.state) && t.type === 'entered');
    expect(order.map((t) => t.state)).toEqual(['RehearseDatabase', 'Advance', 'RehearseDatabase', 'Advance']);
    expect(entered(result, 'RehearseDatabase')).toEqual(['shop', 'catalog']);
    expect(entered(result, 'RestoreDatabase')).toEqual([]);
    expect(targetConnections).toBe(0);
    const subjects = e2e.strongbox.outbox
      .read()
      .slice(outboxBefore)
      .map((m) => m.subject);
    expect(subjects).toEqual([
      'Strongbox drill passed: shop',
      'Strongbox drill passed: catalog',
      'Strongbox DR plan rehearsal passed: two-step',
    ]);
    expect(report.summary).toMatch(
      /^DR plan rehearsal two-step passed: took [\d.]+ s against the plan RTO of 3600 s: met\. group 1 passed in [\d.]+ s \(shop passed [\d.]+ s\); group 2 passed/,
    );
  });

  it('stops a plan with an unrestorable database at its group, later groups not run, with the same report as a real DR run', async () => {
    // Prepare
    const real = await e2e.strongbox.stateMachine('dr-plan').execute({ plan: 'broken', requestedBy: 'dave' });
    const realReport = reportOf(real);
    const restoresBefore = (await pgQuery('postgres', "SELECT datname FROM pg_database WHERE datname LIKE '%\\_dr' ORDER BY 1")).map(
      (r) => r.datname,
    );

    // Act
    const result = await e2e.strongbox.stateMachine('dr-plan').execute({ plan: 'broken', rehearsal: true });

    // Assess
    expect(real.status).toBe('FAILED');
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DrPlanFailedError');
    const report = reportOf(result);
    expect(Object.keys(report)).toEqual(expect.arrayContaining(Object.keys(realReport)));
    expect({ restored: report.restored, failed: report.failed.map((f) => f.database), notRestored: report.notRestored }).toEqual({
      restored: realReport.restored,
      failed: realReport.failed.map((f) => f.database),
      notRestored: realReport.notRestored,
    });
    expect(report).toMatchObject({ status: 'failed', rehearsal: true, restored: ['shop'], notRestored: ['ledger', 'catalog'] });
    expect(report.failed[0].cause).toContain('"ledger" has no verified backup to drill');
    expect(report.groups?.map((g) => [g.status, g.databases.map((d) => d.status)])).toEqual([
      ['passed', ['passed']],
      ['failed', ['failed']],
      ['not run', ['not run']],
    ]);
    expect(report.rto?.met).toBe(false);
    expect(result.cause).toBe(report.summary);
    expect(result.cause).toMatch(/^DR plan rehearsal broken FAILED: stopped at group 2 of 3 after [\d.]+ s/);
    expect(entered(result, 'RehearseDatabase')).toEqual(['shop', 'ledger']);
    expect(entered(result, 'RestoreDatabase')).toEqual([]);
    const restoresAfter = (await pgQuery('postgres', "SELECT datname FROM pg_database WHERE datname LIKE '%\\_dr' ORDER BY 1")).map(
      (r) => r.datname,
    );
    expect(restoresAfter).toEqual(restoresBefore);
  });
});
