import type { S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillRecordSchema, keys, ManifestSchema, mintBackupId } from '../../../../contracts/vault';
import { getJson, putJson } from '../../../../contracts/vault-io';
import { type EngineServer, startMariadb, startPostgres, startRedis } from '../../../../dev/servers/engines';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { main } from '../../../../tasks/src/main';

const BUCKET = 'vault';

/** Runs the task entrypoint in process: backup or drill of `database` on `server`. */
async function task(
  command: 'backup' | 'drill',
  database: string,
  server: EngineServer,
  s3rver: LocalS3,
  backupId: string,
): Promise<number> {
  return main(
    {
      ...server.taskEnv(),
      STRONGBOX_COMMAND: command,
      STRONGBOX_DATABASE: database,
      STRONGBOX_VAULT_BUCKET: BUCKET,
      STRONGBOX_S3_ENDPOINT: s3rver.endpoint,
      STRONGBOX_BACKUP_ID: backupId,
      STRONGBOX_PROGRESS_INTERVAL_SECONDS: '60',
    },
    { s3: s3rver.client() },
  );
}

async function drillRecord(s3: S3Client, backupId: string) {
  return (await getJson(s3, BUCKET, keys.drill(backupId), DrillRecordSchema))?.value;
}

describe('drill command (real engines, throwaway servers started by the task)', () => {
  let s3rver: LocalS3;
  const servers: EngineServer[] = [];

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await s3rver.stop();
  });

  it('passes a PostgreSQL backup, then fails it once the manifest inventory is tampered with', async () => {
    // Prepare
    const pg = await startPostgres();
    servers.push(pg);
    const client = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'postgres' });
    await client.connect();
    await client.query(
      'CREATE TABLE public.orders (id int primary key, note text); INSERT INTO public.orders SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 2000) g',
    );
    await client.query(
      'CREATE SCHEMA sales; CREATE TABLE sales.items (id serial primary key, sku text); INSERT INTO sales.items (sku) SELECT md5(g::text) FROM generate_series(1, 300) g',
    );
    await client.end();
    const backupId = mintBackupId('orders', 'full', new Date('2026-03-01T03:00:00Z'));
    expect(await task('backup', 'orders', pg, s3rver, backupId)).toBe(0);

    // Act
    const passing = await task('drill', 'orders', pg, s3rver, backupId);
    const passed = await drillRecord(s3rver.client(), backupId);
    const manifest = (await getJson(s3rver.client(), BUCKET, keys.manifest(backupId), ManifestSchema))!.value;
    const tampered = {
      ...manifest,
      inventory: {
        ...manifest.inventory,
        entries: manifest.inventory.entries.map((e) => (e.name === 'public.orders' ? { ...e, count: (e.count ?? 0) + 1 } : e)),
      },
    };
    await putJson(s3rver.client(), BUCKET, keys.manifest(backupId), tampered);
    const failing = await task('drill', 'orders', pg, s3rver, backupId);
    const failed = await drillRecord(s3rver.client(), backupId);

    // Assess
    expect(passing).toBe(0);
    expect(passed).toMatchObject({ backupId, passed: true, mismatches: [] });
    expect(passed?.restoreSeconds).toBeGreaterThan(0);
    expect(passed?.checks.map((c) => [c.name, c.passed])).toEqual([
      ['restore', true],
      ['postgres: every table readable', true],
      ['postgres: no invalid index', true],
      ['postgres: owners and privileges restored', true],
    ]);
    expect(manifest.inventory.exact).toBe(true);
    expect(failing).toBe(1);
    expect(failed).toMatchObject({ backupId, passed: false, mismatches: [{ name: 'public.orders', expected: 2001, actual: 2000 }] });
  });

  it('drills a PostgreSQL backup with roles, grants, views and a WITH NO DATA matview: roles created, privileges checked, views never run', async () => {
    // Prepare
    const pg = await startPostgres();
    servers.push(pg);
    const client = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'postgres' });
    await client.connect();
    await client.query(`
      CREATE ROLE drill_owner NOLOGIN; CREATE ROLE drill_reader NOLOGIN;
      CREATE TABLE public.sales (id int PRIMARY KEY, amount numeric); INSERT INTO public.sales SELECT g, g * 1.5 FROM generate_series(1, 500) g;
      ALTER TABLE public.sales OWNER TO drill_owner; GRANT SELECT ON public.sales TO drill_reader;
      CREATE FUNCTION public.explode() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the view was executed'; END $$;
      CREATE VIEW public.boom AS SELECT public.explode() AS x FROM public.sales;
      CREATE MATERIALIZED VIEW public.totals AS SELECT sum(amount) AS total FROM public.sales WITH NO DATA;
      CREATE MATERIALIZED VIEW public.big_sales AS SELECT id FROM public.sales WHERE amount > 600;`);
    await client.end();
    const backupId = mintBackupId('ledger', 'full', new Date('2026-03-02T03:00:00Z'));
    expect(await task('backup', 'ledger', pg, s3rver, backupId)).toBe(0);

    // Act
    const passing = await task('drill', 'ledger', pg, s3rver, backupId);
    const passed = await drillRecord(s3rver.client(), backupId);
    const manifest = (await getJson(s3rver.client(), BUCKET, keys.manifest(backupId), ManifestSchema))!.value;
    await putJson(s3rver.client(), BUCKET, keys.manifest(backupId), {
      ...manifest,
      requires: { roles: [...manifest.requires!.roles!, 'pg_monitor'] },
    });
    const failing = await task('drill', 'ledger', pg, s3rver, backupId);
    const failed = await drillRecord(s3rver.client(), backupId);

    // Assess
    expect(manifest.requires?.roles).toEqual(['drill_owner', 'drill_reader', 'postgres']);
    expect(passing).toBe(0);
    expect(passed).toMatchObject({ passed: true, mismatches: [] });
    expect(passed?.checks.map((c) => [c.name, c.passed, c.detail])).toEqual([
      ['restore', true, 'pgdump restored into a throwaway postgres'],
      ['postgres: every table readable', true, '2 relations read in full'],
      ['postgres: no invalid index', true, undefined],
      ['postgres: owners and privileges restored', true, '3 roles named by owners, grants and policies, as in the backup'],
    ]);
    expect(failing).toBe(1);
    expect(failed?.checks.find((c) => c.name === 'postgres: owners and privileges restored')).toEqual({
      name: 'postgres: owners and privileges restored',
      passed: false,
      detail: 'roles no longer named: pg_monitor',
    });
  });

  it('passes a MariaDB backup restored into a throwaway MariaDB', async () => {
    // Prepare
    const maria = await startMariadb();
    servers.push(maria);
    const mysql = await import('mysql2/promise');
    const conn = await mysql.createConnection({
      host: maria.host,
      port: maria.port,
      user: maria.username,
      password: maria.password,
      multipleStatements: true,
    });
    await conn.query(
      'CREATE DATABASE shop; USE shop; CREATE TABLE shop.orders (id int primary key, total decimal(10,2)); INSERT INTO shop.orders SELECT seq, seq * 1.5 FROM seq_1_to_500',
    );
    await conn.end();
    const backupId = mintBackupId('billing', 'full', new Date('2026-03-02T03:00:00Z'));
    expect(await task('backup', 'billing', maria, s3rver, backupId)).toBe(0);

    // Act
    const code = await task('drill', 'billing', maria, s3rver, backupId);

    // Assess
    const record = await drillRecord(s3rver.client(), backupId);
    expect(code).toBe(0);
    expect(record).toMatchObject({ passed: true, mismatches: [] });
    expect(record?.checks.find((c) => c.name === 'mariadb: CHECK TABLE on every table')).toMatchObject({ passed: true });
  });

  describe('a MariaDB schema whose views, triggers, routines and events run as accounts only the source has', () => {
    let maria: EngineServer;
    let backupId: string;

    beforeAll(async () => {
      maria = await startMariadb();
      servers.push(maria);
      const mysql = await import('mysql2/promise');
      const conn = await mysql.createConnection({
        host: maria.host,
        port: maria.port,
        user: maria.username,
        password: maria.password,
        multipleStatements: true,
      });
      await conn.query(`
        CREATE USER 'app'@'localhost'; CREATE ROLE auditor;
        CREATE DATABASE crm; USE crm; GRANT ALL ON crm.* TO 'app'@'localhost'; GRANT SELECT ON crm.* TO auditor;
        CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(40), balance DECIMAL(10,2));
        CREATE TABLE changes (id INT AUTO_INCREMENT PRIMARY KEY, account INT);
        INSERT INTO accounts SELECT seq, CONCAT('account ', seq), seq * 10 FROM seq_1_to_50;
        CREATE DEFINER='app'@'localhost' FUNCTION vat (x DECIMAL(10,2)) RETURNS DECIMAL(10,2) DETERMINISTIC RETURN x * 1.2;
        CREATE DEFINER='app'@'localhost' SQL SECURITY DEFINER VIEW gross AS SELECT id, vat(balance) AS gross FROM accounts;
        CREATE DEFINER=auditor VIEW names AS SELECT id, name FROM accounts;
        CREATE DEFINER='app'@'localhost' TRIGGER accounts_changed AFTER UPDATE ON accounts FOR EACH ROW INSERT INTO changes (account) VALUES (NEW.id);
        CREATE DEFINER='app'@'localhost' PROCEDURE touch (IN which INT) UPDATE accounts SET balance = balance WHERE id = which;
        CREATE DEFINER='app'@'localhost' EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM changes WHERE id < 0;
      `);
      await conn.end();
      backupId = mintBackupId('crm', 'full', new Date('2026-03-04T03:00:00Z'));
      expect(
        await task('backup', 'crm', { ...maria, taskEnv: () => ({ ...maria.taskEnv(), STRONGBOX_DB_NAME: 'crm' }) }, s3rver, backupId),
      ).toBe(0);
    }, 120_000);

    it('passes, creating the accounts in the throwaway server and selecting from every view as its definer', async () => {
      // Prepare
      const manifest = (await getJson(s3rver.client(), BUCKET, keys.manifest(backupId), ManifestSchema))!.value;

      // Act
      const code = await task(
        'drill',
        'crm',
        { ...maria, taskEnv: () => ({ ...maria.taskEnv(), STRONGBOX_DB_NAME: 'crm' }) },
        s3rver,
        backupId,
      );

      // Assess
      const record = await drillRecord(s3rver.client(), backupId);
      expect(manifest.requires?.definers).toEqual(["'app'@'localhost'", "'auditor'"]);
      expect(code, JSON.stringify(record?.checks)).toBe(0);
      expect(record).toMatchObject({ passed: true, mismatches: [] });
      expect(record?.checks.map((c) => [c.name, c.passed, c.detail])).toEqual([
        ['restore', true, 'sql restored into a throwaway mariadb'],
        ['mariadb: CHECK TABLE on every table', true, '2 tables OK'],
        ['mariadb: every view answers SELECT (LIMIT 0)', true, '2 views'],
        ['mariadb: every routine, trigger and event has its DEFINER account', true, '2 routines, 1 trigger, 1 event'],
      ]);
    });

    it('passes a backup whose manifest predates requires.definers and counted its views, reading the accounts from the dump', async () => {
      // Prepare
      const manifest = (await getJson(s3rver.client(), BUCKET, keys.manifest(backupId), ManifestSchema))!.value;
      const { requires: _recorded, ...older } = manifest;
      const olderId = mintBackupId('crm', 'full', new Date('2026-03-05T03:00:00Z'));
      await putJson(s3rver.client(), BUCKET, keys.manifest(olderId), {
        ...older,
        backupId: olderId,
        inventory: {
          ...older.inventory,
          entries: older.inventory.entries.map(({ definitionSha256: _hash, ...e }) => (e.kind === 'view' ? { ...e, count: 50 } : e)),
        },
      });

      // Act
      const code = await task(
        'drill',
        'crm',
        { ...maria, taskEnv: () => ({ ...maria.taskEnv(), STRONGBOX_DB_NAME: 'crm' }) },
        s3rver,
        olderId,
      );

      // Assess
      const record = await drillRecord(s3rver.client(), olderId);
      expect(code, JSON.stringify(record)).toBe(0);
      expect(record).toMatchObject({ passed: true, mismatches: [] });
    });
    it('fails, naming the view, when its DEFINER needs privileges beyond the restored databases (MySQL dumps carry no grants)', async () => {
      // Prepare
      const mysql = await import('mysql2/promise');
      const conn = await mysql.createConnection({ host: maria.host, port: maria.port, user: maria.username, password: maria.password });
      await conn.query('CREATE DATABASE hr');
      await conn.query('CREATE TABLE hr.staff (id INT PRIMARY KEY)');
      await conn.query("GRANT SELECT ON mysql.db TO 'app'@'localhost'");
      await conn.query("CREATE DEFINER='app'@'localhost' SQL SECURITY DEFINER VIEW hr.grantees AS SELECT User FROM mysql.db");
      await conn.end();
      const hrId = mintBackupId('hr', 'full', new Date('2026-03-06T03:00:00Z'));
      const hr = { ...maria, taskEnv: () => ({ ...maria.taskEnv(), STRONGBOX_DB_NAME: 'hr' }) };
      expect(await task('backup', 'hr', hr, s3rver, hrId)).toBe(0);

      // Act
      const code = await task('drill', 'hr', hr, s3rver, hrId);

      // Assess
      const record = await drillRecord(s3rver.client(), hrId);
      expect(code).toBe(1);
      expect(record?.passed).toBe(false);
      expect(record?.checks.find((c) => c.name === 'mariadb: every view answers SELECT (LIMIT 0)')).toMatchObject({
        passed: false,
        detail: expect.stringContaining('hr.grantees: '),
      });
    });
  });

  it('passes a Redis backup loaded by a throwaway redis-server', async () => {
    // Prepare
    const redis = await startRedis();
    servers.push(redis);
    const { Redis } = await import('ioredis');
    const client = new Redis({ host: redis.host, port: redis.port, password: redis.password });
    for (let i = 0; i < 200; i++) {
      await client.set(`session:${i}`, `user-${i}`);
    }
    await client.select(2);
    await client.hset('cart:1', { a: '1', b: '2' });
    client.disconnect();
    const backupId = mintBackupId('sessions', 'full', new Date('2026-03-03T03:00:00Z'));
    expect(await task('backup', 'sessions', redis, s3rver, backupId)).toBe(0);

    // Act
    const code = await task('drill', 'sessions', redis, s3rver, backupId);

    // Assess
    const record = await drillRecord(s3rver.client(), backupId);
    expect(code).toBe(0);
    expect(record).toMatchObject({ passed: true, mismatches: [] });
    // A sample of up to 100 keys per keyspace: 100 from db0, 1 from db2.
    expect(record?.checks.find((c) => c.name.startsWith('redis:'))).toMatchObject({ passed: true, detail: '101 keys read' });
  });
});
