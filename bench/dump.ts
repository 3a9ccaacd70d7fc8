import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { startMariadb, startPostgres } from '../test/support/engines';
import { startS3rver } from '../test/support/s3rver';
import { BENCH_DIR, bundleTask, log, round, runTask, timed } from './support';

/**
 * Issue 3 §7: the dump pipeline against the raw tools and a naive upload, on a >= 1 GB PostgreSQL dataset
 * and a >= 500 MB MariaDB dataset of random words (compressible like real text, unlike pgbench's padding).
 * Datasets live in server directories under .bench/ and are built once.
 */
const PASSWORD = 'bench-password';
const WORDS = (
  'order customer invoice payment shipped pending refund account balance address street city country postal ' +
  'product quantity price discount total tax currency euro dollar delivery warehouse stock supplier contract ' +
  'the a of and to in is for on with as by at from this that be are was it an or not have has will can ' +
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec ' +
  'romeo sierra tango uniform victor whiskey xray yankee zulu monday tuesday wednesday thursday friday saturday ' +
  'sunday january february march april may june july august september october november december urgent normal'
).split(' ');

/** ~`megabytes` of rows: id, customer, status, random-word body (~900 bytes), amount, timestamp. */
async function buildPostgres(client: Client, database: string, megabytes: number): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (exists.rowCount) {
    return;
  }
  log(`building PostgreSQL dataset "${database}" (~${megabytes} MB)`);
  // Built under another name and renamed when complete, so an interrupted build is never mistaken for a cached one.
  const building = `${database}_building`;
  await client.query(`DROP DATABASE IF EXISTS ${building}`);
  await client.query(`CREATE DATABASE ${building}`);
  const db = new Client({ host: client.host, port: client.port, user: 'postgres', password: PASSWORD, database: building });
  await db.connect();
  await db.query(
    `CREATE TABLE documents (id bigint PRIMARY KEY, customer text, status text, body text, amount numeric(12,2), created timestamptz)`,
  );
  const words = `ARRAY[${WORDS.map((w) => `'${w}'`).join(',')}]`;
  const rows = megabytes * 1000;
  const batch = 100_000;
  for (let start = 1; start <= rows; start += batch) {
    await db.query(
      `INSERT INTO documents SELECT g, 'customer-' || (random()*100000)::int, (${words})[1 + (random()*4)::int],
         (SELECT string_agg((${words})[1 + floor(random()*${WORDS.length})::int], ' ') FROM generate_series(1, 140 + (g % 3)) s),
         (random()*10000)::numeric(12,2), now() - random() * interval '900 days'
       FROM generate_series($1::bigint, $2::bigint) g`,
      [start, Math.min(rows, start + batch - 1)],
    );
  }
  await db.query('VACUUM ANALYZE documents');
  await db.end();
  await client.query(`ALTER DATABASE ${building} RENAME TO ${database}`);
}

async function buildMariadb(port: number, megabytes: number): Promise<void> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'strongbox', password: PASSWORD });
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'bench' AND table_name = 'dataset_complete'",
  );
  if (Number(rows[0].n) > 0) {
    await conn.end();
    return;
  }
  log(`building MariaDB dataset (~${megabytes} MB)`);
  await conn.query('DROP DATABASE IF EXISTS bench');
  await conn.query('CREATE DATABASE bench');
  await conn.query(
    'CREATE TABLE bench.documents (id BIGINT PRIMARY KEY, customer VARCHAR(40), body TEXT, amount DECIMAL(12,2), created DATETIME) ENGINE=InnoDB',
  );
  const word = () => `ELT(1 + FLOOR(RAND() * ${WORDS.length}), ${WORDS.map((w) => `'${w}'`).join(',')})`;
  const body = `CONCAT_WS(' ', ${Array.from({ length: 140 }, word).join(', ')})`;
  const total = megabytes * 1000;
  const batch = 50_000;
  for (let start = 1; start <= total; start += batch) {
    await conn.query(
      `INSERT INTO bench.documents SELECT seq, CONCAT('customer-', FLOOR(RAND()*100000)), ${body}, RAND()*10000, NOW() - INTERVAL FLOOR(RAND()*900) DAY FROM bench.seq_${start}_to_${Math.min(total, start + batch - 1)}`,
    );
  }
  // Marks the dataset complete, so an interrupted build is rebuilt rather than measured.
  await conn.query('CREATE TABLE bench.dataset_complete (at DATETIME)');
  await conn.end();
}

async function main(): Promise<void> {
  mkdirSync(BENCH_DIR, { recursive: true });
  const bundle = bundleTask();
  const pg = await startPostgres({ password: PASSWORD, directory: join(BENCH_DIR, 'postgres') });
  const maria = await startMariadb({ password: PASSWORD, directory: join(BENCH_DIR, 'mariadb') });
  const s3 = await startS3rver(['bench']);
  const figures: Record<string, number> = {};
  try {
    const admin = new Client({ host: pg.host, port: pg.port, user: 'postgres', password: PASSWORD, database: 'postgres' });
    await admin.connect();
    await buildPostgres(admin, 'large', 1100);
    await buildPostgres(admin, 'small', 260);
    await buildMariadb(maria.port, 550);
    const sizes = await admin.query<{ datname: string; size: string }>(
      "SELECT datname, pg_database_size(datname) AS size FROM pg_database WHERE datname IN ('large', 'small')",
    );
    for (const row of sizes.rows) {
      figures[`pg_${row.datname}_database_mb`] = round(Number(row.size) / 1e6, 0);
    }

    const awsEnv = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'eu-west-1',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    };
    const taskEnv = (server: typeof pg, database: string, extra: Record<string, string> = {}) => ({
      ...awsEnv,
      ...server.taskEnv(),
      STRONGBOX_DB_NAME: database,
      STRONGBOX_DATABASE: `bench-${server.engine}`,
      STRONGBOX_VAULT_BUCKET: 'bench',
      STRONGBOX_S3_ENDPOINT: s3.endpoint,
      STRONGBOX_COMMAND: 'backup',
      STRONGBOX_PROGRESS_INTERVAL_SECONDS: '60',
      ...extra,
    });
    const pgUrl = ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres'];
    const pgEnv = { ...awsEnv, PGPASSWORD: PASSWORD };

    // (a) raw pg_dump | zstd -3 -T0 > /dev/null
    const raw = await timed(
      'bash',
      ['-o', 'pipefail', '-c', `pg_dump -Fc -Z0 ${pgUrl.join(' ')} -d large | zstd -3 -T0 -q -c > /dev/null`],
      pgEnv,
    );
    log(`(a) raw: ${round(raw.seconds)} s`);
    // (b) ours to a null sink
    const nullSink = await runTask(bundle, taskEnv(pg, 'large', { STRONGBOX_SINK: 'null' }));
    log(`(b) ours, null sink: ${round(nullSink.seconds)} s`);
    // (c) ours to s3rver, large and small
    const ours = await runTask(bundle, taskEnv(pg, 'large', { STRONGBOX_BACKUP_ID: 'bench-postgres-20260101T000000Z-full' }));
    log(`(c) ours to s3rver: ${round(ours.seconds)} s, peak RSS ${ours.result.peakRssMb} MB`);
    const small = await runTask(bundle, taskEnv(pg, 'small', { STRONGBOX_BACKUP_ID: 'bench-postgres-20260101T000001Z-full' }));
    log(`(c) ours to s3rver, small: ${round(small.seconds)} s, peak RSS ${small.result.peakRssMb} MB`);
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
    // (e) restore: ours (S3 -> sha256 -> zstd -d -> pg_restore, streaming) vs zstd -d | pg_restore from a local file
    const artifact = await s3.client().send(new GetObjectCommand({ Bucket: 'bench', Key: String(ours.result.key) }));
    const local = join(BENCH_DIR, 'large.pgdump.zst');
    writeFileSync(local, await (artifact.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    await admin.query('DROP DATABASE IF EXISTS restore_raw');
    await admin.query('CREATE DATABASE restore_raw');
    const rawRestore = await timed(
      'bash',
      ['-o', 'pipefail', '-c', `zstd -d -q -c ${local} | pg_restore --no-owner --exit-on-error ${pgUrl.join(' ')} -d restore_raw`],
      pgEnv,
    );
    log(`(e) raw restore: ${round(rawRestore.seconds)} s`);
    await admin.query('DROP DATABASE IF EXISTS restore_ours');
    const ourRestore = await runTask(
      bundle,
      taskEnv(pg, 'large', {
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_BACKUP_ID: 'bench-postgres-20260101T000000Z-full',
        STRONGBOX_TARGET_NAME: 'restore_ours',
        STRONGBOX_RESTORE_JOBS: '1',
      }),
    );
    log(`(e) our restore: ${round(ourRestore.seconds)} s`);
    await admin.query('DROP DATABASE IF EXISTS restore_raw');
    await admin.query('DROP DATABASE IF EXISTS restore_ours');
    await admin.end();

    // MariaDB: (a) raw vs (b) ours to a null sink vs (c) ours to s3rver
    const myRaw = await timed(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        `mariadb-dump -h 127.0.0.1 -P ${maria.port} -u strongbox --single-transaction --quick --hex-blob bench | zstd -3 -T0 -q -c > /dev/null`,
      ],
      { ...awsEnv, MYSQL_PWD: PASSWORD },
    );
    const myNull = await runTask(bundle, taskEnv(maria, 'bench', { STRONGBOX_SINK: 'null' }));
    const myS3 = await runTask(bundle, taskEnv(maria, 'bench', { STRONGBOX_BACKUP_ID: 'bench-mariadb-20260101T000000Z-full' }));
    log(`mariadb: raw ${round(myRaw.seconds)} s, ours null ${round(myNull.seconds)} s, ours s3 ${round(myS3.seconds)} s`);

    Object.assign(figures, {
      pipeline_vs_raw: round(raw.seconds / nullSink.seconds),
      s3_vs_naive: round(naive.seconds / ours.seconds),
      rss_mb_small: Number(small.result.peakRssMb),
      rss_mb_large: Number(ours.result.peakRssMb),
      restore_vs_raw: round(rawRestore.seconds / ourRestore.seconds),
      pg_uncompressed_mb_large: round(Number(ours.result.uncompressedBytes) / 1e6, 0),
      pg_uncompressed_mb_small: round(Number(small.result.uncompressedBytes) / 1e6, 0),
      pg_compressed_mb_large: round(Number(ours.result.bytes) / 1e6, 0),
      seconds_raw: round(raw.seconds),
      seconds_null_sink: round(nullSink.seconds),
      seconds_s3: round(ours.seconds),
      seconds_naive: round(naive.seconds),
      seconds_restore_raw: round(rawRestore.seconds),
      seconds_restore_ours: round(ourRestore.seconds),
      mariadb_uncompressed_mb: round(Number(myS3.result.uncompressedBytes) / 1e6, 0),
      mariadb_pipeline_vs_raw: round(myRaw.seconds / myNull.seconds),
      mariadb_s3_seconds: round(myS3.seconds),
      mariadb_rss_mb: Number(myS3.result.peakRssMb),
    });
  } finally {
    await s3.stop();
    await pg.stop();
    await maria.stop();
  }
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`bench/dump: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
