import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogCursorSchema, restorableRanges } from '../../../../contracts/logs';
import { keys } from '../../../../contracts/vault';
import { getJson } from '../../../../contracts/vault-io';
import { DEFAULT_WAL_SEGMENT_BYTES, nextWalFile, parseLsn, walCoordinates, walSlotName } from '../../../../contracts/wal';
import { type EngineServer, startPostgres } from '../../../../dev/servers/engines';
import type { LocalS3 } from '../../../../dev/servers/s3rver';
import { connect } from '../../../../engines/postgres/connection';
import { readSlot } from '../../../../engines/postgres/wal';
import { archiveWal } from '../../../../tasks/src/commands/archive-wal';
import {
  connectionTo,
  type EngineVault,
  failingManifests,
  objectBytes,
  segmentManifests,
  startEngineVault,
} from '../../../support/engine-vault';
import { emittedMetrics, runTask, vaultTaskEnv } from '../../run-task';

const BUCKET = 'vault';
const DB = 'orders';
const SLOT = walSlotName(DB);

describe('archiveWal on PostgreSQL 15 into the local vault', () => {
  let vault: EngineVault;
  let server: EngineServer;
  let s3rver: LocalS3;
  let s3: S3Client;
  let pg: Client;
  let work: string;
  const connection = () => connectionTo(server, 'postgres');
  const run = (client: S3Client = s3, database = DB) =>
    archiveWal({ s3: client, bucket: BUCKET, database, connection: connection(), compressionLevel: 3, workDir: work });
  const cursorOf = async (database = DB) => (await getJson(s3, BUCKET, keys.logCursor(database), LogCursorSchema))?.value;
  const currentLsn = async () => parseLsn((await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn);
  const manifests = (database = DB) => segmentManifests(s3, BUCKET, `logs/${database}/`);

  beforeAll(async () => {
    vault = await startEngineVault(startPostgres, BUCKET, 'strongbox-wal-test-');
    ({ server, s3rver, s3, work } = vault);
    pg = await connect(connection());
    // The test server commits asynchronously; this session's commits are flushed, so a run right after sees them.
    await pg.query('SET synchronous_commit = on');
    await pg.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
  });

  afterAll(async () => {
    await pg?.end();
    await vault?.stop();
  });

  it('creates its slot on the first run and archives from the slot to the flush LSN', async () => {
    // Prepare
    await pg.query("INSERT INTO t VALUES (1, 'a')");

    // Act
    const result = await run();

    // Assess
    const slot = await readSlot(pg, SLOT);
    expect(slot.exists).toBe(true);
    expect(result.broken).toBeUndefined();
    expect(result.segments.length).toBeGreaterThanOrEqual(1);
    const tail = result.segments.at(-1);
    expect(tail?.closed).toBe(false);
    expect(tail?.startPosition).toBe(0);
    expect(result.cursor.next).toEqual(tail?.next);
    expect(result.cursor.kind).toBe('wal');
    // The slot moved to the cursor only once the vault had the WAL.
    expect(walCoordinates(1, slot.restartLsn as bigint)).toEqual(result.cursor.next);
  });

  it('uploads a completed file and the new tail as contiguous whole WAL files with their checksums', async () => {
    // Prepare
    const before = await cursorOf();
    await pg.query("INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(2, 2000) g");
    await pg.query('SELECT pg_switch_wal()');
    await pg.query("INSERT INTO t VALUES (5000, 'after the switch')");

    // Act
    const result = await run();

    // Assess
    const files = result.segments.map((s) => [s.serverFile, s.closed]);
    expect(files).toEqual([
      [before?.next.file, true],
      [nextWalFile(before?.next.file as string), false],
    ]);
    expect(result.segments[0].next).toEqual({ file: result.segments[1].serverFile, position: 0 });
    expect(result.segments[0].endPosition).toBe(DEFAULT_WAL_SEGMENT_BYTES);
    expect(result.segments[1].tool.args.join(' ')).not.toContain(server.password);
    for (const segment of result.segments) {
      const bytes = await objectBytes(s3, BUCKET, segment.artifact.key);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(segment.artifact.sha256);
      expect(segment.artifact.uncompressedBytes).toBe(DEFAULT_WAL_SEGMENT_BYTES);
    }
    // Run 1's tail and run 2's closed copy of the same file chain into one run: one restorable span.
    const all = await manifests();
    const ranges = restorableRanges({
      fulls: [
        {
          backupId: 'orders-20261201T000000Z-base',
          at: new Date(Date.parse(all[0].coveredUntil)),
          position: { file: all[0].serverFile, position: 0 },
        },
      ],
      segments: all,
      windowStart: new Date(0),
    });
    expect(ranges).toHaveLength(1);
    expect(ranges[0].to).toBe(new Date(Math.floor(Date.parse(result.cursor.coveredUntil) / 1000) * 1000).toISOString());
  });

  it('writes no segment for a quiet server, and moves the coverage on', async () => {
    // Prepare
    const before = await cursorOf();
    await new Promise((resolve) => setTimeout(resolve, 1100));

    // Act
    const result = await run();

    // Assess: a quiet server may still write a few bytes of its own (a running-xacts record), which a run archives
    expect(result.segments.length).toBeLessThanOrEqual(1);
    expect(Date.parse(result.cursor.coveredUntil)).toBeGreaterThan(Date.parse(before?.coveredUntil as string));
  });

  it('leaves nothing visible and neither cursor nor slot moved when killed before a manifest, and the next run archives it', async () => {
    // Prepare
    await pg.query("INSERT INTO t VALUES (6000, 'during the killed run')");
    const before = await cursorOf();
    const slotBefore = await readSlot(pg, SLOT);
    const countBefore = (await manifests()).length;

    // Act
    const killed = await run(failingManifests(s3rver.client())).catch((error: Error) => error);

    // Assess
    expect(killed).toBeInstanceOf(Error);
    expect((await manifests()).length).toBe(countBefore);
    expect(await cursorOf()).toEqual(before);
    expect((await readSlot(pg, SLOT)).restartLsn).toBe(slotBefore.restartLsn);
    const again = await run();
    expect(again.segments.length).toBeGreaterThan(0);
    expect(again.cursor.next).not.toEqual(before?.next);
  });

  it('shows RetainedWalBytes rising while archiving is stopped, reports it, and drains it', async () => {
    // Prepare
    const start = (await readSlot(pg, SLOT)).retainedBytes;
    await pg.query("INSERT INTO t SELECT g, repeat('y', 200) FROM generate_series(10000, 30000) g");
    const middle = (await readSlot(pg, SLOT)).retainedBytes;
    await pg.query("INSERT INTO t SELECT g, repeat('z', 200) FROM generate_series(30001, 50000) g");
    const high = (await readSlot(pg, SLOT)).retainedBytes;

    // Act
    const result = await run();

    // Assess
    expect(middle).toBeGreaterThan(start);
    expect(high).toBeGreaterThan(middle + 1_000_000);
    expect(result.retainedBytes).toBeGreaterThanOrEqual(high);
    expect(result.retainedAfterBytes).toBeLessThan(high / 4);
  });

  it('finds the chain broken when the slot was dropped, and resumes from the new slot', async () => {
    // Prepare
    await run(s3, 'lost-slot');
    await pg.query("SELECT pg_drop_replication_slot('strongbox_lost_slot')");
    await pg.query("INSERT INTO t VALUES (70000, 'while the slot was gone')");
    await pg.query('SELECT pg_switch_wal()');

    // Act
    const result = await run(s3, 'lost-slot');

    // Assess
    expect(result.broken?.reason).toMatch(/replication slot strongbox_lost_slot is gone/);
    expect(result.cursor.broken).toEqual(result.broken);
    expect((await readSlot(pg, 'strongbox_lost_slot')).exists).toBe(true);
    expect(
      result.cursor.next.file > (result.broken?.resumedAt.file ?? '') || result.cursor.next.file === result.broken?.resumedAt.file,
    ).toBe(true);
    await pg.query("SELECT pg_drop_replication_slot('strongbox_lost_slot')");
  });

  it('finds the chain broken when the server invalidated the slot (max_slot_wal_keep_size), and starts a new slot', async () => {
    // Prepare: a slot that keeps at most 1 MB, and several segments of WAL while archiving is stopped
    await run(s3, 'invalidated');
    await pg.query("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
    await pg.query('SELECT pg_reload_conf()');
    for (let i = 0; i < 3; i += 1) {
      await pg.query(`INSERT INTO t VALUES (${80000 + i}, 'filler')`);
      await pg.query('SELECT pg_switch_wal()');
    }
    await pg.query('CHECKPOINT');
    const lost = await readSlot(pg, 'strongbox_invalidated');

    // Act
    const result = await run(s3, 'invalidated');

    // Assess
    await pg.query('ALTER SYSTEM RESET max_slot_wal_keep_size');
    await pg.query('SELECT pg_reload_conf()');
    expect(lost.walStatus).toBe('lost');
    expect(result.broken?.reason).toMatch(/invalidated \(wal_status lost/);
    const fresh = await readSlot(pg, 'strongbox_invalidated');
    expect(fresh.walStatus).not.toBe('lost');
    expect(await currentLsn()).toBeGreaterThanOrEqual(fresh.restartLsn as bigint);
    await pg.query("SELECT pg_drop_replication_slot('strongbox_invalidated')");
  });

  describe('through the task entrypoint (STRONGBOX_COMMAND=archive-logs)', () => {
    it('archives WAL and emits lag, chain and RetainedWalBytes with Database and Engine only, no password anywhere', async () => {
      // Prepare
      const env = vaultTaskEnv(server, s3rver.endpoint, BUCKET, 'archive-logs', 'ledger');

      // Act
      const task = await runTask(env);

      // Assess
      expect(task.stderr).toBe('');
      expect(task.code).toBe(0);
      expect(task.result).toMatchObject({ command: 'archive-logs', ok: true });
      const metrics = emittedMetrics(task.stdout);
      expect(metrics.LogChainBroken).toEqual({ value: 0, dimensions: ['Database', 'Engine'] });
      expect(metrics.RetainedWalBytes?.dimensions).toEqual(['Database', 'Engine']);
      expect(metrics.RetainedWalBytes?.value).toBeGreaterThanOrEqual(0);
      expect(metrics.LogArchiveLagSeconds?.value).toBeLessThan(60);
      expect(task.stdout + task.stderr).not.toContain(server.password);
      expect((await cursorOf('ledger'))?.next).toEqual(task.result.next);
      await pg.query("SELECT pg_drop_replication_slot('strongbox_ledger')");
    });
  });
});
