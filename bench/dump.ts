import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { startS3rver } from '../dev/servers/s3rver';
import {
  AWS_ENV,
  BENCH_DIR,
  bestOf,
  buildPostgres,
  bundleTask,
  downloadToFile,
  firstByteMs,
  LARGE_PG,
  logger,
  PASSWORD,
  round,
  runTask,
  startBenchPostgres,
  startSlowPartsProxy,
  taskEnv,
  timed,
} from './support';

/**
 * Issue 3 §7: the dump pipeline against the raw tools and a naive upload, on a >= 1 GB PostgreSQL dataset (the
 * >= 500 MB MariaDB dataset is bench/mariadb.ts, a section of its own). Each ratio compares runs of the same section, alternated and best of ROUNDS
 * (see bestOf), so background load on a shared machine hits both sides alike.
 */
const ROUNDS = Number(process.env.STRONGBOX_BENCH_ROUNDS ?? 2);
const log = logger('dump');

async function main(): Promise<void> {
  mkdirSync(BENCH_DIR, { recursive: true });
  const bundle = await bundleTask();
  // The vault first: if it cannot start (no --openssl-legacy-provider), no database server is left running.
  const s3 = await startS3rver(['bench']);
  const pg = await startBenchPostgres();
  const figures: Record<string, number> = {};
  try {
    await buildPostgres(pg, LARGE_PG.database, LARGE_PG.megabytes);
    await buildPostgres(pg, 'small', 260);
    const admin = new Client({ host: pg.host, port: pg.port, user: 'postgres', password: PASSWORD, database: 'postgres' });
    await admin.connect();
    const sizes = await admin.query<{ datname: string; size: string }>(
      "SELECT datname, pg_database_size(datname) AS size FROM pg_database WHERE datname IN ('large', 'small')",
    );
    for (const row of sizes.rows) {
      figures[`pg_${row.datname}_database_mb`] = round(Number(row.size) / 1e6, 0);
    }
    const env = (server: typeof pg, database: string, extra: Record<string, string> = {}) => taskEnv(server, s3.endpoint, database, extra);
    const pgUrl = ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres'];
    const pgEnv = { ...process.env, ...AWS_ENV, PGPASSWORD: PASSWORD };

    // (a) raw pg_dump | zstd -3 -T0 > /dev/null vs (b) ours to a null sink
    const dump = await bestOf(
      '(a) raw vs (b) ours to a null sink',
      ROUNDS,
      () => timed('bash', ['-o', 'pipefail', '-c', `pg_dump -Fc -Z0 ${pgUrl.join(' ')} -d large | zstd -3 -T0 -q -c > /dev/null`], pgEnv),
      () => runTask(bundle, env(pg, 'large', { STRONGBOX_SINK: 'null' })),
      log,
    );
    // Time to the first compressed byte: the task's fixed start-up cost (Node, modules, connecting, the
    // snapshot) against the raw pipeline's (pg_dump's own start). Best of ROUNDS, like the ratios.
    let rawFirstByte = Number.POSITIVE_INFINITY;
    for (let i = 0; i < ROUNDS; i++) {
      rawFirstByte = Math.min(rawFirstByte, await firstByteMs(`pg_dump -Fc -Z0 ${pgUrl.join(' ')} -d large | zstd -3 -T0 -q -c`, pgEnv));
    }
    log(`first byte: raw ${round(rawFirstByte, 0)} ms, ours ${dump.ours.result.firstByteMs} ms`);
    // (c) ours to s3rver, large and small
    const ours = await runTask(bundle, env(pg, 'large', { STRONGBOX_BACKUP_ID: 'bench-postgres-20260101T000000Z-full' }));
    log(`(c) ours to s3rver: ${round(ours.seconds)} s, peak RSS ${ours.result.peakRssMb} MB`);
    const small = await runTask(bundle, env(pg, 'small', { STRONGBOX_BACKUP_ID: 'bench-postgres-20260101T000001Z-full' }));
    log(`(c) ours to s3rver, small: ${round(small.seconds)} s, peak RSS ${small.result.peakRssMb} MB`);
    // (c') the memory's worst case: an S3 slow enough that every part buffer waits on it (1.5 s per part).
    const slow = await startSlowPartsProxy(s3.endpoint, 1500);
    const slowRun = await runTask(bundle, {
      ...env(pg, 'large', { STRONGBOX_BACKUP_ID: 'bench-postgres-20260101T000002Z-full' }),
      STRONGBOX_S3_ENDPOINT: slow.endpoint,
    }).finally(() => slow.stop());
    log(
      `(c') ours to s3rver at 1.5 s per part: ${round(slowRun.seconds)} s, peak RSS ${slowRun.result.peakRssMb} MB, ${slow.maxInFlight()} parts in flight`,
    );
    // (d) naive pg_dump | gzip | aws s3 cp -
    const naive = await timed(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        `pg_dump -Fc -Z0 ${pgUrl.join(' ')} -d large | gzip | aws s3 cp - s3://bench/naive/large.gz --endpoint-url ${s3.endpoint} --only-show-errors`,
      ],
      pgEnv,
    );
    log(`(d) naive: ${round(naive.seconds)} s`);

    // (e) restore: ours (S3 -> sha256 -> zstd -d -> pg_restore) vs zstd -d | pg_restore from a local file. Like
    // with like: both into an empty database created beforehand, with the pg_restore options ours chose (one
    // transaction when it streams, --jobs when it restores from a file).
    const local = join(BENCH_DIR, 'large.pgdump.zst');
    await downloadToFile(s3.client(), 'bench', String(ours.result.key), local);
    const emptyDatabase = async (name: string) => {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.query(`CREATE DATABASE ${name}`);
    };
    const ourRestore = async () => {
      await emptyDatabase('restore_ours');
      return runTask(
        bundle,
        env(pg, 'large', {
          STRONGBOX_COMMAND: 'restore',
          STRONGBOX_BACKUP_ID: 'bench-postgres-20260101T000000Z-full',
          STRONGBOX_TARGET_NAME: 'restore_ours',
        }),
      );
    };
    const chosen = (await ourRestore()).logs.find((line) => line.message === 'restore started') ?? {};
    const jobs = Number(chosen.jobs ?? 1);
    log(`(e) ours restores as ${chosen.mode} with ${jobs} job(s); the raw baseline does the same`);
    const rawRestore = async () => {
      await emptyDatabase('restore_raw');
      const options = `--no-owner --no-privileges --exit-on-error ${pgUrl.join(' ')} -d restore_raw`;
      const command =
        chosen.mode === 'file'
          ? `zstd -d -q -f ${local} -o ${BENCH_DIR}/large.pgdump && pg_restore --jobs ${jobs} ${options} ${BENCH_DIR}/large.pgdump; rm -f ${BENCH_DIR}/large.pgdump`
          : `zstd -d -q -c ${local} | pg_restore --single-transaction ${options}`;
      return timed('bash', ['-o', 'pipefail', '-c', command], pgEnv);
    };
    const restore = await bestOf('(e) restore', ROUNDS, rawRestore, ourRestore, log);
    log(`(e) ours: peak RSS ${restore.ours.result.peakRssMb} MB`);
    await admin.query('DROP DATABASE IF EXISTS restore_raw');
    await admin.query('DROP DATABASE IF EXISTS restore_ours');
    await admin.end();

    Object.assign(figures, {
      pipeline_vs_raw: round(dump.raw.seconds / dump.ours.seconds),
      pipeline_vs_raw_median: round(dump.medianRatio),
      s3_vs_naive: round(naive.seconds / ours.seconds),
      rss_mb_small: Number(small.result.peakRssMb),
      // The largest of the large database's backups (to s3rver as it is, and slowed) and its restore: the task's
      // memory bound covers them all.
      rss_mb_large: Math.max(Number(ours.result.peakRssMb), Number(slowRun.result.peakRssMb), Number(restore.ours.result.peakRssMb)),
      rss_mb_large_backup: Number(ours.result.peakRssMb),
      rss_mb_large_restore: Number(restore.ours.result.peakRssMb),
      rss_mb_large_slow_s3: Number(slowRun.result.peakRssMb),
      first_byte_ms: Number(dump.ours.result.firstByteMs),
      first_byte_ms_raw: round(rawFirstByte, 0),
      restore_vs_raw: round(restore.raw.seconds / restore.ours.seconds),
      pg_uncompressed_mb_large: round(Number(ours.result.uncompressedBytes) / 1e6, 0),
      pg_uncompressed_mb_small: round(Number(small.result.uncompressedBytes) / 1e6, 0),
      pg_compressed_mb_large: round(Number(ours.result.bytes) / 1e6, 0),
      seconds_raw: round(dump.raw.seconds),
      seconds_null_sink: round(dump.ours.seconds),
      seconds_s3: round(ours.seconds),
      seconds_naive: round(naive.seconds),
      seconds_restore_raw: round(restore.raw.seconds),
      seconds_restore_ours: round(restore.ours.seconds),
    });
  } finally {
    await s3.stop();
    await pg.stop();
  }
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`bench/dump: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
