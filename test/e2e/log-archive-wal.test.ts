import type { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogCursorSchema } from '../../contracts/logs';
import { classifySegmentKey, keys } from '../../contracts/vault';
import { getJson } from '../../contracts/vault-io';
import { walSlotName } from '../../contracts/wal';
import { type EngineServer, startPostgres } from '../../dev/servers/engines';
import { connect } from '../../engines/postgres/connection';
import type { TaskOutputLine } from '../../local/bindings';
import { connectionTo } from '../support/engine-vault';
import { type E2e, listKeys, startE2e } from './harness';

/**
 * The log-archive state machine on its synthesized definition for PostgreSQL: the same Prepare, lock and
 * ReleaseLock as for binlogs, the task archiving WAL from Strongbox's slot into the local vault.
 */

let pgServer: EngineServer;
let pg: Client;
let e2e: E2e;
const lines: TaskOutputLine[] = [];

/** A metric's values as the archiving task printed them (EMF), in order. */
const emitted = (name: string) =>
  lines.filter((l) => l.stream === 'stdout' && l.json && name in l.json).map((l) => (l.json as Record<string, unknown>)[name]);

beforeAll(async () => {
  pgServer = await startPostgres();
  pg = await connect(connectionTo(pgServer, 'postgres'));
  await pg.query('SET synchronous_commit = on');
  await pg.query('CREATE TABLE ledger (id int PRIMARY KEY, note text)');
  e2e = await startE2e(
    [
      {
        name: 'orders',
        server: pgServer,
        database: 'postgres',
        logs: '{ intervalMinutes: 5, windowDays: 7, baseBackup: { expression: "cron(0 2 * * ? *)" } }',
      },
    ],
    { onTaskOutput: (line) => lines.push(line) },
  );
}, 240_000);

afterAll(async () => {
  await pg?.end();
  await e2e?.stop();
  await pgServer?.stop();
});

describe('log-archive state machine for PostgreSQL WAL, end to end', () => {
  it('archives WAL on two runs with the cursor moving on, then reports a dropped slot as a broken chain', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const machine = e2e.strongbox.stateMachine('log-archive');
    const cursor = async () => (await getJson(s3, bucket, keys.logCursor('orders'), LogCursorSchema))?.value;
    const segments = async () =>
      (await listKeys(s3, bucket, 'logs/orders/wal/')).filter((key) => classifySegmentKey(key)?.file === 'manifest.json');
    await pg.query("INSERT INTO ledger VALUES (1, 'a')");

    // Act
    const first = await machine.execute({ database: 'orders', trigger: 'manual' });
    const afterFirst = { cursor: await cursor(), segments: await segments() };
    await pg.query("INSERT INTO ledger SELECT g, 'b' FROM generate_series(2, 1000) g");
    await pg.query('SELECT pg_switch_wal()');
    await pg.query("INSERT INTO ledger VALUES (1001, 'c')");
    const second = await machine.execute({ database: 'orders', trigger: 'manual' });
    const afterSecond = { cursor: await cursor(), segments: await segments() };
    await pg.query(`SELECT pg_drop_replication_slot('${walSlotName('orders')}')`);
    const third = await machine.execute({ database: 'orders', trigger: 'manual' });
    const afterThird = await cursor();

    // Assess
    expect(first.status, first.cause).toBe('SUCCEEDED');
    expect(first.path.at(-1)).toBe('Archived');
    expect(afterFirst.segments.length).toBeGreaterThan(0);
    expect(afterFirst.cursor?.kind).toBe('wal');
    expect(second.status, second.cause).toBe('SUCCEEDED');
    expect(afterSecond.segments.length).toBeGreaterThan(afterFirst.segments.length);
    expect(afterSecond.cursor?.next).not.toEqual(afterFirst.cursor?.next);
    expect(afterSecond.cursor?.broken).toBeUndefined();
    expect(third.status, third.cause).toBe('SUCCEEDED');
    expect(afterThird?.broken?.reason).toMatch(/replication slot strongbox_orders is gone/);
    expect(emitted('LogChainBroken')).toEqual([0, 0, 1]);
    expect(emitted('RetainedWalBytes')).toHaveLength(3);
    expect(await listKeys(s3, bucket, 'locks/')).toEqual([]);
  });
});
