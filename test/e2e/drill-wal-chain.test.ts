import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBaseManifests } from '../../contracts/log-chain';
import { DrillRecordSchema, keys, LatestDrillSchema, ManifestSchema } from '../../contracts/vault';
import { getJson } from '../../contracts/vault-io';
import { parseLsn, walCoordinates } from '../../contracts/wal';
import { type EngineServer, startPostgres } from '../../dev/servers/engines';
import { connect } from '../../engines/postgres/connection';
import { walSegments } from '../../tasks/src/commands/recover-postgres';
import { connectionTo } from '../support/engine-vault';
import { backedUp, causeMessage, type E2e, getBytes, startE2e } from './harness';

/**
 * The PostgreSQL chain drill through the synthesized drill machine on the local runtime: a real PostgreSQL 15
 * (wal_level=replica) with a base taken by the base-backup command, WAL archived by archive-logs and a logical dump
 * by the backup machine. Prepare pairs the dump with the base; the drill restores the dump, recovers base + WAL to
 * the dump's LSN and compares exactly with the dump's inventory, with pg_verifybackup and pg_amcheck. Once one WAL
 * segment's stored bytes are changed, the drill fails and names the WAL file.
 */

let pg: EngineServer;
let client: Client;
let e2e: E2e;
let baseId: string;
let backupId: string;
let ledgerRows: number;

const s3 = () => e2e.strongbox.vault.client();
const bucket = () => e2e.strongbox.app.buckets.primary;
const task = async (command: string) => {
  const run = await e2e.strongbox.runTask('orders', { STRONGBOX_COMMAND: command });
  if (run.exitCode !== 0 || !run.result) {
    throw new Error(`${command} failed: ${run.stderrTail}`);
  }
  return run.result;
};
const drillRecord = async () => (await getJson(s3(), bucket(), keys.drill(backupId), DrillRecordSchema))?.value;
const dumpLsn = async () => (await getJson(s3(), bucket(), keys.manifest(backupId), ManifestSchema))?.value.position?.lsn as string;

beforeAll(async () => {
  pg = await startPostgres();
  client = await connect(connectionTo(pg, 'postgres'));
  // The dev server commits asynchronously; the archiver streams flushed WAL only.
  await client.query('SET synchronous_commit = on');
  await client.query('CREATE TABLE public.ledger (id serial PRIMARY KEY, note text NOT NULL)');
  await client.query('CREATE INDEX ledger_note ON public.ledger (note)');
  await client.query("INSERT INTO public.ledger (note) SELECT 'before ' || g FROM generate_series(1, 400) g");
  e2e = await startE2e([
    {
      name: 'orders',
      server: pg,
      database: 'postgres',
      logs: '{ intervalMinutes: 5, windowDays: 7, baseBackup: { expression: "cron(0 2 * * ? *)" } }',
    },
  ]);
  await task('archive-logs');
  baseId = (await task('base-backup')).baseId as string;
  // Between the base and the dump: inserts, an update and a delete, across a WAL switch, archived in between.
  await client.query("INSERT INTO public.ledger (note) SELECT 'after base ' || g FROM generate_series(1, 300) g");
  await client.query("UPDATE public.ledger SET note = 'updated' WHERE id % 7 = 0");
  await task('archive-logs');
  await client.query('SELECT pg_switch_wal()');
  await client.query('DELETE FROM public.ledger WHERE id % 10 = 0');
  ledgerRows = 700 - 70;
  backupId = await backedUp(e2e.strongbox, 'orders');
  // After the dump: WAL past its LSN, which recovery to that LSN must see to know it got there.
  await client.query("INSERT INTO public.ledger (note) SELECT 'after dump ' || g FROM generate_series(1, 50) g");
  await client.query('SELECT pg_switch_wal()');
  await task('archive-logs');
}, 300_000);

afterAll(async () => {
  await client?.end();
  await e2e?.stop();
  await pg?.stop();
});

describe('PostgreSQL chain drill, end to end', () => {
  it('restores the dump, recovers the base with the WAL to its LSN and agrees with it to the row, pg_verifybackup and pg_amcheck passing', async () => {
    // Prepare
    const outboxBefore = e2e.strongbox.outbox.read().length;
    const manifest = (await getJson(s3(), bucket(), keys.manifest(backupId), ManifestSchema))?.value;

    // Act
    const result = await e2e.strongbox.drill({ database: 'orders', trigger: 'manual' });
    const record = await drillRecord();
    const latest = (await getJson(s3(), bucket(), keys.latestDrill('orders'), LatestDrillSchema))?.value;

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(result.path).toEqual(['Prepare', 'Drill', 'Report', 'Drilled']);
    expect((result.output as { prepared: { recoveryBaseId?: string } }).prepared.recoveryBaseId).toBe(baseId);
    expect(manifest?.inventory).toMatchObject({ exact: true });
    expect(manifest?.inventory.entries.find((e) => e.name === 'public.ledger')?.count).toBe(ledgerRows);
    expect(record).toMatchObject({ backupId, passed: true, mismatches: [] });
    expect(record?.recovery).toMatchObject({
      baseId,
      targetLsn: manifest?.position?.lsn,
      verifybackup: { passed: true },
      amcheck: { passed: true },
      mismatches: [],
    });
    expect(record?.recovery?.walFiles.length).toBeGreaterThanOrEqual(2);
    expect(record?.checks.map((c) => [c.name, c.passed]).slice(-3)).toEqual([
      ['pg_verifybackup', true],
      ['recovery', true],
      ['pg_amcheck', true],
    ]);
    expect(record?.checks.every((c) => c.passed)).toBe(true);
    expect(record?.restoreSeconds).toBeGreaterThanOrEqual(record?.recovery?.recoverySeconds ?? Number.POSITIVE_INFINITY);
    expect(latest).toMatchObject({ backupId, passed: true });
    const chat = e2e.strongbox.outbox.read().slice(outboxBefore);
    expect(chat.map((m) => m.subject)).toEqual(['Strongbox drill passed: orders']);
    expect(chat[0].message).toContain(`Base ${baseId} and ${record?.recovery?.walFiles.length} WAL files recovered to the dump's LSN`);
  });

  it('fails once one WAL segment the recovery replays has its stored bytes changed, naming the WAL file', async () => {
    // Prepare: the file holding the dump's LSN, as the recovery fetches it
    const [base] = await readBaseManifests(s3(), bucket(), 'orders');
    const file = walCoordinates(base.timeline, parseLsn(await dumpLsn()), base.walSegmentBytes).file;
    const segment = (await walSegments(s3(), bucket(), 'orders')).get(file);
    expect(segment).toBeDefined();
    const key = segment?.artifact.key as string;
    const original = await getBytes(s3(), bucket(), key);
    const tampered = Buffer.from(original);
    tampered[tampered.length >> 1] ^= 0xff;
    await s3().send(new PutObjectCommand({ Bucket: bucket(), Key: key, Body: tampered }));

    // Act
    const result = await e2e.strongbox.drill({ database: 'orders', trigger: 'manual' });
    const record = await drillRecord();
    await s3().send(new PutObjectCommand({ Bucket: bucket(), Key: key, Body: original }));

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DrillFailedError');
    expect(causeMessage(result.cause)).toContain(`check recovery failed (WAL could not be delivered intact: ${file}: `);
    expect(record).toMatchObject({ backupId, passed: false, recovery: { baseId } });
    expect(record?.checks.find((c) => c.name === 'restore')?.passed).toBe(true);
    expect(record?.checks.find((c) => !c.passed)?.name).toBe('recovery');
  });
});
