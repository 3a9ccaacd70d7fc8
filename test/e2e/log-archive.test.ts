import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogCursorSchema } from '../../contracts/logs';
import { classifySegmentKey, keys } from '../../contracts/vault';
import { getJson } from '../../contracts/vault-io';
import { type EngineServer, startMariadb } from '../../dev/servers/engines';
import { listBinaryLogs } from '../../engines/mysql/binlog-archive';
import type { TaskOutputLine } from '../../local/bindings';
import { type E2e, listKeys, startE2e } from './harness';

/**
 * The log-archive state machine, end to end on its synthesized definition: the real Prepare takes the archiving
 * lock, the real task archives MariaDB's binlog into the local vault, the backup ReleaseLock frees the lock.
 */

let maria: EngineServer;
let conn: mysql.Connection;
let e2e: E2e;
const lines: TaskOutputLine[] = [];

/** LogChainBroken values the archiving task printed as EMF, in order. */
const chainFlags = () =>
  lines
    .filter((l) => l.stream === 'stdout' && l.json && 'LogChainBroken' in l.json)
    .map((l) => (l.json as Record<string, unknown>).LogChainBroken);

beforeAll(async () => {
  maria = await startMariadb({ binlogFormat: 'ROW' });
  conn = await mysql.createConnection({
    host: maria.host,
    port: maria.port,
    user: maria.username,
    password: maria.password,
    database: 'strongbox',
  });
  await conn.query('CREATE TABLE ledger (id INT PRIMARY KEY, note VARCHAR(20))');
  e2e = await startE2e([{ name: 'billing', server: maria, database: 'strongbox', logs: '{ intervalMinutes: 5, windowDays: 7 }' }], {
    onTaskOutput: (line) => lines.push(line),
  });
}, 240_000);

afterAll(async () => {
  await conn?.end();
  await e2e?.stop();
  await maria?.stop();
});

describe('log-archive state machine, end to end', () => {
  it('archives on two runs with the cursor moving on, then reports a purged binlog as a broken chain', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const machine = e2e.strongbox.stateMachine('log-archive');
    const cursor = async () => (await getJson(s3, bucket, keys.logCursor('billing'), LogCursorSchema))?.value;
    const segments = async (from = bucket) =>
      (await listKeys(s3, from, 'logs/billing/')).filter((key) => classifySegmentKey(key)?.file === 'manifest.json');
    await conn.query("INSERT INTO ledger VALUES (1, 'a')");

    // Act
    const first = await machine.execute({ database: 'billing', trigger: 'manual' });
    const afterFirst = { cursor: await cursor(), segments: await segments() };
    await conn.query("INSERT INTO ledger VALUES (2, 'b')");
    await conn.query('FLUSH BINARY LOGS');
    await conn.query("INSERT INTO ledger VALUES (3, 'c')");
    const second = await machine.execute({ database: 'billing', trigger: 'manual' });
    const afterSecond = { cursor: await cursor(), segments: await segments(), replica: await segments(e2e.strongbox.app.buckets.replica) };
    // Lose a binlog before it is archived: write into the cursor's file, rotate, purge up to the newest.
    await conn.query("INSERT INTO ledger VALUES (4, 'd')");
    await conn.query('FLUSH BINARY LOGS');
    await conn.query("INSERT INTO ledger VALUES (5, 'e')");
    const newest = (await listBinaryLogs(conn)).at(-1)?.file as string;
    for (
      let attempt = 0;
      attempt < 80 && (await listBinaryLogs(conn)).some((l) => l.file === afterSecond.cursor?.next.file);
      attempt += 1
    ) {
      await conn.query(`PURGE BINARY LOGS TO '${newest}'`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const third = await machine.execute({ database: 'billing', trigger: 'manual' });
    const afterThird = await cursor();

    // Assess
    expect(first.status, first.cause).toBe('SUCCEEDED');
    expect(first.path.at(-1)).toBe('Archived');
    expect(first.path).toContain('Archive');
    expect(afterFirst.segments.length).toBeGreaterThan(0);
    expect(second.status, second.cause).toBe('SUCCEEDED');
    expect(afterSecond.segments.length).toBeGreaterThan(afterFirst.segments.length);
    expect(afterSecond.cursor?.next).not.toEqual(afterFirst.cursor?.next);
    expect(afterSecond.cursor?.broken).toBeUndefined();
    expect(second.path).toContain('ReplicateSegments');
    expect(afterSecond.replica).toEqual(afterSecond.segments);
    expect(third.status, third.cause).toBe('SUCCEEDED');
    expect(afterThird?.broken?.resumedAt).toEqual({ file: newest, position: 4 });
    expect(chainFlags()).toEqual([0, 0, 1]);
    expect(await listKeys(s3, bucket, 'locks/')).toEqual([]);
  });
});
