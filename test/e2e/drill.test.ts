import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillRecordSchema, keys, ManifestSchema } from '../../contracts/vault';
import { getJson, putJson } from '../../contracts/vault-io';
import { type EngineServer, startMariadb, startPostgres, startRedis } from '../../dev/servers/engines';
import { backedUp, causeMessage, type E2e, startE2e } from './harness';

/**
 * The drill state machine, end to end on its synthesized definition: Prepare picks the newest verified backup,
 * the real task restores it into a throwaway engine it starts itself, Report posts the outcome. No target.
 */

const PASSED_PATH = ['Prepare', 'Drill', 'Report', 'Drilled'];

let pg: EngineServer;
let maria: EngineServer;
let redis: EngineServer;
let e2e: E2e;

beforeAll(async () => {
  [pg, maria, redis] = await Promise.all([startPostgres(), startMariadb(), startRedis()]);
  const c = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'postgres' });
  await c.connect();
  await c.query(`CREATE SCHEMA sales;
    CREATE TABLE sales.orders (id int PRIMARY KEY, note text);
    INSERT INTO sales.orders SELECT i, repeat('ü', i % 50) FROM generate_series(1, 1500) i;
    CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE id > 1000;`);
  await c.end();
  const m = await mysql.createConnection({
    host: maria.host,
    port: maria.port,
    user: maria.username,
    password: maria.password,
    database: 'strongbox',
  });
  await m.query('CREATE TABLE invoices (id INT PRIMARY KEY, total DECIMAL(10,2))');
  await m.query('INSERT INTO invoices VALUES (1, 10.50), (2, 99.99), (3, 0)');
  await m.end();
  e2e = await startE2e([
    { name: 'shop', server: pg, database: 'postgres' },
    { name: 'billing', server: maria, database: 'strongbox' },
    { name: 'sessions', server: redis },
  ]);
}, 240_000);

afterAll(async () => {
  await e2e?.stop();
  await Promise.all([pg?.stop(), maria?.stop(), redis?.stop()]);
});

describe('drill state machine, end to end', () => {
  it('passes a PostgreSQL backup, then fails it once the manifest inventory is tampered with', async () => {
    // Prepare
    const backupId = await backedUp(e2e.strongbox, 'shop');
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const outboxBefore = e2e.strongbox.outbox.read().length;

    // Act
    const passing = await e2e.strongbox.drill({ database: 'shop', trigger: 'manual' });
    const passed = (await getJson(s3, bucket, keys.drill(backupId), DrillRecordSchema))?.value;
    const manifest = (await getJson(s3, bucket, keys.manifest(backupId), ManifestSchema))!.value;
    await putJson(s3, bucket, keys.manifest(backupId), {
      ...manifest,
      inventory: {
        ...manifest.inventory,
        entries: manifest.inventory.entries.map((e) => (e.name === 'sales.orders' ? { ...e, count: (e.count ?? 0) + 1 } : e)),
      },
    });
    const failing = await e2e.strongbox.drill({ database: 'shop', trigger: 'manual' });
    const failed = (await getJson(s3, bucket, keys.drill(backupId), DrillRecordSchema))?.value;

    // Assess
    expect(passing.status, passing.cause).toBe('SUCCEEDED');
    expect(passing.path).toEqual(PASSED_PATH);
    expect(passed).toMatchObject({ backupId, passed: true, mismatches: [] });
    expect(passed?.checks.every((check) => check.passed)).toBe(true);
    expect(failing.status).toBe('FAILED');
    expect(failing.error).toBe('DrillFailedError');
    expect(causeMessage(failing.cause)).toContain('sales.orders: expected 1501, found 1500');
    expect(failed).toMatchObject({ backupId, passed: false, mismatches: [{ name: 'sales.orders', expected: 1501, actual: 1500 }] });
    expect(
      e2e.strongbox.outbox
        .read()
        .slice(outboxBefore)
        .map((m) => m.subject),
    ).toEqual(['Strongbox drill passed: shop', 'Strongbox drill FAILED: shop']);
  });

  it('passes a MariaDB backup restored into a throwaway MariaDB', async () => {
    // Prepare
    const backupId = await backedUp(e2e.strongbox, 'billing');

    // Act
    const result = await e2e.strongbox.drill({ database: 'billing' });
    const record = (await getJson(e2e.strongbox.vault.client(), e2e.strongbox.app.buckets.primary, keys.drill(backupId), DrillRecordSchema))
      ?.value;

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(record).toMatchObject({ backupId, passed: true, mismatches: [] });
  });

  it('passes a Redis RDB backup loaded by a throwaway redis-server', async () => {
    // Prepare
    const r = new Redis({ host: redis.host, port: redis.port, password: redis.password, lazyConnect: true });
    await r.connect();
    await r.mset('user:1', 'Zoë', 'user:2', 'Jürgen');
    await r.quit();
    const backupId = await backedUp(e2e.strongbox, 'sessions');

    // Act
    const result = await e2e.strongbox.drill({ database: 'sessions' });
    const record = (await getJson(e2e.strongbox.vault.client(), e2e.strongbox.app.buckets.primary, keys.drill(backupId), DrillRecordSchema))
      ?.value;

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(record).toMatchObject({ backupId, passed: true, mismatches: [] });
    expect(record?.checks[0].detail).toBe('rdb restored into a throwaway redis');
  });

  it('fails at Prepare, with nothing started, for a database the config does not name', async () => {
    // Act
    const result = await e2e.strongbox.drill({ database: 'nope' });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.path[0]).toBe('Prepare');
    expect(result.path).not.toContain('Drill');
    expect(causeMessage(result.cause)).toContain(
      'database: found "nope"; expected one of the configured databases: shop, billing, sessions',
    );
  });
});
