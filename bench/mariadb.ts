import { mkdirSync } from 'node:fs';
import { keys, ManifestSchema } from '../contracts/vault';
import { getJson } from '../contracts/vault-io';
import { startS3rver } from '../dev/servers/s3rver';
import {
  BENCH_DIR,
  bestOf,
  buildMariadb,
  bundleTask,
  logger,
  PASSWORD,
  round,
  runTask,
  startBenchMariadb,
  taskEnv,
  timed,
} from './support';

/**
 * The MariaDB dump pipeline on the 0.55 GB dataset: (a) raw `mariadb-dump | zstd` against (b) ours to a null sink,
 * alternated and best of ROUNDS (see bestOf); then (c) ours to s3rver, and a drill of that backup, which compares
 * the restored counts with the manifest's exactly when the inventory is exact (counted from the dump stream).
 * A section of its own, so it runs alone: `node --import tsx bench/mariadb.ts`.
 */
const ROUNDS = Number(process.env.STRONGBOX_BENCH_ROUNDS ?? 2);
const BACKUP_ID = 'bench-mariadb-20260101T000000Z-full';
const log = logger('mariadb');

async function main(): Promise<void> {
  mkdirSync(BENCH_DIR, { recursive: true });
  const bundle = await bundleTask();
  // The vault first: if it cannot start (no --openssl-legacy-provider), no database server is left running.
  const s3 = await startS3rver(['bench']);
  const maria = await startBenchMariadb();
  try {
    await buildMariadb(maria, 550);
    const env = (extra: Record<string, string>) => taskEnv(maria, s3.endpoint, 'bench', extra);
    const mariadb = await bestOf(
      'mariadb raw vs ours to a null sink',
      ROUNDS,
      () =>
        timed(
          'bash',
          [
            '-o',
            'pipefail',
            '-c',
            `mariadb-dump -h 127.0.0.1 -P ${maria.port} -u strongbox --single-transaction --quick --hex-blob bench | zstd -3 -T0 -q -c > /dev/null`,
          ],
          { ...process.env, MYSQL_PWD: PASSWORD },
        ),
      () => runTask(bundle, env({ STRONGBOX_SINK: 'null' })),
      log,
    );
    const myS3 = await runTask(bundle, env({ STRONGBOX_BACKUP_ID: BACKUP_ID }));
    log(`mariadb: ours to s3rver ${round(myS3.seconds)} s, peak RSS ${myS3.result.peakRssMb} MB`);
    const manifest = (await getJson(s3.client(), 'bench', keys.manifest(BACKUP_ID), ManifestSchema))?.value;
    if (!manifest) {
      throw new Error(`no manifest for ${BACKUP_ID} after the backup to s3rver: ${JSON.stringify(myS3.result)}`);
    }
    // A failed drill exits non-zero; it is a figure here (false), with its reason in the log.
    const drill = await runTask(bundle, env({ STRONGBOX_COMMAND: 'drill', STRONGBOX_BACKUP_ID: BACKUP_ID })).catch((error: Error) => {
      log(`mariadb: ${error.message.slice(0, 500)}`);
      return { seconds: 0, result: { passed: false } as Record<string, unknown>, logs: [] };
    });
    log(
      `mariadb: drill ${drill.result.passed === true ? 'passed' : 'failed'} in ${round(drill.seconds)} s, counts ${manifest.inventory.exact ? 'exact' : 'within tolerance'}`,
    );
    process.stdout.write(
      `${JSON.stringify({
        mariadb_uncompressed_mb: round(Number(myS3.result.uncompressedBytes) / 1e6, 0),
        mariadb_pipeline_vs_raw: round(mariadb.raw.seconds / mariadb.ours.seconds),
        mariadb_pipeline_vs_raw_median: round(mariadb.medianRatio),
        mariadb_seconds_raw: round(mariadb.raw.seconds),
        mariadb_seconds_null_sink: round(mariadb.ours.seconds),
        // Of those, the dump itself (tool start to last byte); the rest is the task's start-up and connecting.
        mariadb_dump_seconds_null_sink: Number(mariadb.ours.result.durationSeconds),
        mariadb_s3_seconds: round(myS3.seconds),
        mariadb_rss_mb: Number(myS3.result.peakRssMb),
        // The drill passed and compared its counts with the manifest's exactly (no tolerance).
        mariadb_inventory_exact: manifest.inventory.exact && drill.result.passed === true,
        mariadb_drill_restore_seconds: Number(drill.result.restoreSeconds ?? 0),
      })}\n`,
    );
  } finally {
    await s3.stop();
    await maria.stop();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench/mariadb: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
