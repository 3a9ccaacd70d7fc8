import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyKey, keys, LatestVerifiedSchema, ManifestSchema, VerificationSchema } from '../../contracts/vault';
import { getJson } from '../../contracts/vault-io';
import { type EngineServer, startMariadb, startPostgres, startRedis } from '../../dev/servers/engines';
import { seedSampleDatabase } from '../../local/demo/seed';
import { type E2e, getBytes, listKeys, startE2e } from './harness';

const HAPPY_PATH = ['Prepare', 'Skipped?', 'Dump', 'Verify', 'Replicate', 'Retain', 'ReleaseLock', 'Notify', 'BackedUp'];

let pg: EngineServer;
let maria: EngineServer;
let redis: EngineServer;
let e2e: E2e;

beforeAll(async () => {
  [pg, maria, redis] = await Promise.all([startPostgres(), startMariadb(), startRedis()]);

  const admin = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'postgres' });
  await admin.connect();
  await admin.query('CREATE DATABASE shop');
  await admin.end();
  await seedSampleDatabase(() => new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'shop' }), {
    scale: 0.01,
  });

  const my = await mysql.createConnection({
    host: maria.host,
    port: maria.port,
    user: maria.username,
    password: maria.password,
    database: 'strongbox',
  });
  await my.query('CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL)');
  await my.query('CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, FOREIGN KEY (customer_id) REFERENCES customers (id))');
  await my.query("INSERT INTO customers VALUES (1, 'Zoë'), (2, 'Jürgen'), (3, '李雷')");
  await my.query('INSERT INTO orders VALUES (10, 1), (11, 1), (12, 3), (13, 2)');
  await my.end();

  const r = new Redis({ host: redis.host, port: redis.port, password: redis.password, lazyConnect: true });
  await r.connect();
  await r.mset('user:1', 'Zoë', 'user:2', 'Jürgen', 'counter', '42');
  await r.hset('cart:1', { sku: 'A-1', qty: '2' });
  await r.quit();

  e2e = await startE2e([
    { name: 'shop', server: pg, database: 'shop' },
    { name: 'billing', server: maria, database: 'strongbox' },
    { name: 'sessions', server: redis },
  ]);
});

afterAll(async () => {
  await e2e?.stop();
  await Promise.all([pg?.stop(), maria?.stop(), redis?.stop()]);
});

async function backupOf(database: string) {
  const execution = await e2e.strongbox.backup({ database, kind: 'full', trigger: 'manual' });
  const backupId = (execution.output as { prepare?: { backupId?: string } } | undefined)?.prepare?.backupId;
  return { execution, backupId: backupId! };
}

function counts(entries: readonly { name: string; count?: number }[]): Record<string, number | undefined> {
  return Object.fromEntries(entries.map((e) => [e.name, e.count]));
}

describe('backup state machine, end to end', () => {
  it('backs up PostgreSQL: dump, verify, replicate, retain, notify; lock released; restorable with the same inventory', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const admin = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE shop_restored');
    await admin.end();

    // Act
    const { execution, backupId } = await backupOf('shop');
    const restore = await e2e.strongbox.runTask('shop', {
      STRONGBOX_COMMAND: 'restore',
      STRONGBOX_BACKUP_ID: backupId,
      STRONGBOX_TARGET_NAME: 'shop_restored',
    });
    const inventory = await e2e.strongbox.runTask('shop', { STRONGBOX_COMMAND: 'inventory', STRONGBOX_TARGET_NAME: 'shop_restored' });

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.path).toEqual(HAPPY_PATH);
    const manifest = (await getJson(s3, bucket, keys.manifest(backupId), ManifestSchema))!.value;
    expect(manifest.engine.name).toBe('postgres');
    expect(manifest.inventory.exact).toBe(true);
    expect(counts(manifest.inventory.entries)).toMatchObject({ 'sales.customers': 1200, 'sales.orders': 3200, 'sales.order_items': 6400 });
    const verification = (await getJson(s3, bucket, keys.verification(backupId), VerificationSchema))!.value;
    expect(verification).toMatchObject({ verified: true, problems: [], sha256: manifest.artifact.sha256, bytes: manifest.artifact.bytes });
    expect((await getJson(s3, bucket, keys.latestVerified('shop'), LatestVerifiedSchema))?.value.backupId).toBe(backupId);
    expect(await listKeys(s3, bucket, 'locks/')).toEqual([]);
    expect(e2e.strongbox.outbox.read().map((m) => m.subject)).toContain('Backup verified and replicated: shop');
    expect(restore.exitCode).toBe(0);
    expect(inventory.exitCode).toBe(0);
    const restored = inventory.result?.inventory as { entries: { name: string; count: number }[] };
    expect(counts(restored.entries)).toEqual(counts(manifest.inventory.entries));
  });

  it('backs up MariaDB with the row counts of its tables in the manifest', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();

    // Act
    const { execution, backupId } = await backupOf('billing');

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.path).toEqual(HAPPY_PATH);
    const manifest = (await getJson(s3, e2e.strongbox.app.buckets.primary, keys.manifest(backupId), ManifestSchema))!.value;
    expect(manifest.engine.name).toBe('mariadb');
    expect(manifest.artifact.format).toBe('sql');
    expect(counts(manifest.inventory.entries)).toMatchObject({ 'strongbox.customers': 3, 'strongbox.orders': 4 });
    const verification = (await getJson(s3, e2e.strongbox.app.buckets.primary, keys.verification(backupId), VerificationSchema))!.value;
    expect(verification.verified).toBe(true);
  });

  it('backs up Redis with its keyspace counted', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();

    // Act
    const { execution, backupId } = await backupOf('sessions');

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.path).toEqual(HAPPY_PATH);
    const manifest = (await getJson(s3, e2e.strongbox.app.buckets.primary, keys.manifest(backupId), ManifestSchema))!.value;
    expect(manifest.engine.name).toBe('redis');
    expect(counts(manifest.inventory.entries)).toMatchObject({ db0: 4 });
    const verification = (await getJson(s3, e2e.strongbox.app.buckets.primary, keys.verification(backupId), VerificationSchema))!.value;
    expect(verification.verified).toBe(true);
  });

  it('replicates every file of a backup byte for byte into the replica bucket', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const { primary, replica } = e2e.strongbox.app.buckets;
    const { execution, backupId } = await backupOf('shop');
    expect(execution.status).toBe('SUCCEEDED');
    const prefix = keys.manifest(backupId).replace(/manifest\.json$/, '');

    // Act
    const replicated = await listKeys(s3, replica, prefix);
    const digests = async (bucket: string) =>
      Object.fromEntries(
        await Promise.all(
          replicated.map(async (key) => [
            key,
            createHash('sha256')
              .update(await getBytes(s3, bucket, key))
              .digest('hex'),
          ]),
        ),
      );

    // Assess
    const files = replicated.map((key) => classifyKey(key)?.file);
    expect(files).toEqual(expect.arrayContaining(['data.pgdump.zst', 'manifest.json']));
    expect(await digests(replica)).toEqual(await digests(primary));
  });

  it('runs the deployed watchdog handler: every database backed up above is within its RPO', async () => {
    // Prepare: the tests above backed up all three databases

    // Act
    const summary = await e2e.strongbox.watchdog();
    const unknown = await e2e.strongbox.invoke('nope', {}).catch((error: Error) => error.message);

    // Assess
    expect(summary).toEqual({ databases: 3, beyondRpo: [] });
    expect(unknown).toMatch(/^no function with its handler in lambdas\/nope\/ in the synthesized app; found: .*watchdog/);
  });
});
