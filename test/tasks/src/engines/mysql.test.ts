import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpFlags, positionFromDumpHead, type ServerInfo, SqlSelection, tlsFlags } from '../../../../tasks/src/engines/mysql';
import { type EngineServer, startMariadb } from '../../../support/engines';
import { type LocalS3, startS3rver } from '../../../support/s3rver';
import { baseEnv, runTask } from '../../run-task';

const MYSQL_8_4: ServerInfo = {
  flavour: 'mysql',
  version: '8.4.3 (MySQL Community Server - GPL)',
  numeric: [8, 4, 3],
  logBin: true,
  gtidMode: true,
};

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

describe('dump task entrypoint with MariaDB', () => {
  let source: EngineServer;
  let target: EngineServer;
  let s3: LocalS3;
  const env = (server: EngineServer, extra: Record<string, string>) => ({
    ...baseEnv(),
    ...server.taskEnv(),
    STRONGBOX_DATABASE: 'shop',
    STRONGBOX_VAULT_BUCKET: 'vault',
    STRONGBOX_S3_ENDPOINT: s3.endpoint,
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
