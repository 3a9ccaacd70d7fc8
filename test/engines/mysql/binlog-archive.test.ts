import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineServer, startMariadb } from '../../../dev/servers/engines';
import { credentialsFile } from '../../../engines/mysql/adapter';
import { describeBinlog, listBinaryLogs, planArchive, readArgs, readBinlog } from '../../../engines/mysql/binlog-archive';
import { connect } from '../../../engines/mysql/connection';

const LOGS = [
  { file: 'binlog.000003', size: 5000 },
  { file: 'binlog.000004', size: 900 },
  { file: 'binlog.000005', size: 385 },
];

describe('planArchive', () => {
  it('starts a first run at the oldest file the server has, every file but the last closed', () => {
    // Prepare
    const cursor = undefined;

    // Act
    const plan = planArchive(cursor, LOGS);

    // Assess
    expect(plan).toEqual({
      reads: [
        { file: 'binlog.000003', start: 4, end: 5000, closed: true },
        { file: 'binlog.000004', start: 4, end: 900, closed: true },
        { file: 'binlog.000005', start: 4, end: 385, closed: false },
      ],
    });
  });

  it('continues from the cursor and leaves out a slice with nothing new', () => {
    // Prepare
    const cursor = { file: 'binlog.000005', position: 385 };

    // Act
    const quiet = planArchive(cursor, LOGS);
    const mid = planArchive({ file: 'binlog.000004', position: 700 }, LOGS);

    // Assess
    expect(quiet).toEqual({ reads: [] });
    expect(mid.reads).toEqual([
      { file: 'binlog.000004', start: 700, end: 900, closed: true },
      { file: 'binlog.000005', start: 4, end: 385, closed: false },
    ]);
  });

  it('reports a purged file and a reset log as a broken chain, and resumes at the next file the server has', () => {
    // Prepare
    const purged = { file: 'binlog.000002', position: 1200 };
    const reset = { file: 'binlog.000004', position: 4000 };

    // Act
    const afterPurge = planArchive(purged, LOGS);
    const afterReset = planArchive(reset, LOGS);

    // Assess
    expect(afterPurge.broken).toEqual({
      reason: "binary log binlog.000002 was purged before it was archived (the server's oldest is binlog.000003)",
      resumedAt: { file: 'binlog.000003', position: 4 },
    });
    expect(afterPurge.reads[0]).toEqual({ file: 'binlog.000003', start: 4, end: 5000, closed: true });
    expect(afterReset.broken?.reason).toBe(
      'binary log binlog.000004 ends at 900, before the archived position 4000: the log was reset or replaced',
    );
    expect(afterReset.reads.map((r) => r.file)).toEqual(['binlog.000005']);
  });
});

describe('reading binlog slices from MariaDB 10.11', () => {
  let source: EngineServer;
  let replica: EngineServer;
  let conn: mysql.Connection;
  let work: string;
  const connectionOf = (s: EngineServer) => ({
    host: s.host,
    port: s.port,
    username: s.username,
    password: s.password,
    tls: 'disable' as const,
  });

  beforeAll(async () => {
    [source, replica] = await Promise.all([startMariadb({ binlogFormat: 'ROW' }), startMariadb({ logBin: false })]);
    conn = await connect(connectionOf(source));
    work = mkdtempSync(join(tmpdir(), 'strongbox-binlog-test-'));
  });

  afterAll(async () => {
    await conn?.end();
    await Promise.all([source?.stop(), replica?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it('archives a closed file and the growing tail as contiguous slices that the stock tools replay exactly', async () => {
    // Prepare
    await conn.query('CREATE TABLE strongbox.t (id INT PRIMARY KEY, v VARCHAR(20))');
    for (let i = 1; i <= 5; i += 1) {
      await conn.query('INSERT INTO strongbox.t VALUES (?, ?)', [i, `first-${i}`]);
    }
    await conn.query('FLUSH BINARY LOGS');
    await conn.query("INSERT INTO strongbox.t VALUES (6, 'second-6'), (7, 'second-7')");
    const logs = await listBinaryLogs(conn);
    const before = planArchive(undefined, logs);
    const dir1 = mkdtempSync(join(work, 'run1-'));

    // Act
    const slices = [];
    for (const read of before.reads) {
      const { path, args } = await readBinlog(connectionOf(source), 'mariadb', read, dir1);
      slices.push({ read, path, args, contents: await describeBinlog(path) });
    }
    await conn.query("UPDATE strongbox.t SET v = 'third' WHERE id = 1");
    const tail = slices[1];
    const cursor = { file: tail.read.file, position: tail.contents.endPosition };
    const after = planArchive(cursor, await listBinaryLogs(conn));
    const dir2 = mkdtempSync(join(work, 'run2-'));
    const next = await readBinlog(connectionOf(source), 'mariadb', after.reads[0], dir2);
    const nextContents = await describeBinlog(next.path);
    const [gtid] = await conn.query<mysql.RowDataPacket[]>('SELECT @@gtid_binlog_pos AS g');

    // Assess
    expect(before.reads.map((r) => [r.file, r.start, r.closed])).toEqual([
      ['binlog.000001', 4, true],
      ['binlog.000002', 4, false],
    ]);
    expect(slices[0].contents.rotatedTo).toEqual({ file: 'binlog.000002', position: 4 });
    expect(slices[0].contents.endPosition).toBe(logs[0].size);
    expect(slices[1].contents.rotatedTo).toBeUndefined();
    // The raw copy runs to the file's end when read: a binlog checkpoint the server writes after a rotation may follow the listing.
    expect(slices[1].contents.endPosition).toBeGreaterThanOrEqual(logs[1].size);
    expect(slices[0].contents.serverId).toBe(1);
    expect(Date.parse(slices[0].contents.firstEventAt as string)).toBeLessThanOrEqual(Date.parse(slices[1].contents.lastEventAt as string));
    expect(Math.abs(Date.parse(slices[1].contents.lastEventAt as string) - Date.now())).toBeLessThan(120_000);
    expect(after.reads).toEqual([{ file: 'binlog.000002', start: tail.contents.endPosition, end: after.reads[0].end, closed: false }]);
    expect(nextContents.events).toBeGreaterThan(0);
    expect(nextContents.gtid?.last).toBe(gtid[0].g);
    expect(slices[1].contents.gtid?.last).not.toBe(gtid[0].g);
    for (const s of [...slices, { args: next.args }]) {
      expect(s.args.join(' ')).not.toContain(source.password);
    }
    // The stock-tools escape hatch: the three slices, in order, rebuild the table on another server.
    const sql = execFileSync('mariadb-binlog', [slices[0].path, slices[1].path, next.path], { maxBuffer: 64 * 1024 * 1024 });
    const credentials = credentialsFile(connectionOf(replica));
    try {
      execFileSync('mariadb', [`--defaults-extra-file=${credentials.path}`, '--host=127.0.0.1', `--port=${replica.port}`], { input: sql });
      const rows = execFileSync(
        'mariadb',
        [
          `--defaults-extra-file=${credentials.path}`,
          '--host=127.0.0.1',
          `--port=${replica.port}`,
          '-N',
          '-e',
          'SELECT id, v FROM strongbox.t ORDER BY id',
        ],
        { encoding: 'utf8' },
      );
      expect(rows.trim().split('\n')).toEqual([
        '1\tthird',
        '2\tfirst-2',
        '3\tfirst-3',
        '4\tfirst-4',
        '5\tfirst-5',
        '6\tsecond-6',
        '7\tsecond-7',
      ]);
    } finally {
      credentials.remove();
    }
  });

  it('sees a binlog the server purged before it was archived as a broken chain', async () => {
    // Prepare
    const logs = await listBinaryLogs(conn);
    const cursor = { file: logs[0].file, position: 4 };
    await conn.query('FLUSH BINARY LOGS');
    const newest = (await listBinaryLogs(conn)).at(-1)?.file as string;
    // MariaDB keeps a file until its binlog checkpoint (InnoDB's flush, asynchronous here) has moved past it.
    for (let attempt = 0; attempt < 80; attempt += 1) {
      await conn.query(`PURGE BINARY LOGS TO '${newest}'`);
      if ((await listBinaryLogs(conn))[0].file !== logs[0].file) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    // Act
    // The oldest file left is read back, not assumed: the checkpoint may still hold the one before the newest.
    const left = await listBinaryLogs(conn);
    const plan = planArchive(cursor, left);

    // Assess
    expect(left.map((l) => l.file)).not.toContain(logs[0].file);
    expect(plan.broken).toEqual({
      reason: `binary log ${logs[0].file} was purged before it was archived (the server's oldest is ${left[0].file})`,
      resumedAt: { file: left[0].file, position: 4 },
    });
    expect(plan.reads.at(-1)?.file).toBe(newest);
  });
});

describe('readArgs', () => {
  it('names host, port, TLS and the slice, and never the password', () => {
    // Prepare
    const connection = { host: 'db.internal', port: 3307, username: 'backup', password: 'hunter2', tls: 'require' as const };

    // Act
    const args = readArgs(connection, 'mariadb', { file: 'binlog.000009', start: 385, end: 900, closed: false }, '/work/run');

    // Assess
    expect(args).toEqual([
      '--read-from-remote-server',
      '--raw',
      '--host=db.internal',
      '--port=3307',
      '--ssl',
      '--start-position=385',
      '--result-file=/work/run/',
      'binlog.000009',
    ]);
    expect(args.join(' ')).not.toContain('hunter2');
  });
});
