import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogCursorSchema, restorableRanges, SegmentVerificationSchema } from '../../../../contracts/logs';
import { keys, parseSegmentId } from '../../../../contracts/vault';
import { getJson, putJson } from '../../../../contracts/vault-io';
import { type EngineServer, startMariadb } from '../../../../dev/servers/engines';
import type { LocalS3 } from '../../../../dev/servers/s3rver';
import { listBinaryLogs } from '../../../../engines/mysql/binlog-archive';
import { connect } from '../../../../engines/mysql/connection';
import { archiveLagSeconds, archiveLogs, BinlogServerNotReadyError } from '../../../../tasks/src/commands/archive-logs';
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
const DB = 'billing';

/** An S3 client whose reads of segment data get the object at `substitute` instead: the vault's bytes changed. */
function substitutedSegmentReads(client: S3Client, substitute: string): S3Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: string };
      if (context.commandName === 'GetObjectCommand' && input.Key?.endsWith('/data.binlog.zst')) {
        return next({ ...args, input: { ...input, Key: substitute } as typeof args.input });
      }
      return next(args);
    },
    { step: 'initialize' },
  );
  return client;
}

/**
 * After a rotation MariaDB writes a second Binlog_checkpoint event into the new file once InnoDB has flushed
 * (asynchronously); waiting for it keeps a later "quiet" run quiet.
 */
async function checkpointed(conn: mysql.Connection): Promise<void> {
  const newest = (await listBinaryLogs(conn)).at(-1)?.file as string;
  for (let attempt = 0; attempt < 80; attempt += 1) {
    const [events] = await conn.query<mysql.RowDataPacket[]>(`SHOW BINLOG EVENTS IN '${newest}'`);
    if (events.filter((e) => e.Event_type === 'Binlog_checkpoint').length >= 2) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`no second binlog checkpoint in ${newest} after 20 s`);
}

describe('archiveLogs on MariaDB 10.11 into the local vault', () => {
  let vault: EngineVault;
  let server: EngineServer;
  let s3rver: LocalS3;
  let s3: S3Client;
  let conn: mysql.Connection;
  let work: string;
  const connection = () => connectionTo(server);
  const run = (client: S3Client = s3, now?: () => Date) =>
    archiveLogs({
      s3: client,
      bucket: BUCKET,
      database: DB,
      connection: connection(),
      intervalMinutes: 5,
      compressionLevel: 3,
      workDir: work,
      ...(now && { now }),
    });
  const manifests = () => segmentManifests(s3, BUCKET, 'logs/');

  beforeAll(async () => {
    vault = await startEngineVault(() => startMariadb({ binlogFormat: 'ROW' }), BUCKET, 'strongbox-archive-test-');
    ({ server, s3rver, s3, work } = vault);
    conn = await connect(connection());
    await conn.query('CREATE TABLE strongbox.t (id INT PRIMARY KEY, v VARCHAR(20))');
  });

  afterAll(async () => {
    await conn?.end();
    await vault?.stop();
  });

  it('uploads the closed file and the tail as contiguous segments with their checksums, and moves the cursor', async () => {
    // Prepare
    await conn.query("INSERT INTO strongbox.t VALUES (1, 'a'), (2, 'b')");
    await conn.query('FLUSH BINARY LOGS');
    await conn.query("INSERT INTO strongbox.t VALUES (3, 'c')");
    await checkpointed(conn);
    const logs = await listBinaryLogs(conn);

    // Act
    const result = await run();

    // Assess
    expect(result.segments.map((s) => [s.serverFile, s.startPosition, s.closed])).toEqual([
      ['binlog.000001', 4, true],
      ['binlog.000002', 4, false],
    ]);
    expect(result.segments[0].next).toEqual({ file: 'binlog.000002', position: 4 });
    expect(result.segments[1].next).toEqual({ file: 'binlog.000002', position: logs[1].size });
    expect(result.segments[1].endPosition).toBe(logs[1].size);
    expect(result.segments[0].endPosition).toBe(logs[0].size);
    expect(result.segments[1].tool.args.join(' ')).not.toContain(server.password);
    const cursor = (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value;
    expect(cursor?.next).toEqual(result.segments[1].next);
    expect(cursor?.lastSegmentId).toBe(result.segments[1].segmentId);
    for (const segment of result.segments) {
      const bytes = await objectBytes(s3, BUCKET, segment.artifact.key);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(segment.artifact.sha256);
      expect(bytes.length).toBe(segment.artifact.bytes);
    }
    expect((await manifests()).length).toBe(2);
    for (const segment of result.segments) {
      const record = (await getJson(s3, BUCKET, keys.segmentVerification(segment.segmentId), SegmentVerificationSchema))?.value;
      expect(record).toMatchObject({ passed: true, checks: { bytes: true, sha256: true, parsed: true, endPosition: true } });
      expect(record?.events).toBeGreaterThan(0);
    }
    expect(result.verifications.map((v) => v.segmentId)).toEqual(result.segments.map((s) => s.segmentId));
  });

  it('writes no segment for a quiet log, and moves the coverage on', async () => {
    // Prepare
    const before = (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value;
    await new Promise((resolve) => setTimeout(resolve, 1100));

    // Act
    const result = await run();

    // Assess
    expect(result.segments).toEqual([]);
    expect(result.cursor.next).toEqual(before?.next);
    expect(Date.parse(result.cursor.coveredUntil)).toBeGreaterThan(Date.parse(before?.coveredUntil ?? ''));
  });

  it('leaves no segment without a manifest when killed, and the next run resumes from the cursor', async () => {
    // Prepare
    const before = (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value;
    await conn.query("INSERT INTO strongbox.t VALUES (4, 'd')");
    const killed = failingManifests(s3rver.client());

    // Act
    const failure = await run(killed).catch((error: Error) => error);
    const afterKill = (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value;
    const visibleAfterKill = await manifests();
    const resumed = await run();
    const all = await manifests();

    // Assess
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toContain('killed before the manifest');
    expect(afterKill?.next).toEqual(before?.next);
    expect(visibleAfterKill.length).toBe(2);
    expect(resumed.segments.map((s) => [s.serverFile, s.startPosition])).toEqual([[before?.next.file, before?.next.position]]);
    const ranges = restorableRanges({
      fulls: [
        {
          backupId: `${DB}-20260101T000000Z-full`,
          at: new Date(Date.parse(all[0].firstEventAt ?? '')),
          position: { file: 'binlog.000001', position: 4 },
        },
      ],
      segments: all,
      windowStart: new Date(0),
    });
    expect(ranges).toHaveLength(1);
    expect(ranges[0].to).toBe(new Date(Math.floor(Date.parse(resumed.cursor.coveredUntil) / 1000) * 1000).toISOString());
  });

  it("keeps a completed segment's bytes when a run restarts within its second from the same cursor: the new segment takes the next second", async () => {
    // Prepare: a run completes a segment; the cursor is put back as a kill after the manifest, before the cursor, leaves it.
    const before = (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value;
    const second = new Date(Math.floor(Date.now() / 1000) * 1000 + 500);
    await conn.query("INSERT INTO strongbox.t VALUES (40, 'restart-a')");
    const completed = await run(s3, () => second);
    await putJson(s3, BUCKET, keys.logCursor(DB), before);
    await conn.query("INSERT INTO strongbox.t VALUES (41, 'restart-b')");

    // Act
    const restarted = await run(s3, () => second);

    // Assess
    const [first] = completed.segments;
    const [again] = restarted.segments;
    expect(again.startPosition).toBe(first.startPosition);
    expect(again.endPosition).toBeGreaterThan(first.endPosition);
    expect(again.segmentId).not.toBe(first.segmentId);
    expect(parseSegmentId(again.segmentId).archivedAt.getTime() - parseSegmentId(first.segmentId).archivedAt.getTime()).toBe(1000);
    const firstBytes = await objectBytes(s3, BUCKET, first.artifact.key);
    expect(createHash('sha256').update(firstBytes).digest('hex')).toBe(first.artifact.sha256);
    expect((await manifests()).map((m) => m.segmentId)).toEqual(expect.arrayContaining([first.segmentId, again.segmentId]));
  });

  it('refuses a server whose binlog is not ROW, naming the fix', async () => {
    // Prepare
    await conn.query("SET GLOBAL binlog_format = 'MIXED'");

    // Act
    const failure = await run().catch((error: Error) => error);
    await conn.query("SET GLOBAL binlog_format = 'ROW'");

    // Assess
    expect(failure).toBeInstanceOf(BinlogServerNotReadyError);
    expect((failure as Error).message).toMatch(/^binlog_format is MIXED; expected ROW: /);
  });

  it('records a binlog purged before it was archived as a broken chain, and resumes after it', async () => {
    // Prepare
    await conn.query("INSERT INTO strongbox.t VALUES (5, 'e')");
    await conn.query('FLUSH BINARY LOGS');
    await conn.query("INSERT INTO strongbox.t VALUES (6, 'f')");
    const cursorFile = (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value.next.file as string;
    const newest = (await listBinaryLogs(conn)).at(-1)?.file as string;
    // MariaDB keeps a file until its binlog checkpoint (InnoDB's flush, asynchronous here) has moved past it.
    for (let attempt = 0; attempt < 80 && (await listBinaryLogs(conn)).some((l) => l.file === cursorFile); attempt += 1) {
      await conn.query(`PURGE BINARY LOGS TO '${newest}'`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    // Act
    const result = await run();

    // Assess
    expect(result.broken?.reason).toBe(`binary log ${cursorFile} was purged before it was archived (the server's oldest is ${newest})`);
    expect(result.cursor.broken?.resumedAt).toEqual({ file: newest, position: 4 });
    expect(result.segments.map((s) => s.serverFile)).toEqual([newest]);
    const all = await manifests();
    const ranges = restorableRanges({
      fulls: [
        {
          backupId: `${DB}-20260101T000000Z-full`,
          at: new Date(Date.parse(all[0].firstEventAt ?? '')),
          position: { file: 'binlog.000001', position: 4 },
        },
      ],
      segments: all,
      windowStart: new Date(0),
    });
    expect(Date.parse(ranges[0].to)).toBeLessThan(Date.parse(result.segments[0].coveredUntil) - 0);
    expect(ranges).toHaveLength(1);
  });

  it('records a segment whose stored bytes differ from its manifest as failed, breaks the chain there, and goes on', async () => {
    // Prepare
    await conn.query("INSERT INTO strongbox.t VALUES (50, 'tampered')");
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'tampered/data.binlog.zst', Body: Buffer.from('not the archived bytes') }));
    const before = (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value;

    // Act
    const result = await run(substitutedSegmentReads(s3rver.client(), 'tampered/data.binlog.zst'));
    const all = await manifests();
    const failed = result.verifications.filter((v) => !v.passed).map((v) => v.segmentId);
    // A full dump taken where the segment starts: only the segment carries the chain past the dump's own instant.
    const dumpAt = new Date(Math.floor(Date.parse(before?.coveredUntil ?? '') / 1000) * 1000).toISOString();
    const chain = {
      fulls: [{ backupId: `${DB}-20260101T000000Z-full`, at: new Date(dumpAt), position: before?.next }],
      segments: all,
      windowStart: new Date(0),
    };

    // Assess
    expect(result.segments).toHaveLength(1);
    const [segment] = result.segments;
    expect(segment.startPosition).toBe(before?.next.position);
    const record = (await getJson(s3, BUCKET, keys.segmentVerification(segment.segmentId), SegmentVerificationSchema))?.value;
    expect(record).toMatchObject({ passed: false, checks: { bytes: false, sha256: false, parsed: false } });
    expect(record?.reason).toMatch(
      /^s3:\/\/vault\/logs\/billing\/.* holds 22 bytes with SHA-256 [0-9a-f]{64}, the manifest says \d+ bytes/,
    );
    expect(result.broken?.reason).toBe(`segment ${segment.segmentId} failed verification: ${record?.reason}`);
    expect(result.cursor.broken?.resumedAt).toEqual(segment.next);
    expect(result.cursor.next).toEqual(segment.next);
    expect(failed).toEqual([segment.segmentId]);
    const coveredTo = new Date(Math.floor(Date.parse(segment.coveredUntil) / 1000) * 1000).toISOString();
    expect(restorableRanges(chain)).toEqual([{ from: dumpAt, to: coveredTo }]);
    expect(restorableRanges({ ...chain, failedSegmentIds: failed })).toEqual([{ from: dumpAt, to: dumpAt }]);
  });

  describe('through the task entrypoint (STRONGBOX_COMMAND=archive-logs)', () => {
    const taskEnv = (extra: Record<string, string> = {}) =>
      vaultTaskEnv(server, s3rver.endpoint, BUCKET, 'archive-logs', 'ledger', { STRONGBOX_LOG_INTERVAL_MINUTES: '5', ...extra });

    it("archives into the named database's cursor and emits the lag and chain metrics with Database and Engine only", async () => {
      // Prepare
      await conn.query("INSERT INTO strongbox.t VALUES (7, 'g')");

      // Act
      const run = await runTask(taskEnv());

      // Assess
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.result).toMatchObject({ command: 'archive-logs', ok: true });
      expect(run.result.segments).toBeGreaterThan(0);
      const cursor = (await getJson(s3, BUCKET, keys.logCursor('ledger'), LogCursorSchema))?.value;
      expect(run.result.next).toEqual(cursor?.next);
      const metrics = emittedMetrics(run.stdout);
      expect(metrics.LogChainBroken).toEqual({ value: 0, dimensions: ['Database', 'Engine'] });
      expect(metrics.LogArchiveLagSeconds?.dimensions).toEqual(['Database', 'Engine']);
      expect(metrics.LogArchiveLagSeconds?.value).toBeLessThan(60);
      expect(run.stdout + run.stderr).not.toContain(server.password);
    });

    it('exits 2 naming the interval variable when it is missing, and the engine when it keeps no binlog', async () => {
      // Prepare
      const { STRONGBOX_LOG_INTERVAL_MINUTES: _unset, ...withoutInterval } = taskEnv();

      // Act
      const [missing, redis] = await Promise.all([runTask(withoutInterval), runTask(taskEnv({ STRONGBOX_ENGINE: 'redis' }))]);

      // Assess
      expect(missing.code).toBe(2);
      expect(missing.stderr).toBe(
        "strongbox: STRONGBOX_LOG_INTERVAL_MINUTES: not set; archive-logs needs the database's logs.intervalMinutes, e.g. 5\n",
      );
      expect(redis.code).toBe(2);
      expect(redis.stderr).toBe(
        'strongbox: STRONGBOX_ENGINE: archive-logs archives MySQL/MariaDB binlogs, not redis; remove the logs block of ledger\n',
      );
    });
  });
});

describe('archiveLagSeconds', () => {
  it('counts whole seconds from the covered instant, and never below zero', () => {
    // Prepare
    const cursor = LogCursorSchema.parse({
      schemaVersion: 1,
      database: DB,
      kind: 'binlog',
      next: { file: 'binlog.000002', position: 4 },
      coveredUntil: '2026-12-01T10:00:00.000Z',
      updatedAt: '2026-12-01T10:00:00.000Z',
    });

    // Act
    const lags = [new Date('2026-12-01T10:01:30.400Z'), new Date('2026-12-01T09:59:59.000Z')].map((now) => archiveLagSeconds(cursor, now));

    // Assess
    expect(lags).toEqual([90, 0]);
  });
});
