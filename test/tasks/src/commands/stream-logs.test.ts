import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLock, releaseLock } from '../../../../contracts/lock';
import { LogCursorSchema, restorableRanges } from '../../../../contracts/logs';
import { classifySegmentKey, keys, LockSchema } from '../../../../contracts/vault';
import { getJson, listObjects, putJson } from '../../../../contracts/vault-io';
import { type EngineServer, startMariadb } from '../../../../dev/servers/engines';
import type { LocalS3 } from '../../../../dev/servers/s3rver';
import { listBinaryLogs } from '../../../../engines/mysql/binlog-archive';
import { connect } from '../../../../engines/mysql/connection';
import { addConditionalWriteShim } from '../../../../lambdas/runtime/s3-conditional-shim';
import { BinlogServerNotReadyError } from '../../../../tasks/src/commands/archive-logs';
import { leaseSeconds, streamLogs } from '../../../../tasks/src/commands/stream-logs';
import { connectionTo, type EngineVault, objectBytes, segmentManifests, startEngineVault } from '../../../support/engine-vault';
import { runTask, startTask, vaultTaskEnv } from '../../run-task';

const BUCKET = 'vault';

/** Polls `probe` every 100 ms until it returns a value, for at most `seconds`; the elapsed seconds come with it. */
async function waitFor<T>(probe: () => Promise<T | undefined>, seconds: number): Promise<{ value: T; seconds: number }> {
  const started = Date.now();
  while (Date.now() - started < seconds * 1000) {
    const value = await probe();
    if (value !== undefined) {
      return { value, seconds: (Date.now() - started) / 1000 };
    }
    await sleep(100);
  }
  throw new Error(`nothing after ${seconds} s`);
}

describe('stream-logs on MariaDB 10.11 into the local vault', () => {
  let vault: EngineVault;
  let server: EngineServer;
  let s3rver: LocalS3;
  let s3: S3Client;
  let conn: mysql.Connection;
  let work: string;
  const connection = () => connectionTo(server);
  const manifests = (database: string) => segmentManifests(s3, BUCKET, `logs/${database}/`);

  /** The newest archived position of `database`, once a segment reaches the server's current end. */
  const archivedTo = async (database: string, end: { file: string; size: number }) =>
    (await manifests(database)).find((m) => m.serverFile === end.file && m.endPosition >= end.size);

  const serverEnd = async () => (await listBinaryLogs(conn)).at(-1) as { file: string; size: number };

  beforeAll(async () => {
    vault = await startEngineVault(() => startMariadb({ binlogFormat: 'ROW' }), BUCKET, 'strongbox-stream-test-');
    ({ server, s3rver, work } = vault);
    s3 = addConditionalWriteShim(vault.s3);
    conn = await connect(connection());
    await conn.query('CREATE TABLE strongbox.t (id INT PRIMARY KEY, v VARCHAR(20))');
  });

  afterAll(async () => {
    await conn?.end();
    await vault?.stop();
  });

  const stream = (database: string, signal: AbortSignal, flushSeconds = 2) =>
    streamLogs({
      s3,
      bucket: BUCKET,
      database,
      engine: 'mariadb',
      connection: connection(),
      flushSeconds,
      compressionLevel: 3,
      workDir: work,
      signal,
    });

  it('archives writes made while it runs within two flush intervals, holds the lease, and flushes and releases it when stopped', async () => {
    // Prepare
    const stop = new AbortController();
    const running = stream('orders', stop.signal);
    await waitFor(async () => (await getJson(s3, BUCKET, keys.logCursor('orders'), LogCursorSchema))?.value, 20);

    // Act
    await conn.query("INSERT INTO strongbox.t VALUES (1, 'a'), (2, 'b')");
    const written = await serverEnd();
    const seen = await waitFor(() => archivedTo('orders', written), 20);
    const lease = (await getJson(s3, BUCKET, keys.logLock('orders'), LockSchema))?.value;
    await conn.query("INSERT INTO strongbox.t VALUES (3, 'c')");
    const last = await serverEnd();
    stop.abort();
    const result = await running;

    // Assess
    expect(seen.seconds).toBeLessThan(2 * 2 + 2);
    expect(lease?.owner).toMatch(/^stream-logs\//);
    expect(Date.parse(lease?.expiresAt ?? '') - Date.now()).toBeGreaterThan((leaseSeconds(2) - 10) * 1000);
    expect(result.released).toBe(true);
    expect(await getJson(s3, BUCKET, keys.logLock('orders'), LockSchema)).toBeUndefined();
    // The write just before the stop went up in the last flush.
    expect(await archivedTo('orders', last)).toBeDefined();
    expect(result.flushes).toBeGreaterThanOrEqual(2);
    expect(result.cursor?.next).toEqual({ file: last.file, position: last.size });
    expect(result.worstLagSeconds).toBeLessThan(2 * 2 + 2);
  });

  it('waits while another holder has the archiving lock, and takes over once it is released', async () => {
    // Prepare
    const other = await acquireLock(s3, {
      bucket: BUCKET,
      database: 'waits',
      backupId: 'waits-20260101T000000Z-logs',
      owner: 'arn:aws:states:eu-west-1:111122223333:execution:logs:scheduled',
      now: new Date(),
      ttlSeconds: 600,
      key: keys.logLock('waits'),
    });
    const stop = new AbortController();
    const running = stream('waits', stop.signal);
    await conn.query("INSERT INTO strongbox.t VALUES (10, 'w')");
    const written = await serverEnd();

    // Act
    await sleep(3000);
    const whileHeld = await manifests('waits');
    await releaseLock(s3, BUCKET, 'waits', 'waits-20260101T000000Z-logs', keys.logLock('waits'));
    const taken = await waitFor(() => archivedTo('waits', written), 20);
    stop.abort();
    const result = await running;

    // Assess
    expect(other.acquired).toBe(true);
    expect(whileHeld).toEqual([]);
    expect(taken.value.serverFile).toBe(written.file);
    expect(result.released).toBe(true);
  });

  it('stops without a last flush when its lease was taken over, and leaves the new holder its lock', async () => {
    // Prepare
    const stop = new AbortController();
    const running = stream('lost', stop.signal);
    const held = await waitFor(async () => (await getJson(s3, BUCKET, keys.logLock('lost'), LockSchema))?.value, 20);

    // Act: the lease changes hands (it lapsed while this task was cut off, say).
    const successor = { ...held.value, backupId: 'lost-20260101T000000Z-logs', owner: 'stream-logs/successor' };
    await putJson(s3, BUCKET, keys.logLock('lost'), successor);
    const result = await Promise.race([running, sleep(20_000).then(() => undefined)]);
    stop.abort();

    // Assess
    expect(result).toMatchObject({ released: false });
    expect((await getJson(s3, BUCKET, keys.logLock('lost'), LockSchema))?.value).toEqual(successor);
  });

  it('gives up on a server that is not set up for archiving, naming the fix, and frees the lease for its replacement', async () => {
    // Prepare
    await conn.query("SET GLOBAL binlog_format = 'MIXED'");
    const stop = new AbortController();

    // Act
    const failure = await stream('unready', stop.signal).catch((error: Error) => error);
    await conn.query("SET GLOBAL binlog_format = 'ROW'");

    // Assess
    expect(failure).toBeInstanceOf(BinlogServerNotReadyError);
    expect((failure as Error).message).toMatch(/^binlog_format is MIXED; expected ROW: /);
    expect(await getJson(s3, BUCKET, keys.logLock('unready'), LockSchema)).toBeUndefined();
  });

  describe('through the task entrypoint (STRONGBOX_COMMAND=stream-logs)', () => {
    const DB = 'ledger';
    const taskEnv = (extra: Record<string, string> = {}) =>
      vaultTaskEnv(server, s3rver.endpoint, BUCKET, 'stream-logs', DB, { STRONGBOX_LOG_FLUSH_SECONDS: '5', ...extra });

    it('survives a SIGKILL mid-flush with every visible segment whole, resumes from the cursor on restart, and releases the lock on SIGTERM', async () => {
      // Prepare: a write large enough that a flush takes a while, so the kill lands inside one.
      await conn.query('CREATE TABLE strongbox.big (id INT PRIMARY KEY, v TEXT)');
      const first = startTask(taskEnv());
      await waitFor(async () => (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value, 30);
      await conn.query('INSERT INTO strongbox.big SELECT seq, REPEAT(MD5(seq), 30) FROM strongbox.seq_1_to_20000');

      // Act: kill as soon as a new segment's data is in the vault, before or while its manifest, read-back and cursor follow.
      const before = (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value;
      const known = new Set((await manifests(DB)).map((m) => m.segmentId));
      await waitFor(async () => {
        for await (const object of listObjects(s3, BUCKET, `logs/${DB}/`)) {
          const classified = classifySegmentKey(object.key);
          if (classified?.file.startsWith('data.') && !known.has(classified.segmentId)) {
            return true;
          }
        }
        return undefined;
      }, 30);
      first.child.kill('SIGKILL');
      const killed = await first.done;
      const afterKill = (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value;
      const visibleAfterKill = await manifests(DB);
      // Hashed now, before the restart: what the kill left is what this claim is about.
      const hashesAfterKill = await Promise.all(
        visibleAfterKill.map(async (segment) =>
          createHash('sha256')
            .update(await objectBytes(s3, BUCKET, segment.artifact.key))
            .digest('hex'),
        ),
      );
      // The killed holder's lease runs out (leaseSeconds(5) = 60 s); the test moves its expiry instead of waiting.
      const stale = await getJson(s3, BUCKET, keys.logLock(DB), LockSchema);
      await putJson(s3, BUCKET, keys.logLock(DB), { ...stale?.value, expiresAt: new Date(Date.now() - 1000).toISOString() });
      const restartedAt = Date.now();
      const second = startTask(taskEnv());
      await conn.query("INSERT INTO strongbox.big VALUES (30000, 'after the restart')");
      const written = await serverEnd();
      await waitFor(() => archivedTo(DB, written), 60);
      second.child.kill('SIGTERM');
      const stopped = await second.done;
      const all = await manifests(DB);
      const cursor = (await getJson(s3, BUCKET, keys.logCursor(DB), LogCursorSchema))?.value;

      // Assess
      expect(killed.code).toBeNull();
      expect(stale?.value.owner).toMatch(/^stream-logs\//);
      // Whatever the kill interrupted, every visible segment has its whole data, and the cursor only names visible ones.
      expect(hashesAfterKill).toEqual(visibleAfterKill.map((segment) => segment.artifact.sha256));
      if (afterKill?.lastSegmentId && afterKill.lastSegmentId !== before?.lastSegmentId) {
        expect(visibleAfterKill.map((m) => m.segmentId)).toContain(afterKill.lastSegmentId);
      }
      expect(stopped.stderr).toBe('');
      expect(stopped.code).toBe(0);
      expect(stopped.result).toMatchObject({ command: 'stream-logs', ok: true, released: true });
      // The first flush after the restart counts the time no streamer ran, from the cursor the killed one left.
      expect(Number(stopped.result.worstLagSeconds)).toBeGreaterThanOrEqual(
        Math.floor((restartedAt - Date.parse(afterKill?.coveredUntil ?? '')) / 1000),
      );
      // LogArchiveLagSeconds and LogChainBroken after every flush, for the alarms.
      const lagDocuments = stopped.stdout.split('\n').filter((line) => line.includes('"_aws"') && line.includes('"LogArchiveLagSeconds"'));
      expect(lagDocuments).toHaveLength(Number(stopped.result.flushes));
      expect(stopped.stdout.split('\n').filter((line) => line.includes('"_aws"') && line.includes('"LogChainBroken":0'))).toHaveLength(
        Number(stopped.result.flushes),
      );
      expect(await getJson(s3, BUCKET, keys.logLock(DB), LockSchema)).toBeUndefined();
      expect(cursor?.broken).toBeUndefined();
      expect(cursor?.next).toEqual({ file: written.file, position: written.size });
      const oldest = [...all].sort((a, b) => Date.parse(a.firstEventAt ?? '') - Date.parse(b.firstEventAt ?? ''))[0];
      const ranges = restorableRanges({
        fulls: [
          {
            backupId: `${DB}-20260101T000000Z-full`,
            at: new Date(Date.parse(oldest.firstEventAt ?? '')),
            position: { file: 'binlog.000001', position: 4 },
          },
        ],
        segments: all,
        windowStart: new Date(0),
        ...(cursor && { cursor }),
      });
      expect(ranges).toHaveLength(1);
      expect(stopped.stdout + stopped.stderr).not.toContain(server.password);
    }, 180_000);

    it('exits 2 naming the flush variable when it is missing, and the engine when it is not MySQL/MariaDB', async () => {
      // Prepare
      const { STRONGBOX_LOG_FLUSH_SECONDS: _unset, ...withoutFlush } = taskEnv();

      // Act
      const [missing, postgres] = await Promise.all([runTask(withoutFlush), runTask(taskEnv({ STRONGBOX_ENGINE: 'postgres' }))]);

      // Assess
      expect(missing.code).toBe(2);
      expect(missing.stderr).toBe(
        "strongbox: STRONGBOX_LOG_FLUSH_SECONDS: not set; stream-logs needs the database's logs.flushSeconds, e.g. 30\n",
      );
      expect(postgres.code).toBe(2);
      expect(postgres.stderr).toBe(
        'strongbox: STRONGBOX_ENGINE: stream-logs streams MySQL/MariaDB binlogs, not postgres; set logs.mode: scheduled for ledger\n',
      );
    });
  });
});
