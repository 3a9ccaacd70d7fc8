import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogCoordinates } from '../../../contracts/logs';
import { type EngineServer, startMariadb } from '../../../dev/servers/engines';
import type { Connection } from '../../../engines/connection';
import { credentialsFile, positionFromDumpHead } from '../../../engines/mysql/adapter';
import { describeBinlog, listBinaryLogs, readBinlog } from '../../../engines/mysql/binlog-archive';
import {
  BinlogReplayError,
  binlogEvents,
  includeFilters,
  planBinlogReplay,
  type ReplaySegment,
  replayArgs,
  replayBinlog,
} from '../../../engines/mysql/binlog-replay';
import { connect } from '../../../engines/mysql/connection';

const connectionOf = (s: EngineServer, database?: string): Connection => ({
  host: s.host,
  port: s.port,
  username: s.username,
  password: s.password,
  tls: 'disable',
  ...(database && { database }),
});

/** Waits into the next wall-clock second, so that the next write is logged one second after the last. */
async function nextSecond(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
}

const secondOf = (at: number) => new Date(Math.floor(at / 1000) * 1000).toISOString();

describe('replaying archived binlog segments into MariaDB 10.11', () => {
  let source: EngineServer;
  let target: EngineServer;
  let conn: mysql.Connection;
  let work: string;
  let dumpSql: string;
  let from: LogCoordinates;
  let segments: ReplaySegment[];
  const at: Record<string, number> = {};
  const gtids: Record<string, string> = {};
  const positions: Record<string, LogCoordinates> = {};

  async function write(name: string, sql: string): Promise<void> {
    const [before] = await conn.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
    positions[name] = { file: String(before[0].File), position: Number(before[0].Position) };
    at[name] = Date.now();
    await conn.query(sql);
    const [gtid] = await conn.query<mysql.RowDataPacket[]>('SELECT @@gtid_binlog_pos AS g');
    gtids[name] = String(gtid[0].g);
  }

  /** The target database as the full dump left it: the dump's own SQL, applied into an empty database. */
  async function freshTarget(database: string): Promise<Connection> {
    const admin = await connect(connectionOf(target));
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.query(`CREATE DATABASE \`${database}\``);
    await admin.end();
    const credentials = credentialsFile(connectionOf(target));
    try {
      execFileSync('mariadb', [`--defaults-extra-file=${credentials.path}`, '-h', target.host, '-P', String(target.port), database], {
        input: dumpSql,
      });
    } finally {
      credentials.remove();
    }
    return connectionOf(target, database);
  }

  async function rows(database: string, table = 't'): Promise<string[]> {
    const c = await connect(connectionOf(target));
    try {
      const [result] = await c.query<mysql.RowDataPacket[]>(`SELECT id, v FROM \`${database}\`.\`${table}\` ORDER BY id`);
      return result.map((r) => `${r.id}:${r.v}`);
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    [source, target] = await Promise.all([startMariadb({ binlogFormat: 'ROW' }), startMariadb({ logBin: false })]);
    conn = await connect(connectionOf(source));
    work = mkdtempSync(join(tmpdir(), 'strongbox-replay-test-'));
    await conn.query('CREATE TABLE strongbox.t (id INT PRIMARY KEY, v VARCHAR(20))');
    await conn.query('CREATE TABLE strongbox.u (id INT PRIMARY KEY, v VARCHAR(20))');
    await conn.query("INSERT INTO strongbox.t VALUES (1, 'before'), (2, 'before')");
    const credentials = credentialsFile(connectionOf(source));
    try {
      dumpSql = execFileSync(
        'mariadb-dump',
        [
          `--defaults-extra-file=${credentials.path}`,
          '-h',
          source.host,
          '-P',
          String(source.port),
          '--single-transaction',
          '--master-data=2',
          '--gtid',
          'strongbox',
        ],
        { encoding: 'utf8' },
      );
    } finally {
      credentials.remove();
    }
    const position = positionFromDumpHead(dumpSql);
    from = { file: position?.binlogFile as string, position: position?.binlogPosition as number };
    await nextSecond();
    await write('row3', "INSERT INTO strongbox.t VALUES (3, 'after')");
    await write('u1', "INSERT INTO strongbox.u VALUES (1, 'other')");
    await nextSecond();
    await write('row4', "INSERT INTO strongbox.t VALUES (4, 'after')");
    await write('update', "UPDATE strongbox.t SET v = 'updated' WHERE id = 1");
    // The archiving run's first read ends here: a growing tail, read again from its end by the next run.
    const tailEnd = (await listBinaryLogs(conn)).at(-1) as { file: string; size: number };
    await conn.query('FLUSH BINARY LOGS');
    await nextSecond();
    await write('delete', 'DELETE FROM strongbox.t WHERE id > 1');
    await nextSecond();
    await write('row9', "INSERT INTO strongbox.t VALUES (9, 'late')");
    const logs = await listBinaryLogs(conn);
    const reads = [
      { file: from.file, start: from.position, end: tailEnd.size, closed: false },
      { file: from.file, start: tailEnd.size, end: logs[0].size, closed: true },
      { file: (logs[1] as { file: string }).file, start: 4, end: (logs[1] as { size: number }).size, closed: false },
    ];
    segments = [];
    for (const [index, read] of reads.entries()) {
      const directory = mkdtempSync(join(work, `segment-${index}-`));
      const { path } = await readBinlog(connectionOf(source), 'mariadb', read, directory);
      segments.push({ path, serverFile: read.file, startPosition: read.start });
    }
  });

  afterAll(async () => {
    await conn?.end();
    await Promise.all([source?.stop(), target?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it('reads event headers in server positions, the raw copy starting with its own description event', async () => {
    // Prepare
    const path = segments[0].path;

    // Act
    const events = [...binlogEvents(path)];
    const described = await describeBinlog(path);

    // Assess
    expect(events[0]).toMatchObject({ offset: 4, type: 15, serverEnd: 0 });
    // The first event of the slice sits after the tool's header, at a local offset far from the server's.
    expect(events[1].serverEnd - events[1].length).toBe(from.position);
    expect(events[1].offset).not.toBe(from.position);
    expect(events.at(-1)?.serverEnd).toBe(described.endPosition);
    expect(events.filter((e) => e.gtid).map((e) => e.gtid)).toEqual([gtids.row3, gtids.u1, gtids.row4, gtids.update]);
    expect(readFileSync(path).length).toBe((events.at(-1)?.offset as number) + (events.at(-1)?.length as number));
  });

  it('restores to an instant between two writes exactly to the row: all of that second, nothing of the next', async () => {
    // Prepare
    const into = await freshTarget('instant');

    // Act
    const result = await replayBinlog({
      target: into,
      segments,
      from,
      stop: { kind: 'instant', at: secondOf(at.row3) },
      sourceDatabase: 'strongbox',
    });

    // Assess
    expect(await rows('instant')).toEqual(['1:before', '2:before', '3:after']);
    expect(await rows('instant', 'u')).toEqual(['1:other']);
    expect(result.transactions).toBe(2);
    expect(result.lastApplied?.gtid).toBe(gtids.u1);
    expect(result.firstExcluded?.gtid).toBe(gtids.row4);
    expect(result.files).toEqual([segments[0].path]);
    expect(result.args.join(' ')).toContain('--rewrite-db=strongbox->instant');
    expect(result.args.join(' ')).not.toContain(source.password);
  });

  it('restores to one second before a destructive DELETE without the DELETE, across a rotated file', async () => {
    // Prepare
    const into = await freshTarget('before_delete');
    const oneSecondBefore = secondOf(at.delete - 1000);

    // Act
    const result = await replayBinlog({
      target: into,
      segments,
      from,
      stop: { kind: 'instant', at: oneSecondBefore },
      sourceDatabase: 'strongbox',
    });

    // Assess
    expect(await rows('before_delete')).toEqual(['1:updated', '2:before', '3:after', '4:after']);
    expect(result.lastApplied?.gtid).toBe(gtids.update);
    expect(result.firstExcluded?.gtid).toBe(gtids.delete);
    expect(result.files).toHaveLength(3);
  });

  it('restores up to and including a GTID', async () => {
    // Prepare
    const into = await freshTarget('by_gtid');

    // Act
    const result = await replayBinlog({
      target: into,
      segments,
      from,
      stop: { kind: 'gtid', gtid: gtids.row4 },
      sourceDatabase: 'strongbox',
    });

    // Assess
    expect(await rows('by_gtid')).toEqual(['1:before', '2:before', '3:after', '4:after']);
    expect(result.lastApplied?.gtid).toBe(gtids.row4);
    expect(result.firstExcluded?.gtid).toBe(gtids.update);
  });

  it('restores to a server position: the transaction starting there is left out, in another segment of the same file', async () => {
    // Prepare
    const into = await freshTarget('by_position');

    // Act
    const result = await replayBinlog({
      target: into,
      segments,
      from,
      stop: { kind: 'position', ...positions.delete },
      sourceDatabase: 'strongbox',
    });
    const inside = planBinlogReplay(segments, from, {
      kind: 'position',
      file: positions.delete.file,
      position: positions.delete.position + 50,
    });

    // Assess
    expect(positions.delete.file).not.toBe(from.file);
    expect(await rows('by_position')).toEqual(['1:updated', '2:before', '3:after', '4:after']);
    expect(result.firstExcluded?.gtid).toBe(gtids.delete);
    // A position inside the DELETE's transaction stops before the whole transaction.
    expect(inside.lastApplied).toEqual(result.lastApplied);
    expect(inside.stopOffset).toBe(result.stopOffset);
  });

  it('applies only the included table, under the target name', async () => {
    // Prepare
    const into = await freshTarget('only_u');

    // Act
    const result = await replayBinlog({
      target: into,
      segments,
      from,
      stop: { kind: 'instant', at: secondOf(at.row9) },
      include: ['strongbox.u'],
      sourceDatabase: 'strongbox',
    });

    // Assess
    expect(await rows('only_u')).toEqual(['1:before', '2:before']);
    expect(await rows('only_u', 'u')).toEqual(['1:other']);
    expect(result.args).toContain('--table=u');
  });

  it('refuses a GTID or a position the segments do not hold, and an include the tool cannot filter', () => {
    // Prepare
    const late = { kind: 'position' as const, file: positions.row9.file, position: 1_000_000 };

    // Act
    const missing = () => planBinlogReplay(segments, from, { kind: 'gtid', gtid: '0-1-999' });
    const past = () => planBinlogReplay(segments, from, late);
    const wrongStart = () => planBinlogReplay(segments.slice(1), from, late);
    const two = () => includeFilters(['shop', 'billing']);
    const notBinlog = join(work, 'dump.sql');
    writeFileSync(notBinlog, dumpSql);

    // Assess
    expect(missing).toThrow(BinlogReplayError);
    expect(missing).toThrow(/GTID 0-1-999 is not in the archived log from binlog\.\d+:\d+ to binlog\.\d+:\d+/);
    expect(past).toThrow(/position binlog\.\d+:1000000 is past the archived log, which ends at/);
    expect(wrongStart).toThrow(/the first segment starts at/);
    expect(two).toThrow('include: a replay to an instant selects one database or one table of it');
    expect(includeFilters(['shop'])).toEqual(['--database=shop']);
    expect(() => [...binlogEvents(notBinlog)]).toThrow(`${notBinlog} is not a binlog file (no binlog magic number)`);
  });

  it('replays nothing when the stop comes before the first transaction after the dump', async () => {
    // Prepare
    const into = await freshTarget('nothing');

    // Act
    const result = await replayBinlog({ target: into, segments, from, stop: { kind: 'position', ...positions.row3 } });

    // Assess
    expect(result.files).toEqual([]);
    expect(result.transactions).toBe(0);
    expect(replayArgs(result, { target: into })).toEqual([]);
    expect(await rows('nothing')).toEqual(['1:before', '2:before']);
  });
});
