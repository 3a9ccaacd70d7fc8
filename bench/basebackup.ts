import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Client } from 'pg';
import { startS3rver } from '../dev/servers/s3rver';
import {
  AWS_ENV,
  BENCH_DIR,
  buildPostgres,
  bundleTask,
  logger,
  median,
  PASSWORD,
  round,
  runTask,
  startBenchPostgres,
  taskEnv,
  timed,
} from './support';

/**
 * Issue 13: basebackup_vs_raw. Our base backup (the task's `base-backup` to a null sink: pg_basebackup compressing
 * into the task's work directory, the file followed and hashed as it grows, backup_manifest read for the manifest) against the raw
 * `pg_basebackup -Ft -D - -X none | zstd` to /dev/null, same flags, on the bench cluster (the dump section's
 * datasets), alternated for ROUNDS rounds. The ratio is best raw / best ours like the other sections; the medians
 * and the load average are printed beside it, since the machine is shared.
 * A section of its own: `node --import tsx bench/basebackup.ts` (STRONGBOX_BENCH_ROUNDS sets the rounds).
 */
const ROUNDS = Number(process.env.STRONGBOX_BENCH_ROUNDS ?? 3);
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
    const rawSeconds: number[] = [];
    const oursSeconds: number[] = [];
    const ratios: number[] = [];
    const loads: number[] = [];
    let uncompressed = 0;
    for (let i = 1; i <= ROUNDS; i++) {
      loads.push(loadavg()[0]);
      const r = await timed('bash', ['-o', 'pipefail', '-c', raw], { ...process.env, ...AWS_ENV, PGPASSWORD: PASSWORD });
      const o = await runTask(bundle, {
        ...taskEnv(pg, s3.endpoint, 'postgres', { STRONGBOX_COMMAND: 'base-backup', STRONGBOX_SINK: 'null' }),
      });
      uncompressed = Number(o.result.uncompressedBytes);
      rawSeconds.push(r.seconds);
      oursSeconds.push(o.seconds);
      ratios.push(r.seconds / o.seconds);
      log(`round ${i}: raw ${round(r.seconds)} s, ours ${round(o.seconds)} s, load ${round(loads.at(-1) as number, 2)}`);
    }
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
        basebackup_vs_raw: round(Math.min(...rawSeconds) / Math.min(...oursSeconds)),
        basebackup_vs_raw_median: round(median(ratios)),
        basebackup_seconds_raw: round(Math.min(...rawSeconds)),
        basebackup_seconds_null_sink: round(Math.min(...oursSeconds)),
        basebackup_uncompressed_mb: round(uncompressed / 1e6, 0),
        basebackup_load_average: round(median(loads), 2),
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
