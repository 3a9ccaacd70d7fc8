import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineServer, startMariadb } from '../../dev/servers/engines';
import { auditOf, backedUp, causeMessage, type E2e, startE2e, targetSecret } from './harness';

/**
 * Restore to an instant, a position and a GTID, end to end on the synthesized restore machine: a real full dump
 * of MariaDB with log_bin/ROW, the real log-archive run, then Resolve's plan and the task's dump-plus-replay into
 * another MariaDB server, exact to the row.
 */

let source: EngineServer;
let target: EngineServer;
let conn: mysql.Connection;
let e2e: E2e;
let secretArn: string;
const at: Record<string, number> = {};
const gtids: Record<string, string> = {};
const positions: Record<string, { file: string; position: number }> = {};

async function nextSecond(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
}

const secondOf = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString();

async function write(name: string, sql: string): Promise<void> {
  const [status] = await conn.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
  positions[name] = { file: String(status[0].File), position: Number(status[0].Position) };
  at[name] = Date.now();
  await conn.query(sql);
  const [gtid] = await conn.query<mysql.RowDataPacket[]>('SELECT @@gtid_binlog_pos AS g');
  gtids[name] = String(gtid[0].g);
}

async function rowsIn(database: string): Promise<string[]> {
  const c = await mysql.createConnection({ host: target.host, port: target.port, user: target.username, password: target.password });
  try {
    const [rows] = await c.query<mysql.RowDataPacket[]>(`SELECT id, note FROM \`${database}\`.ledger ORDER BY id`);
    return rows.map((r) => `${r.id}:${r.note}`);
  } finally {
    await c.end();
  }
}

async function databaseExists(database: string): Promise<boolean> {
  const c = await mysql.createConnection({ host: target.host, port: target.port, user: target.username, password: target.password });
  try {
    const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = ?', [
      database,
    ]);
    return Number(rows[0].n) > 0;
  } finally {
    await c.end();
  }
}

const into = (database: string) => ({ host: target.host, port: target.port, database, secretArn });

/** Returns once mariadb-dump is reading `table`: its snapshot is taken, and a write now is after it. */
async function whileDumping(table: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND info LIKE CONCAT('%FROM `', ?, '`%')",
      [table],
    );
    if (Number(rows[0].n) > 0) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`mariadb-dump never read ${table}`);
}

beforeAll(async () => {
  [source, target] = await Promise.all([startMariadb({ binlogFormat: 'ROW' }), startMariadb({ logBin: false })]);
  conn = await mysql.createConnection({
    host: source.host,
    port: source.port,
    user: source.username,
    password: source.password,
    database: 'strongbox',
  });
  await conn.query('CREATE TABLE ledger (id INT PRIMARY KEY, note VARCHAR(20))');
  await conn.query("INSERT INTO ledger VALUES (1, 'before')");
  // Enough rows that the dump reads for a while, so a write can land while it runs, after its snapshot.
  await conn.query('CREATE TABLE filler (id INT PRIMARY KEY, pad CHAR(200))');
  await conn.query("INSERT INTO filler SELECT seq, REPEAT('x', 200) FROM seq_1_to_100000");
  await conn.query('CREATE TABLE during_dump (id INT PRIMARY KEY, note VARCHAR(20))');
  e2e = await startE2e([{ name: 'billing', server: source, database: 'strongbox', logs: '{ intervalMinutes: 5, windowDays: 7 }' }]);
  secretArn = targetSecret(e2e.strongbox, 'pitr-target', target);
  at.full = Date.now();
  const backup = backedUp(e2e.strongbox, 'billing');
  await whileDumping('filler');
  await conn.query("INSERT INTO during_dump VALUES (1, 'during')");
  await backup;
  await nextSecond();
  await write('two', "INSERT INTO ledger VALUES (2, 'after')");
  await nextSecond();
  await write('three', "INSERT INTO ledger VALUES (3, 'after')");
  await nextSecond();
  await write('delete', 'DELETE FROM ledger');
  const archived = await e2e.strongbox.stateMachine('log-archive').execute({ database: 'billing', trigger: 'manual' });
  if (archived.status !== 'SUCCEEDED') {
    throw new Error(`log archiving failed: ${archived.cause}`);
  }
}, 300_000);

afterAll(async () => {
  await conn?.end();
  await e2e?.stop();
  await Promise.all([source?.stop(), target?.stop()]);
});

describe('restore machine: restore to an instant, a position or a GTID', () => {
  it('restores to an instant between two known writes, exact to the row', async () => {
    // Act
    const result = await e2e.strongbox.restore({ database: 'billing', pointInTime: secondOf(at.two), target: into('at_two') });

    // Assess
    expect(result.status, causeMessage(result.cause)).toBe('SUCCEEDED');
    expect(await rowsIn('at_two')).toEqual(['1:before', '2:after']);
  });

  it('replays a write made during the full dump, after its snapshot, exactly once', async () => {
    // Act: the dump's snapshot lacks the row; replay from the dump's coordinates must bring it, and only once
    // (a replay starting before the snapshot would insert it twice and fail on the primary key).
    const result = await e2e.strongbox.restore({ database: 'billing', pointInTime: secondOf(at.two), target: into('during') });

    // Assess
    expect(result.status, causeMessage(result.cause)).toBe('SUCCEEDED');
    const c = await mysql.createConnection({ host: target.host, port: target.port, user: target.username, password: target.password });
    try {
      const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT id, note FROM during.during_dump');
      expect(rows.map((r) => `${r.id}:${r.note}`)).toEqual(['1:during']);
      const [filler] = await c.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM during.filler');
      expect(Number(filler[0].n)).toBe(100_000);
    } finally {
      await c.end();
    }
  });

  it('restores to one second before a destructive DELETE, without the DELETE', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'billing',
      pointInTime: secondOf(at.delete - 1000),
      target: into('before_delete'),
    });

    // Assess
    expect(result.status, causeMessage(result.cause)).toBe('SUCCEEDED');
    expect(await rowsIn('before_delete')).toEqual(['1:before', '2:after', '3:after']);
    // The audit trail names the stop and every segment replayed after the full dump.
    const audit = await auditOf(e2e.strongbox, 'billing', result.name);
    expect(audit?.outcome).toBe('restored');
    expect(audit?.replay?.stop).toEqual({ kind: 'instant', at: secondOf(at.delete - 1000) });
    expect(audit?.replay?.segmentIds.length).toBeGreaterThan(0);
    expect(audit?.replay?.segmentIds.every((id) => id.startsWith('billing-'))).toBe(true);
  });

  it('restores by GTID and by position', async () => {
    // Act
    const byGtid = await e2e.strongbox.restore({ database: 'billing', gtid: gtids.two, target: into('by_gtid') });
    const byPosition = await e2e.strongbox.restore({ database: 'billing', position: positions.delete, target: into('by_position') });

    // Assess
    expect(byGtid.status, causeMessage(byGtid.cause)).toBe('SUCCEEDED');
    expect(await rowsIn('by_gtid')).toEqual(['1:before', '2:after']);
    expect(byPosition.status, causeMessage(byPosition.cause)).toBe('SUCCEEDED');
    expect(await rowsIn('by_position')).toEqual(['1:before', '2:after', '3:after']);
  });

  it('returns the plan of a dry run and touches nothing', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'billing',
      pointInTime: secondOf(at.three),
      target: into('dry_run'),
      dryRun: true,
    });
    const resolved = (result.output as { resolved?: { replay?: { segmentIds: string[]; stop: unknown; expectedEnd?: unknown } } }).resolved;

    // Assess
    expect(result.status, causeMessage(result.cause)).toBe('SUCCEEDED');
    expect(result.path.at(-1)).toBe('Planned');
    expect(result.path).not.toContain('Guard');
    expect(resolved?.replay?.stop).toEqual({ kind: 'instant', at: secondOf(at.three) });
    expect(resolved?.replay?.segmentIds.length).toBeGreaterThan(0);
    expect(resolved?.replay?.expectedEnd).toBeDefined();
    expect(await databaseExists('dry_run')).toBe(false);
  });

  it('refuses an instant outside the restorable ranges and lists them', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'billing',
      pointInTime: new Date(at.full - 3_600_000).toISOString(),
      target: into('too_early'),
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(causeMessage(result.cause)).toMatch(
      /pointInTime: found "[^"]+"; expected an instant in the restorable ranges of "billing": \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ to \d{4}/,
    );
    expect(await databaseExists('too_early')).toBe(false);
  });
});
