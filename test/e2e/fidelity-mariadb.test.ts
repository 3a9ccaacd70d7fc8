import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillRecordSchema, keys, ManifestSchema } from '../../contracts/vault';
import { getJson } from '../../contracts/vault-io';
import { type EngineServer, startMariadb } from '../../dev/servers/engines';
import { auditOf, backedUp, causeMessage, type E2e, startE2e, targetSecret } from './harness';

/**
 * MariaDB fidelity through the synthesized backup, drill and restore state machines: a schema with routines,
 * triggers, events, views, a sequence, foreign keys, generated columns, several character sets and collations,
 * blobs, JSON and temporal types, whose views, routines, triggers and events run as an account that exists only
 * on the source. Copies are compared with the engine's own tools: CHECKSUM TABLE and SHOW CREATE of every object.
 */

let source: EngineServer;
/** Has the DEFINER account, like a DR server prepared by its DBA. */
let target: EngineServer;
/** Lacks the DEFINER account. */
let bare: EngineServer;
let e2e: E2e;
let targetArn: string;
let bareArn: string;
let backupId: string;
const taskFailures: string[] = [];

const SCHEMA = `
  CREATE USER 'app'@'localhost';
  GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE, TRIGGER, EVENT ON shop.* TO 'app'@'localhost';
  USE shop;
  CREATE TABLE customers (
    id INT AUTO_INCREMENT PRIMARY KEY,
    first_name VARCHAR(60) COLLATE utf8mb4_bin NOT NULL,
    last_name VARCHAR(60) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
    email VARCHAR(200) CHARACTER SET latin1 COLLATE latin1_general_cs,
    full_name VARCHAR(121) AS (CONCAT(first_name, ' ', last_name)) VIRTUAL,
    email_domain VARCHAR(200) CHARACTER SET latin1 AS (SUBSTRING_INDEX(email, '@', -1)) STORED,
    profile JSON CHECK (JSON_VALID(profile)),
    photo MEDIUMBLOB,
    born DATE, wakes TIME(3), since YEAR, seen DATETIME(6),
    updated TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    INDEX by_domain (email_domain)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='people who buy';
  CREATE TABLE orders (
    id INT AUTO_INCREMENT PRIMARY KEY,
    customer_id INT NOT NULL,
    amount DECIMAL(12,2) NOT NULL,
    status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new',
    tags SET('gift','rush','fragile'),
    flags BIT(8) NOT NULL DEFAULT b'00000101',
    ratio DOUBLE,
    CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
  ) ENGINE=InnoDB;
  CREATE TABLE order_log (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT NOT NULL, at DATETIME(6) NOT NULL DEFAULT NOW(6));
  CREATE TABLE notes (id INT PRIMARY KEY, body TEXT) ENGINE=MyISAM DEFAULT CHARSET=latin1 COLLATE=latin1_german1_ci;
  CREATE TABLE attachments (id INT PRIMARY KEY, body BLOB NOT NULL);
  CREATE SEQUENCE invoice_numbers START WITH 1000 INCREMENT BY 10;
  INSERT INTO customers (first_name, last_name, email, profile, photo, born, wakes, since, seen)
    SELECT CONCAT('Zoë ', seq), CONCAT('Ångström-李', seq), CONCAT('user', seq, '@example', seq % 7, '.com'),
           JSON_OBJECT('n', seq, 'tags', JSON_ARRAY('a', seq), 'nested', JSON_OBJECT('ok', seq % 2 = 0)),
           IF(seq % 5 = 0, NULL, RANDOM_BYTES(200 + seq)), DATE('1970-01-01') + INTERVAL seq DAY,
           SEC_TO_TIME(seq * 37.123), 1901 + seq % 254, TIMESTAMP('2026-01-01 00:00:00.123456') + INTERVAL seq SECOND
    FROM seq_1_to_200;
  INSERT INTO orders (customer_id, amount, status, tags, flags, ratio)
    SELECT 1 + seq % 200, seq * 1.25, ELT(1 + seq % 3, 'new', 'paid', 'shipped'), IF(seq % 4 = 0, 'gift,rush', NULL), seq % 256, seq / 7
    FROM seq_1_to_1000;
  INSERT INTO notes SELECT seq, CONCAT('Größe ', REPEAT('ß', seq % 30)) FROM seq_1_to_50;
  INSERT INTO attachments SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_6000;
  DO NEXTVAL(invoice_numbers);
  CREATE DEFINER='app'@'localhost' FUNCTION gross (net DECIMAL(12,2)) RETURNS DECIMAL(12,2) DETERMINISTIC SQL SECURITY INVOKER
    RETURN ROUND(net * 1.2, 2);
  CREATE DEFINER='app'@'localhost' PROCEDURE pay (IN which INT) MODIFIES SQL DATA UPDATE orders SET status = 'paid' WHERE id = which;
  CREATE DEFINER='app'@'localhost' SQL SECURITY DEFINER VIEW customer_totals AS
    SELECT c.id, c.full_name, COUNT(o.id) AS orders, gross(COALESCE(SUM(o.amount), 0)) AS gross
    FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.full_name;
  CREATE DEFINER='app'@'localhost' TRIGGER orders_logged AFTER INSERT ON orders FOR EACH ROW INSERT INTO order_log (order_id) VALUES (NEW.id);
  CREATE DEFINER='app'@'localhost' TRIGGER customers_lower BEFORE INSERT ON customers FOR EACH ROW SET NEW.email = LOWER(NEW.email);
  CREATE DEFINER='app'@'localhost' EVENT purge_log ON SCHEDULE EVERY 1 DAY STARTS '2026-01-01 03:00:00' DO DELETE FROM order_log WHERE at < NOW() - INTERVAL 90 DAY;
`;

/** A small database whose view takes 3 s to answer: the backup must not run it. */
const CATALOG = `
  GRANT SELECT ON catalog.* TO 'app'@'localhost';
  USE catalog;
  CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40));
  INSERT INTO items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_6;
  CREATE DEFINER='app'@'localhost' VIEW slow_items AS SELECT id, name FROM items WHERE SLEEP(0.5) = 0;
`;

async function query<T = mysql.RowDataPacket>(server: EngineServer, sql: string, database?: string): Promise<T[]> {
  const c = await mysql.createConnection({
    host: server.host,
    port: server.port,
    user: server.username,
    password: server.password,
    database,
    multipleStatements: true,
    dateStrings: true,
  });
  try {
    return (await c.query(sql))[0] as T[];
  } finally {
    await c.end();
  }
}

const databases = async (server: EngineServer) =>
  (await query<{ s: string }>(server, 'SELECT schema_name AS s FROM information_schema.schemata ORDER BY 1')).map((r) => r.s);

/**
 * Every object of `database` as the engine itself describes it: SHOW CREATE of each table, view, sequence, routine,
 * trigger (without its creation time) and event, CHECKSUM TABLE of each table, and each sequence's state.
 * `tables` limits the tables, views and sequences (and triggers) to those named.
 */
async function fingerprint(server: EngineServer, database: string, tables?: readonly string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const db = `\`${database}\``;
  const objects = await query<{ name: string; type: string }>(
    server,
    `SELECT table_name AS name, table_type AS type FROM information_schema.tables WHERE table_schema = '${database}' ORDER BY 1`,
  );
  for (const { name, type } of objects.filter((o) => !tables || tables.includes(o.name))) {
    if (type === 'VIEW') {
      const [view] = await query(server, `SHOW CREATE VIEW ${db}.\`${name}\``);
      out[`view ${name}`] = [view['Create View'], view.character_set_client, view.collation_connection];
    } else if (type === 'SEQUENCE') {
      out[`sequence ${name}`] = [
        (await query(server, `SHOW CREATE SEQUENCE ${db}.\`${name}\``))[0]['Create Table'],
        await query(server, `SELECT * FROM ${db}.\`${name}\``),
      ];
    } else {
      out[`table ${name}`] = [
        (await query(server, `SHOW CREATE TABLE ${db}.\`${name}\``))[0]['Create Table'],
        (await query(server, `CHECKSUM TABLE ${db}.\`${name}\` EXTENDED`))[0].Checksum,
      ];
    }
  }
  const triggers = await query<{ name: string; table: string }>(
    server,
    `SELECT trigger_name AS name, event_object_table AS \`table\` FROM information_schema.triggers WHERE trigger_schema = '${database}' ORDER BY 1`,
  );
  for (const trigger of triggers.filter((t) => !tables || tables.includes(t.table))) {
    const [shown] = await query(server, `SHOW CREATE TRIGGER ${db}.\`${trigger.name}\``);
    out[`trigger ${trigger.name}`] = [shown['SQL Original Statement'], shown.sql_mode, shown.character_set_client];
  }
  const routines = await query<{ name: string; type: string }>(
    server,
    `SELECT routine_name AS name, routine_type AS type FROM information_schema.routines WHERE routine_schema = '${database}' ORDER BY 1`,
  );
  for (const { name, type } of routines) {
    const [shown] = await query(server, `SHOW CREATE ${type} ${db}.\`${name}\``);
    out[`${type.toLowerCase()} ${name}`] = [shown[`Create ${type === 'FUNCTION' ? 'Function' : 'Procedure'}`], shown.sql_mode];
  }
  for (const { name } of await query<{ name: string }>(
    server,
    `SELECT event_name AS name FROM information_schema.events WHERE event_schema = '${database}' ORDER BY 1`,
  )) {
    const [shown] = await query(server, `SHOW CREATE EVENT ${db}.\`${name}\``);
    out[`event ${name}`] = [shown['Create Event'], shown.sql_mode, shown.time_zone];
  }
  return out;
}

/** Seconds of the raw pipeline `mariadb-dump (the task's flags) shop | zstd -3 -T0 > /dev/null`, best of two. */
function rawDumpSeconds(server: EngineServer, flags: readonly string[]): number {
  const directory = mkdtempSync(join(tmpdir(), 'strongbox-raw-'));
  const options = join(directory, 'client.cnf');
  writeFileSync(options, `[client]\nuser=${server.username}\npassword=${server.password}\n`, { mode: 0o600 });
  try {
    const once = () => {
      const started = Date.now();
      const run = spawnSync(
        'bash',
        [
          '-o',
          'pipefail',
          '-c',
          'f="$1"; p="$2"; shift 2; mariadb-dump --defaults-extra-file="$f" -h 127.0.0.1 -P "$p" "$@" | zstd -q -3 -T0 > /dev/null',
          'raw-dump',
          options,
          String(server.port),
          ...flags,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      expect(run.status, run.stderr.toString()).toBe(0);
      return (Date.now() - started) / 1000;
    };
    return Math.min(once(), once());
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Overwrites the stored artifact of `id` in the vault (Verify has passed already) with `corrupt` of its bytes. */
async function corruptArtifact(id: string, corrupt: (bytes: Buffer) => Buffer): Promise<void> {
  const s3 = e2e.strongbox.vault.client();
  const bucket = e2e.strongbox.app.buckets.primary;
  const manifest = (await getJson(s3, bucket, keys.manifest(id), ManifestSchema))!.value;
  const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifest.artifact.key }));
  const bytes = Buffer.from(await stored.Body!.transformToByteArray());
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifest.artifact.key, Body: corrupt(bytes) }));
}

const restore = (input: Record<string, unknown>) => e2e.strongbox.restore({ database: 'shop', backupId, ...input });

beforeAll(async () => {
  [source, target, bare] = await Promise.all([startMariadb(), startMariadb(), startMariadb()]);
  await query(source, 'CREATE DATABASE shop');
  await query(source, SCHEMA);
  await query(source, 'CREATE DATABASE catalog');
  await query(source, CATALOG);
  await query(target, "CREATE USER 'app'@'localhost'; GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE, TRIGGER ON *.* TO 'app'@'localhost'");
  e2e = await startE2e(
    [
      { name: 'shop', server: source, database: 'shop' },
      { name: 'catalog', server: source, database: 'catalog' },
    ],
    {
      onTaskFailure: (failure) => taskFailures.push(failure.stderrTail),
    },
  );
  targetArn = targetSecret(e2e.strongbox, 'shop-target', target);
  bareArn = targetSecret(e2e.strongbox, 'shop-bare', bare);
  backupId = await backedUp(e2e.strongbox, 'shop');
}, 300_000);

afterAll(async () => {
  await e2e?.stop();
  await Promise.all([source?.stop(), target?.stop(), bare?.stop()]);
});

describe('MariaDB fidelity through the state machines', () => {
  it('backs up without running the views: within a second of raw mariadb-dump | zstd, the slow view listed without a count', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const manifestOf = async (id: string) =>
      (await getJson(s3, e2e.strongbox.app.buckets.primary, keys.manifest(id), ManifestSchema))!.value;
    const started = Date.now();
    await query(source, 'SELECT COUNT(*) FROM catalog.slow_items');
    const viewSeconds = (Date.now() - started) / 1000;

    // Act
    const manifests = [
      await manifestOf(await backedUp(e2e.strongbox, 'catalog')),
      await manifestOf(await backedUp(e2e.strongbox, 'catalog')),
    ];
    const flags = manifests[0].tool.args.slice(manifests[0].tool.args.indexOf('--single-transaction'));
    const raw = rawDumpSeconds(source, flags);

    // Assess
    expect(viewSeconds).toBeGreaterThan(2.5);
    expect(Math.min(...manifests.map((m) => m.durationSeconds))).toBeLessThan(raw + 1);
    expect(manifests[0].inventory.entries).toEqual([
      { name: 'catalog.items', kind: 'table', count: 6 },
      { name: 'catalog.slow_items', kind: 'view', definitionSha256: expect.stringMatching(/^[a-f0-9]{64}$/) },
    ]);
    expect(manifests[0].requires).toEqual({ definers: ["'app'@'localhost'"] });
  });

  it('records the whole schema in the manifest: tables counted, views listed with definition hashes, the DEFINER account', async () => {
    // Act
    const manifest = (await getJson(
      e2e.strongbox.vault.client(),
      e2e.strongbox.app.buckets.primary,
      keys.manifest(backupId),
      ManifestSchema,
    ))!.value;

    // Assess
    expect(Object.fromEntries(manifest.inventory.entries.map((e) => [e.name, e.count ?? e.kind]))).toEqual({
      'shop.attachments': 6000,
      'shop.customer_totals': 'view',
      'shop.customers': 200,
      'shop.invoice_numbers': 1,
      'shop.notes': 50,
      'shop.order_log': 0,
      'shop.orders': 1000,
    });
    expect(manifest.inventory.entries.find((e) => e.kind === 'view')?.definitionSha256).toMatch(/^[a-f0-9]{64}$/);
    expect(manifest.requires).toEqual({ definers: ["'app'@'localhost'"] });
  });

  it('drills the backup: the DEFINER account exists only on the source, and the views, routines, triggers and events are exercised', async () => {
    // Act
    const drill = await e2e.strongbox.drill({ database: 'shop', trigger: 'manual' });

    // Assess
    const record = (await getJson(e2e.strongbox.vault.client(), e2e.strongbox.app.buckets.primary, keys.drill(backupId), DrillRecordSchema))
      ?.value;
    expect(drill.status, drill.cause).toBe('SUCCEEDED');
    expect(record).toMatchObject({ backupId, passed: true, mismatches: [] });
    expect(record?.checks.map((c) => [c.name, c.passed, c.detail])).toEqual([
      ['restore', true, 'sql restored into a throwaway mariadb'],
      ['mariadb: CHECK TABLE on every table', true, '5 tables OK, 1 whose engine has no CHECK (shop.invoice_numbers)'],
      ['mariadb: every view answers SELECT (LIMIT 0)', true, '1 view'],
      ['mariadb: every routine, trigger and event has its DEFINER account', true, '2 routines, 2 triggers, 1 event'],
    ]);
  });

  it('round-trips the whole database: CHECKSUM TABLE and SHOW CREATE of every object equal the source', async () => {
    // Act
    const result = await restore({ target: { host: target.host, port: target.port, database: 'shop', secretArn: targetArn } });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    const [copy, original] = [await fingerprint(target, 'shop'), await fingerprint(source, 'shop')];
    expect(Object.keys(copy)).toHaveLength(12);
    expect(copy).toEqual(original);
    expect(await query(target, 'SELECT * FROM shop.customer_totals ORDER BY id LIMIT 3')).toEqual(
      await query(source, 'SELECT * FROM shop.customer_totals ORDER BY id LIMIT 3'),
    );
  });

  it('round-trips two tables with include into another database: they, their triggers and the routines equal the source; no event', async () => {
    // Act
    const result = await restore({
      target: { host: target.host, port: target.port, database: 'shop_tables', secretArn: targetArn },
      include: ['shop.customers', 'shop.orders'],
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    const copy = await fingerprint(target, 'shop_tables');
    const original = await fingerprint(source, 'shop', ['customers', 'orders']);
    delete original['event purge_log'];
    expect(Object.keys(copy).sort()).toEqual([
      'function gross',
      'procedure pay',
      'table customers',
      'table orders',
      'trigger customers_lower',
      'trigger orders_logged',
    ]);
    expect(copy).toEqual(original);
  });

  it('refuses a console restore into a server without the DEFINER account, naming it, before anything is written', async () => {
    // Prepare
    const before = await databases(bare);

    // Act
    const result = await restore({ target: { host: bare.host, port: bare.port, database: 'shop', secretArn: bareArn } });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreRefusedError');
    expect(causeMessage(result.cause)).toContain(
      `into ${bare.host}:${bare.port}/shop: the target lacks the DEFINER account 'app'@'localhost'`,
    );
    expect(result.path).not.toContain('Restore');
    expect(await databases(bare)).toEqual(before);
  });

  it('with definers "ignore" restores into that server, and the audit record and the chat message name the account', async () => {
    // Prepare
    const outboxBefore = e2e.strongbox.outbox.read().length;

    // Act
    const result = await restore({
      target: { host: bare.host, port: bare.port, database: 'shop', secretArn: bareArn },
      definers: 'ignore',
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await auditOf(e2e.strongbox, 'shop', result.name)).toMatchObject({
      outcome: 'restored',
      ignoredDefiners: ["'app'@'localhost'"],
    });
    const chat = e2e.strongbox.outbox.read().slice(outboxBefore);
    expect(chat.map((m) => m.message).join('\n')).toContain(
      "The target lacks the DEFINER account 'app'@'localhost' (definers: \\\"ignore\\\")",
    );
    expect(Number((await query<{ n: number }>(bare, 'SELECT COUNT(*) AS n FROM shop.orders'))[0].n)).toBe(1000);
    await expect(query(bare, 'SELECT * FROM shop.customer_totals LIMIT 1')).rejects.toThrow(
      "The user specified as a definer ('app'@'localhost') does not exist",
    );
  });

  it('a restore that fails late (the tail of a 6 MB artifact corrupt) leaves the target as it was: the tables it wrote are dropped', async () => {
    // Prepare
    const late = await backedUp(e2e.strongbox, 'shop');
    await corruptArtifact(late, (bytes) => {
      const copy = Buffer.from(bytes);
      copy.fill(0x5a, 5 * 1024 * 1024);
      return copy;
    });
    const before = await databases(target);
    taskFailures.length = 0;

    // Act
    const result = await restore({
      backupId: late,
      target: { host: target.host, port: target.port, database: 'shop_late', secretArn: targetArn },
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(taskFailures.join('\n')).toContain('checksum mismatch');
    expect(taskFailures.join('\n')).toMatch(
      /dropped database `shop_late`, which this restore had created \(it held [1-6] tables? when the restore failed\)/,
    );
    expect(await databases(target)).toEqual(before);
  });

  it('a corrupt artifact (garbage from its first byte) leaves no database behind', async () => {
    // Prepare
    const corrupt = await backedUp(e2e.strongbox, 'shop');
    await corruptArtifact(corrupt, (bytes) => Buffer.alloc(bytes.length, 0x5a));
    const before = await databases(target);

    // Act
    const result = await restore({
      backupId: corrupt,
      target: { host: target.host, port: target.port, database: 'shop_garbage', secretArn: targetArn },
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(await databases(target)).toEqual(before);
  });

  it('a late failure into an existing empty database leaves it empty, with its character set', async () => {
    // Prepare
    const late = await backedUp(e2e.strongbox, 'shop');
    await corruptArtifact(late, (bytes) => {
      const copy = Buffer.from(bytes);
      copy.fill(0x5a, 5 * 1024 * 1024);
      return copy;
    });
    await query(target, 'CREATE DATABASE shop_empty CHARACTER SET latin1 COLLATE latin1_swedish_ci');

    // Act
    const result = await restore({
      backupId: late,
      target: { host: target.host, port: target.port, database: 'shop_empty', secretArn: targetArn },
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(await query(target, "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'shop_empty'")).toEqual([
      { n: 0 },
    ]);
    expect(
      await query(target, "SELECT default_collation_name AS c FROM information_schema.schemata WHERE schema_name = 'shop_empty'"),
    ).toEqual([{ c: 'latin1_swedish_ci' }]);
  });
});
