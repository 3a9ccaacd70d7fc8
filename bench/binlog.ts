import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { readSegmentManifests } from '../contracts/log-chain';
import { type SegmentManifest, segmentsBetween } from '../contracts/logs';
import { type EngineServer, startMariadb } from '../dev/servers/engines';
import { startS3rver } from '../dev/servers/s3rver';
import { planBinlogReplay, replayBinlog } from '../engines/mysql/binlog-replay';
import { archiveLogs } from '../tasks/src/commands/archive-logs';
import { fetchSegment } from '../tasks/src/commands/drill-chain';
import { BENCH_DIR, bestOf, logger, PASSWORD, round, timed } from './support';

/**
 * binlog_replay_vs_raw: the replay phase of a restore to an instant (download each segment with its checksum
 * checked, decompress, `replayBinlog` into the target) against raw `mariadb-binlog <segments> | mariadb` over the
 * same decompressed segments already on local disk, same range, alternated and best of ROUNDS. The source writes
 * ROWS rows and updates half of them while the archiving run (the task's own archiveLogs) slices its binlog into
 * segments across a rotation. The target's table is emptied before each run, outside the timing.
 * A section of its own: `node --import tsx bench/binlog.ts`.
 */
const ROUNDS = 3;
const ROWS = 300_000;
const BATCH = 50_000;
const log = logger('binlog');

async function connectTo(server: EngineServer): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: server.host,
    port: server.port,
    user: server.username,
    password: server.password,
    database: 'strongbox',
  });
}

async function masterStatus(conn: mysql.Connection): Promise<{ file: string; position: number }> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
  return { file: String(rows[0].File), position: Number(rows[0].Position) };
}

const TABLE = 'CREATE TABLE strongbox.ledger (id BIGINT PRIMARY KEY, customer VARCHAR(40), note VARCHAR(200), amount DECIMAL(12,2))';

async function main(): Promise<void> {
  mkdirSync(BENCH_DIR, { recursive: true });
  const work = mkdtempSync(join(BENCH_DIR, 'binlog-'));
  const s3 = await startS3rver(['bench']);
  const source = await startMariadb({ password: PASSWORD, logBin: true, binlogFormat: 'ROW' });
  const target = await startMariadb({ password: PASSWORD, logBin: false });
  try {
    const src = await connectTo(source);
    await src.query(TABLE);
    const archive = () =>
      archiveLogs({
        s3: s3.client(),
        bucket: 'bench',
        database: 'bench',
        connection: { host: source.host, port: source.port, username: source.username, password: source.password, tls: 'disable' },
        intervalMinutes: 5,
        compressionLevel: 3,
        workDir: work,
      });
    await archive();
    const from = await masterStatus(src);
    for (let start = 1; start <= ROWS; start += BATCH) {
      await src.query(
        `INSERT INTO ledger SELECT seq, CONCAT('customer-', seq % 9973), REPEAT(MD5(seq), 5), seq / 100 FROM seq_${start}_to_${start + BATCH - 1}`,
      );
      if (start === 1 + BATCH * 2) {
        await archive();
        await src.query('FLUSH BINARY LOGS');
      }
    }
    await src.query('UPDATE ledger SET amount = amount + 1 WHERE id % 2 = 0');
    const to = await masterStatus(src);
    await archive();
    await src.end();

    const all = await readSegmentManifests(s3.client(), 'bench', 'bench', 'binlog');
    const link = segmentsBetween(from, to, all);
    if (!link) {
      throw new Error(`no contiguous segments from ${from.file}:${from.position} to ${to.file}:${to.position}`);
    }
    const manifests = link.segments.map((s) => all.find((m) => m.segmentId === s.segmentId) as SegmentManifest);
    const rawDir = join(work, 'raw');
    mkdirSync(rawDir);
    const rawFiles: string[] = [];
    for (const m of manifests) {
      rawFiles.push(await fetchSegment(s3.client(), 'bench', m, rawDir));
    }
    const uncompressed = manifests.reduce((sum, m) => sum + m.artifact.uncompressedBytes, 0);
    log(
      `binlog: ${manifests.length} segments, ${round(uncompressed / 1e6, 1)} MB of binlog from ${from.file}:${from.position} to ${to.file}:${to.position}`,
    );

    const tgt = await connectTo(target);
    const reset = async () => {
      await tgt.query('DROP TABLE IF EXISTS strongbox.ledger');
      await tgt.query(TABLE);
    };
    const rowsAfter = async () => {
      const [rows] = await tgt.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n, SUM(amount) AS s FROM strongbox.ledger');
      return `${rows[0].n}/${rows[0].s}`;
    };
    let expected: string | undefined;
    const check = async (side: string) => {
      const found = await rowsAfter();
      expected ??= found;
      if (found !== expected || !found.startsWith(`${ROWS}/`)) {
        throw new Error(`${side} replay left ${found} (rows/sum) in the target; expected ${expected} with ${ROWS} rows`);
      }
    };
    // The same local offsets an operator reads off the files' event headers (a --raw copy starts with the tool's own
    // description event, so `from` is not a file offset); computed once, outside the timing.
    const window = planBinlogReplay(
      manifests.map((m, i) => ({ path: rawFiles[i], serverFile: m.serverFile, startPosition: m.startPosition })),
      from,
      { kind: 'position', ...to },
    );
    const startOffset = [
      ...(window.startOffset !== undefined ? [`--start-position=${window.startOffset}`] : []),
      ...(window.stopOffset !== undefined ? [`--stop-position=${window.stopOffset}`] : []),
    ];
    const raw = async () => {
      await reset();
      const run = await timed(
        'bash',
        [
          '-o',
          'pipefail',
          '-c',
          `mariadb-binlog ${startOffset.join(' ')} ${rawFiles.map((f) => `'${f}'`).join(' ')} | mariadb -h 127.0.0.1 -P ${target.port} -u ${target.username} --binary-mode --max-allowed-packet=1G`,
        ],
        { ...process.env, MYSQL_PWD: target.password, TZ: 'UTC' },
      );
      await check('raw');
      return run;
    };
    const ours = async () => {
      await reset();
      const directory = mkdtempSync(join(work, 'ours-'));
      const started = process.hrtime.bigint();
      const segments = [];
      for (const m of manifests) {
        segments.push({
          path: await fetchSegment(s3.client(), 'bench', m, directory),
          serverFile: m.serverFile,
          startPosition: m.startPosition,
        });
      }
      await replayBinlog({
        target: { ...target, tls: 'disable', database: 'strongbox' },
        segments,
        from,
        stop: { kind: 'position', ...to },
      });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      rmSync(directory, { recursive: true, force: true });
      await check('ours');
      return { seconds };
    };
    const best = await bestOf('binlog replay raw vs ours', ROUNDS, raw, ours, log);
    await tgt.end();
    process.stdout.write(
      `${JSON.stringify({
        binlog_replay_vs_raw: round(best.raw.seconds / best.ours.seconds),
        binlog_replay_seconds_raw: round(best.raw.seconds),
        binlog_replay_seconds_ours: round(best.ours.seconds),
        binlog_replay_mb: round(uncompressed / 1e6, 1),
        binlog_replay_segments: manifests.length,
      })}\n`,
    );
  } finally {
    await Promise.allSettled([source.stop(), target.stop(), s3.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench/binlog: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
