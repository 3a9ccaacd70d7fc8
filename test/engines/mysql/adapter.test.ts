import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillRecordSchema, FailureRecordSchema, keys, ManifestSchema, mintBackupId } from '../../../contracts/vault';
import { getJson, putJson } from '../../../contracts/vault-io';
import { type EngineServer, startMariadb } from '../../../dev/servers/engines';
import { type LocalS3, startS3rver } from '../../../dev/servers/s3rver';
import {
  DumpDefiners,
  dumpFlags,
  largeStdoutBlocks,
  mysqlAdapter,
  positionFromDumpHead,
  type ServerInfo,
  SqlSelection,
  tlsFlags,
} from '../../../engines/mysql/adapter';
import { baseEnv, runTask } from '../../tasks/run-task';

const MYSQL_8_4: ServerInfo = {
  flavour: 'mysql',
  version: '8.4.3 (MySQL Community Server - GPL)',
  numeric: [8, 4, 3],
  logBin: true,
  gtidMode: true,
};

/**
 * Backup ids are minted to the second, and two quick backups of one database in the same second would share an id:
 * the second would overwrite the first (on AWS, Prepare mints from the execution's start time under the lock).
 * Every backup here that names no id gets its own second.
 */
let backupsMinted = 0;
const ownBackupId = (database: string, extra: Record<string, string>) =>
  extra.STRONGBOX_COMMAND === 'backup' && !extra.STRONGBOX_BACKUP_ID
    ? { STRONGBOX_BACKUP_ID: mintBackupId(database, 'full', new Date(Date.UTC(2026, 10, 1) + 1000 * backupsMinted++)) }
    : {};

/** The task entrypoint's environment for one database of `server`, its vault on `s3`. */
const entryEnv = (server: EngineServer, s3: LocalS3, database: string, extra: Record<string, string>) => ({
  ...baseEnv(),
  ...server.taskEnv(),
  STRONGBOX_DATABASE: database,
  STRONGBOX_VAULT_BUCKET: 'vault',
  STRONGBOX_S3_ENDPOINT: s3.endpoint,
  ...ownBackupId(database, extra),
  ...extra,
});
const connect = (server: EngineServer) =>
  mysql.createConnection({
    host: server.host,
    port: server.port,
    user: server.username,
    password: server.password,
    multipleStatements: true,
  });
const manifestIn = async (s3: LocalS3, backupId: string) =>
  (await getJson(s3.client(), 'vault', keys.manifest(backupId), ManifestSchema))!.value;

describe('MySQL/MariaDB dump flags', () => {
  it('uses --source-data and a commented GTID set on MySQL 8.4 with GTID mode', () => {
    // Prepare
    const info = MYSQL_8_4;
    // Act
    const flags = dumpFlags(info);
    // Assess
    expect(flags).toEqual(
      expect.arrayContaining([
        '--single-transaction',
        '--routines',
        '--triggers',
        '--events',
        '--source-data=2',
        '--set-gtid-purged=COMMENTED',
      ]),
    );
    expect(flags).not.toContain('--master-data=2');
  });

  it('uses --master-data and GTID off on MySQL 8.0.20, and --master-data --gtid on MariaDB', () => {
    // Prepare
    const old: ServerInfo = { ...MYSQL_8_4, numeric: [8, 0, 20] };
    const maria: ServerInfo = { flavour: 'mariadb', version: '10.11.6-MariaDB', numeric: [10, 11, 6], logBin: true, gtidMode: false };
    // Act
    const oldFlags = dumpFlags(old);
    const mariaFlags = dumpFlags(maria);
    // Assess
    expect(oldFlags).toEqual(expect.arrayContaining(['--master-data=2', '--set-gtid-purged=OFF']));
    expect(mariaFlags).toEqual(expect.arrayContaining(['--master-data=2', '--gtid']));
    expect(dumpFlags({ ...maria, logBin: false })).not.toContain('--master-data=2');
  });

  it("makes the dump tool write 64 KiB stdout blocks through coreutils' stdbuf library, and runs it as it is without one", () => {
    // Prepare
    const present = [execFileSync('which', ['ls']).toString().trim()];

    // Act
    const withLibrary = largeStdoutBlocks(['/nonexistent/libstdbuf.so', ...present]);
    const without = largeStdoutBlocks(['/nonexistent/libstdbuf.so']);

    // Assess
    expect(withLibrary).toEqual({ LD_PRELOAD: expect.stringMatching(new RegExp(`^${present[0]}`)), _STDBUF_O: '65536' });
    expect(without).toEqual({});
  });

  it('maps TLS settings to each client flavour', () => {
    // Prepare, Act, Assess
    expect(tlsFlags('mysql', 'verify-full')).toEqual(['--ssl-mode=VERIFY_IDENTITY']);
    expect(tlsFlags('mariadb', 'disable')).toEqual(['--skip-ssl']);
  });

  it('reads binlog coordinates and GTID from the dump head of either flavour', () => {
    // Prepare
    const maria = "-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000002', MASTER_LOG_POS=1234;\n-- SET GLOBAL gtid_slave_pos='0-1-42';";
    const mysql8 = "-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='mysql-bin.000007', SOURCE_LOG_POS=157;";
    // Act
    const a = positionFromDumpHead(maria);
    const b = positionFromDumpHead(mysql8);
    // Assess
    expect(a).toEqual({ binlogFile: 'binlog.000002', binlogPosition: 1234, gtid: '0-1-42' });
    expect(b).toEqual({ binlogFile: 'mysql-bin.000007', binlogPosition: 157 });
    expect(positionFromDumpHead('-- nothing here')).toBeUndefined();
  });

  it('selects databases and tables from a multi-database dump stream', async () => {
    // Prepare
    const dump = [
      'SET NAMES utf8mb4;',
      'CREATE DATABASE `a`;',
      'USE `a`;',
      '-- Table structure for table `t1`',
      'CREATE TABLE t1 (id int);',
      '-- Table structure for table `t2`',
      'CREATE TABLE t2 (id int);',
      'CREATE DATABASE `b`;',
      'USE `b`;',
      '-- Table structure for table `t3`',
      'CREATE TABLE t3 (id int);',
      '',
    ].join('\n');
    const filter = new SqlSelection(['a.t2']);
    // Act
    const chunks: Buffer[] = [];
    filter.on('data', (c: Buffer) => chunks.push(c));
    filter.end(Buffer.from(dump));
    await new Promise((r) => filter.on('end', r));
    const out = Buffer.concat(chunks).toString();
    // Assess
    expect(out).toContain('CREATE TABLE t2');
    expect(out).not.toContain('CREATE TABLE t1');
    expect(out).not.toContain('CREATE TABLE t3');
    expect(out).toContain('SET NAMES utf8mb4;');
  });
});

describe('DEFINER accounts in a dump text (manifests without requires.definers)', () => {
  it('finds every clause, including one split between two chunks, and a role without host', async () => {
    // Prepare
    const text = [
      '/*!50013 DEFINER=`app`@`localhost` SQL SECURITY DEFINER */',
      `INSERT INTO t VALUES ('${'x'.repeat(3000)}');`,
      "CREATE DEFINER=`o'ps`@`%` PROCEDURE `p`()",
      '/*!50001 CREATE ALGORITHM=UNDEFINED DEFINER=`auditor` SQL SECURITY DEFINER VIEW `v` AS select 1 */;',
      '',
    ].join('\n');
    const bytes = Buffer.from(text);
    const split = bytes.indexOf('localhost') + 3;
    const scanner = new DumpDefiners();

    // Act
    for (const chunk of [bytes.subarray(0, split), bytes.subarray(split, 3100), bytes.subarray(3100)]) {
      scanner.write(chunk);
    }
    await new Promise((resolve) => scanner.end(resolve));

    // Assess
    expect(scanner.definers()).toEqual(["'app'@'localhost'", "'auditor'", "'o''ps'@'%'"]);
  });
});

describe('SqlSelection of one table', () => {
  const dump = [
    '-- Sequence structure for `invoice_numbers`',
    'CREATE SEQUENCE `invoice_numbers` start with 10;',
    '-- Table structure for table `orders`',
    'CREATE TABLE `orders` (id int);',
    '-- Dumping data for table `orders`',
    'INSERT INTO `orders` VALUES (1);',
    '-- Table structure for table `zones`',
    'CREATE TABLE `zones` (id int);',
    "-- Dumping events for database 'shop'",
    '/*!50106 CREATE*/ /*!50106 EVENT `purge` ON SCHEDULE EVERY 1 DAY DO DELETE FROM zones */ ;;',
    "-- Dumping routines for database 'shop'",
    'CREATE DEFINER=`app`@`localhost` FUNCTION `gross`(x INT) RETURNS int RETURN x;',
    '',
  ].join('\n');
  const select = async (include: string[]) => {
    const filter = new SqlSelection(include, 'shop');
    const chunks: Buffer[] = [];
    filter.on('data', (c: Buffer) => chunks.push(c));
    filter.end(Buffer.from(dump));
    await new Promise((r) => filter.on('end', r));
    return Buffer.concat(chunks).toString();
  };

  it('keeps the table and the routines (its triggers and views may call them), but no other sequence and no event', async () => {
    // Act
    const out = await select(['shop.orders']);

    // Assess
    expect(out).toContain('CREATE TABLE `orders`');
    expect(out).toContain('INSERT INTO `orders`');
    expect(out).toContain('FUNCTION `gross`');
    expect(out).not.toContain('CREATE SEQUENCE');
    expect(out).not.toContain('EVENT `purge`');
    expect(out).not.toContain('zones` (id');
  });

  it('keeps a selected sequence, and everything for a whole database', async () => {
    // Act
    const sequence = await select(['shop.invoice_numbers']);
    const whole = await select(['shop']);

    // Assess
    expect(sequence).toContain('CREATE SEQUENCE `invoice_numbers`');
    expect(sequence).not.toContain('CREATE TABLE');
    expect(whole).toBe(dump);
  });
});

describe('dump task entrypoint with MariaDB', () => {
  let source: EngineServer;
  let target: EngineServer;
  let s3: LocalS3;
  const env = (server: EngineServer, extra: Record<string, string>) => entryEnv(server, s3, 'shop', extra);

  beforeAll(async () => {
    [source, target, s3] = await Promise.all([startMariadb(), startMariadb(), startS3rver(['vault'])]);
    const conn = await connect(source);
    await conn.query(`
      CREATE DATABASE shop CHARACTER SET utf8mb4; CREATE DATABASE crm CHARACTER SET utf8mb4;
      CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(100), note TEXT NULL, photo BLOB NULL, big LONGTEXT NULL) CHARACTER SET utf8mb4;
      INSERT INTO shop.customers VALUES (1, 'Zoë Ångström 🚀 日本語', NULL, x'00ff10ab00', NULL), (2, 'O''Brien "q" \\\\ b', 'tab\\tnl\\n', NULL, REPEAT('large-', 400000)), (3, 'plain', '', x'', NULL);
      CREATE TABLE shop.orders (id INT PRIMARY KEY, customer_id INT, total DECIMAL(10,2), FOREIGN KEY (customer_id) REFERENCES shop.customers (id));
      CREATE TABLE shop.audit (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT);
      CREATE TRIGGER shop.orders_audit AFTER INSERT ON shop.orders FOR EACH ROW INSERT INTO shop.audit (order_id) VALUES (NEW.id);
      INSERT INTO shop.orders SELECT seq, 1 + seq % 3, seq * 1.5 FROM shop.seq_1_to_3000;
      CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE total > 3000;
      CREATE FUNCTION shop.double_it (x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
      CREATE TABLE crm.contacts (id INT PRIMARY KEY, email VARCHAR(100)); INSERT INTO crm.contacts VALUES (1, 'a@example.com'), (2, NULL);
    `);
    await conn.end();
  });
  afterAll(async () => {
    await s3?.stop();
    await source?.stop();
    await target?.stop();
  });

  it('round-trips several databases into a new instance with identical inventory, rows, binary data, trigger and function', async () => {
    // Prepare
    const backup = await runTask(env(source, { STRONGBOX_COMMAND: 'backup' }));
    expect(backup.code, backup.stderr).toBe(0);
    // Act
    const restore = await runTask(
      env(source, {
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_BACKUP_ID: String(backup.result.backupId),
        STRONGBOX_TARGET_HOST: target.host,
        STRONGBOX_TARGET_PORT: String(target.port),
        STRONGBOX_DB_PASSWORD: target.password,
      }),
    );
    // Assess
    expect(restore.code, restore.stderr).toBe(0);
    const before = await runTask(env(source, { STRONGBOX_COMMAND: 'inventory' }));
    const after = await runTask(env(target, { STRONGBOX_COMMAND: 'inventory' }));
    expect(after.result.inventory).toEqual(before.result.inventory);
    expect((before.result.inventory as { entries: unknown[] }).entries).toHaveLength(5);
    const fingerprint =
      'SELECT MD5(GROUP_CONCAT(id, name, IFNULL(note, "<null>"), IFNULL(HEX(photo), "<null>"), IFNULL(MD5(big), "<null>") ORDER BY id)) AS f FROM shop.customers';
    const [a, b] = await Promise.all([connect(source), connect(target)]);
    expect((await b.query(fingerprint))[0]).toEqual((await a.query(fingerprint))[0]);
    await b.query('INSERT INTO shop.orders VALUES (9999, 1, 1)');
    expect((await b.query('SELECT COUNT(*) AS n, shop.double_it(21) AS d FROM shop.audit'))[0]).toEqual([{ n: 3001, d: 42 }]);
    await Promise.all([a.end(), b.end()]);
  });

  it('records the binlog position and GTID in the manifest', async () => {
    // Prepare
    const run = env(source, { STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_NAME: 'crm' });
    // Act
    const out = await runTask(run);
    // Assess
    expect(out.code, out.stderr).toBe(0);
    const manifest = JSON.parse(
      await (
        await s3
          .client()
          .send(
            new (
              await import('@aws-sdk/client-s3')
            ).GetObjectCommand({ Bucket: 'vault', Key: String(out.result.key).replace(/data\.sql\.zst$/, 'manifest.json') }),
          )
      ).Body!.transformToString(),
    );
    expect(manifest.position.binlogFile).toMatch(/^binlog\.\d+$/);
    expect(manifest.position.binlogPosition).toBeGreaterThan(0);
    expect(manifest.tool.args[0]).toBe('--defaults-extra-file=<0600 option file>');
    expect(JSON.stringify(manifest)).not.toContain(source.password);
  });

  it('restores a single-database backup under a new name, selecting one table', async () => {
    // Prepare
    const backup = await runTask(env(source, { STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_NAME: 'crm' }));
    // Act
    const restore = await runTask(
      env(source, {
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_BACKUP_ID: String(backup.result.backupId),
        STRONGBOX_TARGET_NAME: 'crm_copy',
        STRONGBOX_INCLUDE: '["contacts"]',
      }),
    );
    // Assess
    expect(restore.code, restore.stderr).toBe(0);
    const conn = await connect(source);
    expect((await conn.query('SELECT COUNT(*) AS n FROM crm_copy.contacts'))[0]).toEqual([{ n: 2 }]);
    await conn.end();
  });
});

describe('MariaDB views, DEFINER accounts and failed restores (task entrypoint)', () => {
  let source: EngineServer;
  let target: EngineServer;
  let s3: LocalS3;
  let inventoryBackup: string;
  let bigBackup: string;
  const env = (server: EngineServer, extra: Record<string, string>) => entryEnv(server, s3, 'shop', extra);
  const manifestOf = (backupId: string) => manifestIn(s3, backupId);
  const databasesOf = async (server: EngineServer) => {
    const conn = await connect(server);
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT schema_name AS s FROM information_schema.schemata ORDER BY 1');
    await conn.end();
    return rows.map((r) => String(r.s));
  };
  const restoreInto = (backupId: string, database: string, extra: Record<string, string> = {}) =>
    runTask(
      env(source, {
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_BACKUP_ID: backupId,
        STRONGBOX_TARGET_HOST: target.host,
        STRONGBOX_TARGET_PORT: String(target.port),
        STRONGBOX_TARGET_NAME: database,
        STRONGBOX_DB_PASSWORD: target.password,
        ...extra,
      }),
    );
  /** A second backup whose stored artifact is `backupId`'s, changed by `corrupt`; the manifest keeps the original checksum. */
  const corruptCopy = async (backupId: string, at: string, corrupt: (bytes: Buffer) => Buffer) => {
    const manifest = await manifestOf(backupId);
    const copyId = mintBackupId('shop', 'full', new Date(at));
    const key = keys.artifact(copyId, 'sql');
    const stored = await s3.client().send(new GetObjectCommand({ Bucket: 'vault', Key: manifest.artifact.key }));
    const bytes = corrupt(Buffer.from(await stored.Body!.transformToByteArray()));
    await s3.client().send(new PutObjectCommand({ Bucket: 'vault', Key: key, Body: bytes }));
    await putJson(s3.client(), 'vault', keys.manifest(copyId), { ...manifest, backupId: copyId, artifact: { ...manifest.artifact, key } });
    return copyId;
  };
  /** Garbage from the 5th MiB on: the first MiBs decompress and restore before the checksum fails at the end. */
  const corruptTail = (bytes: Buffer) => {
    const copy = Buffer.from(bytes);
    copy.fill(0x5a, Math.min(5 * 1024 * 1024, copy.length - 1024));
    return copy;
  };

  beforeAll(async () => {
    [source, target, s3] = await Promise.all([startMariadb(), startMariadb(), startS3rver(['vault'])]);
    const conn = await connect(source);
    await conn.query(`
      CREATE USER 'app'@'localhost'; CREATE USER 'ops'@'%';
      CREATE DATABASE inv; USE inv; GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE, TRIGGER, EVENT ON inv.* TO 'app'@'localhost', 'ops'@'%';
      CREATE TABLE inv.items (id INT PRIMARY KEY, name VARCHAR(20));
      CREATE TABLE inv.log (id INT AUTO_INCREMENT PRIMARY KEY, item INT);
      INSERT INTO inv.items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_6;
      CREATE DEFINER='app'@'localhost' VIEW slow_items AS SELECT id, name FROM items WHERE SLEEP(3) = 0;
      CREATE DEFINER='ops'@'%' TRIGGER items_log AFTER INSERT ON items FOR EACH ROW INSERT INTO log (item) VALUES (NEW.id);
      CREATE DEFINER='app'@'localhost' FUNCTION twice (x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
      CREATE DEFINER='ops'@'%' EVENT prune ON SCHEDULE EVERY 1 DAY DO DELETE FROM log WHERE id < 0;
      CREATE DATABASE big; USE big; CREATE TABLE big.a_first (id INT PRIMARY KEY); INSERT INTO big.a_first SELECT seq FROM seq_1_to_10;
      CREATE TABLE big.blobs (id INT PRIMARY KEY, body BLOB); INSERT INTO big.blobs SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_6000;
    `);
    await conn.end();
    const [inv, big] = [
      await runTask(env(source, { STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_NAME: 'inv' })),
      await runTask(env(source, { STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_NAME: 'big' })),
    ];
    expect(inv.code, inv.stderr).toBe(0);
    expect(big.code, big.stderr).toBe(0);
    inventoryBackup = String(inv.result.backupId);
    bigBackup = String(big.result.backupId);
  });
  afterAll(async () => {
    await s3?.stop();
    await source?.stop();
    await target?.stop();
  });

  it('lists a view by a hash of its definition without running it, so a view that takes 18 s costs the backup nothing', async () => {
    // Prepare: one row of the view costs its SLEEP(3); counting all 6 would cost 18 s. The margin is that wide
    // because the backup's own time follows the machine's load, and a loaded CI runner took 6 s for it.
    const conn = await connect(source);
    const started = Date.now();
    await conn.query('SELECT * FROM inv.slow_items LIMIT 1');
    const oneRowSeconds = (Date.now() - started) / 1000;
    await conn.end();

    // Act
    const manifest = await manifestOf(inventoryBackup);

    // Assess
    expect(oneRowSeconds).toBeGreaterThan(2.5);
    expect(manifest.durationSeconds).toBeLessThan(9);
    const entries = Object.fromEntries(manifest.inventory.entries.map((e) => [e.name, e]));
    expect(entries['inv.items']).toEqual({ name: 'inv.items', kind: 'table', count: 6 });
    expect(entries['inv.slow_items']).toEqual({
      name: 'inv.slow_items',
      kind: 'view',
      definitionSha256: expect.stringMatching(/^[a-f0-9]{64}$/),
    });
  });

  it('records the DEFINER accounts of the views, triggers, routines and events it dumped', async () => {
    // Prepare
    const backupId = inventoryBackup;

    // Act
    const manifest = await manifestOf(backupId);

    // Assess
    expect(manifest.requires?.definers).toEqual(["'app'@'localhost'", "'ops'@'%'"]);
  });

  it('refuses, before writing anything, a target that lacks the DEFINER accounts, and names them', async () => {
    // Prepare
    const before = await databasesOf(target);

    // Act
    const run = await restoreInto(inventoryBackup, 'inv_refused');

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("'app'@'localhost', 'ops'@'%'");
    expect(run.stderr).toContain('"definers": "ignore"');
    expect(await databasesOf(target)).toEqual(before);
  });

  it('with STRONGBOX_RESTORE_DEFINERS=ignore restores under another name, and the view hashes as in the manifest', async () => {
    // Prepare
    const manifest = await manifestOf(inventoryBackup);

    // Act
    const run = await restoreInto(inventoryBackup, 'inv_copy', { STRONGBOX_RESTORE_DEFINERS: 'ignore' });
    const after = await runTask(env(target, { STRONGBOX_COMMAND: 'inventory', STRONGBOX_DB_NAME: 'inv_copy' }));

    // Assess
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("'app'@'localhost'");
    const restored = (after.result.inventory as { entries: { name: string; definitionSha256?: string }[] }).entries;
    expect(restored.find((e) => e.name === 'inv_copy.slow_items')?.definitionSha256).toBe(
      manifest.inventory.entries.find((e) => e.name === 'inv.slow_items')?.definitionSha256,
    );
  });

  it('keeps every byte of the dump when `mariadb-dump --version` answers after the dump has started writing', async () => {
    // Prepare
    const shims = mkdtempSync(join(tmpdir(), 'strongbox-shim-'));
    const real = execFileSync('which', ['mariadb-dump']).toString().trim();
    writeFileSync(join(shims, 'mariadb-dump'), `#!/bin/sh\nif [ "$1" = "--version" ]; then sleep 1; fi\nexec ${real} "$@"\n`, {
      mode: 0o755,
    });

    // Act
    const run = await runTask(env(source, { STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_NAME: 'inv', PATH: `${shims}:${process.env.PATH}` }));
    rmSync(shims, { recursive: true, force: true });

    // Assess
    expect(run.code, run.stderr).toBe(0);
    const manifest = await manifestOf(String(run.result.backupId));
    const stored = await s3.client().send(new GetObjectCommand({ Bucket: 'vault', Key: manifest.artifact.key }));
    const text = execFileSync('zstd', ['-d', '-c'], { input: Buffer.from(await stored.Body!.transformToByteArray()) }).toString();
    expect(text.startsWith('/*M!999999')).toBe(true);
    expect(text).toContain('CREATE TABLE `items`');
    expect(text.trimEnd()).toMatch(/-- Dump completed on .+$/);
  });

  it('has the tool version, the DEFINER accounts and the views, read while the tool runs, once done() resolved', async () => {
    // Prepare
    const session = await mysqlAdapter.dump(
      { host: source.host, port: source.port, username: source.username, password: source.password, database: 'inv', tls: 'disable' },
      { redisMode: 'auto' },
    );
    if (session.output.kind !== 'tool' || session.output.stdout === undefined) {
      throw new Error('expected the tool output as an fd');
    }
    const stdin = session.output.stdout;
    const zstd = spawn('zstd', ['-q', '-c'], { stdio: [stdin, 'pipe', 'ignore'] });
    closeSync(stdin);
    const compressed: Buffer[] = [];
    zstd.stdout?.on('data', (chunk: Buffer) => compressed.push(chunk));
    const readEarly = (read: () => unknown) => {
      try {
        read();
        return 'read';
      } catch (error) {
        return (error as Error).message;
      }
    };
    const early = [readEarly(() => session.tool.version), readEarly(() => session.requires)];

    // Act
    await Promise.all([session.done(), new Promise((resolve) => zstd.once('close', resolve))]);
    await session.close();

    // Assess
    expect(early).toEqual([
      'mysql: the tool version was read before done() resolved; it is known once the dump has passed',
      'mysql: the list of DEFINER accounts was read before done() resolved; it is known once the dump has passed',
    ]);
    expect(session.tool.version).toMatch(/^mariadb-dump {2}Ver [\d.]+ Distrib /);
    expect(session.requires?.definers).toEqual(["'app'@'localhost'", "'ops'@'%'"]);
    expect(session.inventory.entries.find((entry) => entry.name === 'inv.slow_items')?.kind).toBe('view');
    expect(execFileSync('zstd', ['-d', '-c'], { input: Buffer.concat(compressed) }).toString()).toContain('CREATE TABLE `items`');
  });

  it('fails a backup whose zstd dies mid-dump: the copy and the tool stop, failure.json and no manifest', async () => {
    // Prepare: a zstd that compresses nothing, reads 1 MB of the ~12 MB dump and fails (the decompressor is real)
    const shims = mkdtempSync(join(tmpdir(), 'strongbox-shim-'));
    const real = execFileSync('which', ['zstd']).toString().trim();
    writeFileSync(
      join(shims, 'zstd'),
      `#!/bin/sh\ncase " $* " in *" -T0 "*) head -c 1000000 >/dev/null; echo "zstd: error 70 : Write error : No space left on device" >&2; exit 1;; esac\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    const backupId = mintBackupId('shop', 'full', new Date('2026-05-02T03:00:00Z'));

    // Act
    const run = await runTask(
      env(source, {
        STRONGBOX_COMMAND: 'backup',
        STRONGBOX_DB_NAME: 'big',
        STRONGBOX_BACKUP_ID: backupId,
        PATH: `${shims}:${process.env.PATH}`,
      }),
    );
    rmSync(shims, { recursive: true, force: true });

    // Assess: the dump tool saw its pipe close (EPIPE) once the copy's write to zstd failed
    expect(run.code, run.stderr).toBe(1);
    const exists = (key: string) =>
      s3
        .client()
        .send(new HeadObjectCommand({ Bucket: 'vault', Key: key }))
        .then(() => true)
        .catch(() => false);
    expect(await exists(keys.manifest(backupId))).toBe(false);
    const failure = FailureRecordSchema.parse(
      JSON.parse(
        await (await s3.client().send(new GetObjectCommand({ Bucket: 'vault', Key: keys.failure(backupId) }))).Body!.transformToString(),
      ),
    );
    expect(failure.phase).toBe('dump');
    expect(failure.message).toMatch(/mariadb-dump|zstd/);
    expect(run.stderr).not.toMatch(/warning/i);
  });

  it('measures throughput over the dump, not over the secret read before it', async () => {
    // Prepare
    const { main } = await import('../../../tasks/src/main');
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:000000000000:secret:shop-AbCdEf';
    const slowSecret = async () => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return JSON.stringify({ username: source.username, password: source.password });
    };
    const backupId = mintBackupId('shop', 'full', new Date('2026-05-01T03:00:00Z'));
    const withoutCredentials: NodeJS.ProcessEnv = {
      ...env(source, {}),
      STRONGBOX_DB_USERNAME: undefined,
      STRONGBOX_DB_PASSWORD: undefined,
    };

    const before = Date.now();

    // Act
    const code = await main(
      {
        ...withoutCredentials,
        STRONGBOX_COMMAND: 'backup',
        STRONGBOX_DB_NAME: 'big',
        STRONGBOX_DB_SECRET_ARN: secretArn,
        STRONGBOX_BACKUP_ID: backupId,
      },
      { s3: s3.client(), readSecret: slowSecret },
    );

    // Assess
    expect(code).toBe(0);
    const manifest = await manifestOf(backupId);
    // The manifest's start, duration and throughput are the dump's: the 1.5 s secret read comes before startedAt.
    expect(Date.parse(manifest.startedAt) - before).toBeGreaterThanOrEqual(1400);
    const dumpSeconds = manifest.artifact.uncompressedBytes / 1e6 / manifest.throughputMBps;
    expect(Math.abs(dumpSeconds - manifest.durationSeconds)).toBeLessThan(Math.max(0.05, manifest.durationSeconds * 0.05));
  });

  it('drops the database a restore created when the artifact is corrupt, and says so', async () => {
    // Prepare
    const corrupt = await corruptCopy(bigBackup, '2026-05-02T03:00:00Z', (bytes) => Buffer.alloc(bytes.length, 0x5a));

    // Act
    const run = await restoreInto(corrupt, 'big_garbage');

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('checksum mismatch');
    expect(run.stderr).toContain('dropped database `big_garbage`, which this restore had created');
    expect(await databasesOf(target)).not.toContain('big_garbage');
  });

  it('drops the tables a late failure had already restored, with the database it created', async () => {
    // Prepare
    const corrupt = await corruptCopy(bigBackup, '2026-05-03T03:00:00Z', corruptTail);

    // Act
    const run = await restoreInto(corrupt, 'big_late');

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('checksum mismatch');
    expect(run.stderr).toMatch(
      /dropped database `big_late`, which this restore had created \(it held [12] tables? when the restore failed\)/,
    );
    expect(await databasesOf(target)).not.toContain('big_late');
  });

  it('empties an existing empty database after a failed restore into it, keeping the database and its character set', async () => {
    // Prepare
    const conn = await connect(target);
    await conn.query('CREATE DATABASE big_existing CHARACTER SET latin1');
    const corrupt = await corruptCopy(bigBackup, '2026-05-04T03:00:00Z', corruptTail);

    // Act
    const run = await restoreInto(corrupt, 'big_existing');

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('removed what this restore had written into the existing empty database `big_existing`');
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'big_existing'",
    );
    const [schema] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT default_character_set_name AS cs FROM information_schema.schemata WHERE schema_name = 'big_existing'",
    );
    await conn.end();
    expect(tables[0].n).toBe(0);
    expect(schema[0].cs).toBe('latin1');
  });

  it('says that an overwritten database may hold a partial restore, because MySQL DDL commits at once', async () => {
    // Prepare
    const conn = await connect(target);
    await conn.query('CREATE DATABASE big_full; CREATE TABLE big_full.keep (id INT)');
    const corrupt = await corruptCopy(bigBackup, '2026-05-05T03:00:00Z', corruptTail);

    // Act
    const run = await restoreInto(corrupt, 'big_full', { STRONGBOX_RESTORE_OVERWRITE: 'true' });

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('database `big_full` held 1 object before the restore');
    expect(run.stderr).toContain('may now hold a partial restore');
    const [kept] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'big_full' AND table_name = 'keep'",
    );
    await conn.end();
    expect(kept[0].n).toBe(1);
  });

  it('takes back a failed multi-database restore: drops the databases its dump created, leaves the others', async () => {
    // Prepare
    const all = await runTask(env(source, { STRONGBOX_COMMAND: 'backup' }));
    expect(all.code, all.stderr).toBe(0);
    const corrupt = await corruptCopy(String(all.result.backupId), '2026-05-06T03:00:00Z', corruptTail);
    const before = await databasesOf(target);

    // Act
    const run = await runTask(
      env(source, {
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_BACKUP_ID: corrupt,
        STRONGBOX_TARGET_HOST: target.host,
        STRONGBOX_TARGET_PORT: String(target.port),
        STRONGBOX_DB_PASSWORD: target.password,
        STRONGBOX_RESTORE_OVERWRITE: 'true',
        STRONGBOX_RESTORE_DEFINERS: 'ignore',
      }),
    );

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/dropped database `big`, which this restore had created \(it held [12] tables? when the restore failed\)/);
    expect(before).not.toContain('big');
    expect(await databasesOf(target)).toEqual(before);
  });
});

describe('MariaDB row counts from the dump stream (task entrypoint)', () => {
  let source: EngineServer;
  let target: EngineServer;
  let s3: LocalS3;
  const env = (server: EngineServer, extra: Record<string, string>) => entryEnv(server, s3, 'live', extra);
  const manifestOf = (backupId: string) => manifestIn(s3, backupId);
  const countOf = async (server: EngineServer, table: string) => {
    const conn = await connect(server);
    const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`);
    await conn.end();
    return Number(rows[0].n);
  };
  const countsIn = (manifest: { inventory: { entries: { name: string; count?: number }[] } }) =>
    Object.fromEntries(manifest.inventory.entries.filter((e) => e.count !== undefined).map((e) => [e.name, e.count]));

  beforeAll(async () => {
    [source, target, s3] = await Promise.all([startMariadb(), startMariadb(), startS3rver(['vault'])]);
    const conn = await connect(source);
    await conn.query(`
      CREATE DATABASE live CHARACTER SET utf8mb4; USE live;
      CREATE TABLE live.events (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT) ENGINE=InnoDB;
      INSERT INTO live.events (body) SELECT CONCAT(REPEAT('row ''(x),', 60), seq) FROM seq_1_to_20000;
      CREATE TABLE live.fixed (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB;
      INSERT INTO live.fixed SELECT seq, CONCAT('fixed;', seq, ')') FROM seq_1_to_1500;
      CREATE TABLE live.nothing (id INT) ENGINE=InnoDB;
      CREATE VIEW live.recent AS SELECT id FROM live.events WHERE id > 100;
    `);
    await conn.end();
  });
  afterAll(async () => {
    await s3?.stop();
    await source?.stop();
    await target?.stop();
  });

  it('records exact counts equal to the dump, not to the live table, while rows are written during the dump', async () => {
    // Prepare
    const writer = await connect(source);
    let writing = true;
    let written = 0;
    const writes = (async () => {
      while (writing) {
        await writer.query("INSERT INTO live.events (body) VALUES ('written during the dump'), ('and another')");
        await writer.query('DELETE FROM live.events ORDER BY id LIMIT 1');
        written++;
      }
    })();
    const before = written;

    // Act
    const backup = await runTask(env(source, { STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_NAME: 'live' }));
    const during = written - before;
    writing = false;
    await writes;
    await writer.end();
    const manifest = await manifestOf(String(backup.result.backupId));
    const restore = await runTask(
      env(source, {
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_BACKUP_ID: String(backup.result.backupId),
        STRONGBOX_TARGET_HOST: target.host,
        STRONGBOX_TARGET_PORT: String(target.port),
        STRONGBOX_DB_PASSWORD: target.password,
        STRONGBOX_TARGET_NAME: 'live_copy',
      }),
    );

    // Assess
    expect(backup.code, backup.stderr).toBe(0);
    expect(restore.code, restore.stderr).toBe(0);
    expect(during).toBeGreaterThan(0);
    expect(manifest.inventory.exact).toBe(true);
    const counts = countsIn(manifest);
    expect(counts['live.events']).toBe(await countOf(target, 'live_copy.events'));
    expect(counts['live.events']).not.toBe(await countOf(source, 'live.events'));
    expect(counts).toEqual({ 'live.events': counts['live.events'], 'live.fixed': 1500, 'live.nothing': 0 });
    expect(await countOf(source, 'live.fixed')).toBe(1500);
    expect(manifest.inventory.entries.find((e) => e.name === 'live.recent')).toMatchObject({ kind: 'view' });
    expect(manifest.inventory.entries.find((e) => e.name === 'live.recent')?.count).toBeUndefined();
  });

  it('drills exactly: a backup whose dump lost one row of 1,500 fails its drill, naming the table', async () => {
    // Prepare
    const backup = await runTask(env(source, { STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_NAME: 'live' }));
    expect(backup.code, backup.stderr).toBe(0);
    const manifest = await manifestOf(String(backup.result.backupId));
    const stored = await s3.client().send(new GetObjectCommand({ Bucket: 'vault', Key: manifest.artifact.key }));
    const text = execFileSync('zstd', ['-d', '-c', '-q'], {
      input: Buffer.from(await stored.Body!.transformToByteArray()),
      maxBuffer: 1 << 30,
    });
    const oneRow = Buffer.from("(7,'fixed;7)'),");
    expect(text.indexOf(oneRow)).toBeGreaterThan(0);
    const shorter = Buffer.concat([text.subarray(0, text.indexOf(oneRow)), text.subarray(text.indexOf(oneRow) + oneRow.length)]);
    const compressed = execFileSync('zstd', ['-3', '-c', '-q'], { input: shorter, maxBuffer: 1 << 30 });
    const lostId = mintBackupId('live', 'full', new Date('2026-06-01T03:00:00Z'));
    const key = keys.artifact(lostId, 'sql');
    await s3.client().send(new PutObjectCommand({ Bucket: 'vault', Key: key, Body: compressed }));
    const { createHash } = await import('node:crypto');
    await putJson(s3.client(), 'vault', keys.manifest(lostId), {
      ...manifest,
      backupId: lostId,
      artifact: {
        ...manifest.artifact,
        key,
        bytes: compressed.length,
        sha256: createHash('sha256').update(compressed).digest('hex'),
        parts: 1,
      },
    });

    // Act
    const whole = await runTask(
      env(source, { STRONGBOX_COMMAND: 'drill', STRONGBOX_BACKUP_ID: manifest.backupId, STRONGBOX_DB_NAME: 'live' }),
    );
    const lost = await runTask(env(source, { STRONGBOX_COMMAND: 'drill', STRONGBOX_BACKUP_ID: lostId, STRONGBOX_DB_NAME: 'live' }));

    // Assess
    expect(whole.code, whole.stderr).toBe(0);
    expect(lost.code).not.toBe(0);
    const record = (await getJson(s3.client(), 'vault', keys.drill(lostId), DrillRecordSchema))!.value;
    expect(record.passed).toBe(false);
    expect(record.mismatches).toEqual([{ name: 'live.fixed', expected: 1500, actual: 1499 }]);
  });
});
