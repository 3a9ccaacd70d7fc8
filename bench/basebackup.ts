import { mkdirSync } from 'node:fs';
import { Client } from 'pg';
import { startS3rver } from '../dev/servers/s3rver';
import {
  AWS_ENV,
  BENCH_DIR,
  bestOf,
  buildPostgres,
  bundleTask,
  logger,
  PASSWORD,
  round,
  runTask,
  startBenchPostgres,
  taskEnv,
  timed,
} from './support';

/**
 * Issue 13: our base backup (the task's `base-backup` to a null sink: pg_basebackup's tar through Node, which
 * picks out backup_manifest, into zstd and SHA-256) against the raw `pg_basebackup -Ft -D - -X none | zstd` to
 * /dev/null, same flags, on the bench cluster (the dump section's datasets), alternated and best of ROUNDS.
 * A section of its own: `node --import tsx bench/basebackup.ts`.
 */
const ROUNDS = 2;
const log = logger('basebackup');

async function main(): Promise<void> {
  mkdirSync(BENCH_DIR, { recursive: true });
  const bundle = await bundleTask();
  // The vault first: if it cannot start (no --openssl-legacy-provider), no database server is left running.
  const s3 = await startS3rver(['bench']);
  const pg = await startBenchPostgres();
  try {
    await buildPostgres(pg, 'small', 260);
    const admin = new Client({ host: pg.host, port: pg.port, user: 'postgres', password: PASSWORD, database: 'postgres' });
    await admin.connect();
    const size = await admin.query<{ bytes: string }>('SELECT sum(pg_database_size(datname))::bigint::text AS bytes FROM pg_database');
    await admin.end();
    const raw = [
      'pg_basebackup -D - -Ft -X none --checkpoint=fast --label=strongbox',
      `-h ${pg.host} -p ${pg.port} -U postgres --no-password | zstd -3 -T0 -q -c > /dev/null`,
    ].join(' ');
    const base = await bestOf(
      'raw pg_basebackup | zstd vs ours to a null sink',
      ROUNDS,
      () => timed('bash', ['-o', 'pipefail', '-c', raw], { ...process.env, ...AWS_ENV, PGPASSWORD: PASSWORD }),
      () => runTask(bundle, taskEnv(pg, s3.endpoint, 'postgres', { STRONGBOX_COMMAND: 'base-backup', STRONGBOX_SINK: 'null' })),
      log,
    );
    // The slot the task created keeps WAL on the cached bench server; nothing archives it here.
    const cleanup = new Client({ host: pg.host, port: pg.port, user: 'postgres', password: PASSWORD, database: 'postgres' });
    await cleanup.connect();
    await cleanup.query(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'strongbox_bench_postgres'",
    );
    await cleanup.end();
    process.stdout.write(
      `${JSON.stringify({
        basebackup_cluster_mb: round(Number(size.rows[0].bytes) / 1e6, 0),
        basebackup_vs_raw: round(base.raw.seconds / base.ours.seconds),
        basebackup_seconds_raw: round(base.raw.seconds),
        basebackup_seconds_null_sink: round(base.ours.seconds),
        basebackup_uncompressed_mb: round(Number(base.ours.result.uncompressedBytes) / 1e6, 0),
      })}\n`,
    );
  } finally {
    await pg.stop();
    await s3.stop();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench basebackup: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
