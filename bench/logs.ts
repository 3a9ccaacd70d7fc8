import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { readSegmentManifests } from '../contracts/log-chain';
import { startMariadb } from '../dev/servers/engines';
import { startS3rver } from '../dev/servers/s3rver';
import { TASK_NODE_FLAGS, TASK_PROCESS_ENV } from '../tasks/build';
import { BENCH_DIR, bundleTask, logger, median, PASSWORD, round, runTask, taskEnv } from './support';

/**
 * log_archive_lag_seconds: a MariaDB with log_bin/ROW under a steady write load (an INSERT every WRITE_MS on its
 * own connection) while the bundled task's archive-logs command runs every INTERVAL_SECONDS, as the schedule starts
 * it (a run starts on the interval whatever the previous one took). The lag is worst for a write just after a
 * run's listing (the cursor's coveredUntil): the next run archives it, so it waits for the interval plus that run,
 * and the figure is, per run, its end minus the previous run's coveredUntil (the cursor's lag right before the run
 * moves it; `log_archive_lag_at_start_seconds` is that lag as the run starts). The interval is the smallest the config allows
 * (1 minute) and RUNS measured runs follow the run that starts the chain, to keep the bench short; the figure
 * scales with the configured interval (goal: interval + 60 s). Fargate start-up is not in it: on AWS each run
 * also waits for its task to start (README, Binlog archiving).
 * log_stream_lag_seconds: then the stream-logs command (logs.mode continuous) for STREAM_SECONDS with a flush
 * every FLUSH_SECONDS under the same writer, measured the same way (a flush's end minus the previous flush's
 * coveredUntil, the task's worstLagSeconds), with the CPU it and its tools used per minute.
 * A section of its own: `node --import tsx bench/logs.ts`.
 */
const INTERVAL_SECONDS = 60;
/** The stream-logs figures: a flush every FLUSH_SECONDS for STREAM_SECONDS, under the same writer. */
const FLUSH_SECONDS = 10;
const STREAM_SECONDS = 60;
const RUNS = 3;
const WRITE_MS = 50;
const log = logger('logs');

async function main(): Promise<void> {
  mkdirSync(BENCH_DIR, { recursive: true });
  const bundle = await bundleTask();
  const s3 = await startS3rver(['bench']);
  const maria = await startMariadb({ password: PASSWORD, logBin: true, binlogFormat: 'ROW' });
  let writing = true;
  let writer: Promise<void> = Promise.resolve();
  try {
    const conn = await mysql.createConnection({
      host: maria.host,
      port: maria.port,
      user: maria.username,
      password: maria.password,
      database: 'strongbox',
    });
    await conn.query('CREATE TABLE ticks (id BIGINT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100), written_at DATETIME(6))');
    let written = 0;
    let lastWrittenAt = 0;
    writer = (async () => {
      while (writing) {
        await conn.query("INSERT INTO ticks (note, written_at) VALUES (REPEAT('x', 80), NOW(6))");
        written += 1;
        lastWrittenAt = Date.now();
        await sleep(WRITE_MS);
      }
      await conn.end();
    })();

    const env = taskEnv(maria, s3.endpoint, 'strongbox', {
      STRONGBOX_COMMAND: 'archive-logs',
      STRONGBOX_LOG_INTERVAL_MINUTES: String(INTERVAL_SECONDS / 60),
    });
    const database = String(env.STRONGBOX_DATABASE);
    const archive = async () => {
      const run = await runTask(bundle, env);
      if (run.result.ok !== true) {
        throw new Error(`archive-logs run failed: ${JSON.stringify(run.result).slice(0, 300)}`);
      }
      return { seconds: run.seconds, coveredUntil: Date.parse(String(run.result.coveredUntil)), segments: Number(run.result.segments) };
    };

    // The first run starts the chain at the log's end; the lag is measured from the runs that follow it.
    let startedAt = Date.now();
    let previous = await archive();
    const lags: number[] = [];
    const startLags: number[] = [];
    const runSeconds: number[] = [];
    const eventLags: number[] = [];
    for (let i = 1; i <= RUNS; i++) {
      await sleep(Math.max(0, startedAt + INTERVAL_SECONDS * 1000 - Date.now()));
      startedAt = Date.now();
      const coveredBefore = previous.coveredUntil;
      startLags.push((startedAt - coveredBefore) / 1000);
      previous = await archive();
      const lag = (Date.now() - coveredBefore) / 1000;
      lags.push(lag);
      runSeconds.push(previous.seconds);
      const newestWritten = lastWrittenAt;
      const manifests = await readSegmentManifests(s3.client(), 'bench', database, 'binlog');
      const newestArchived = Math.max(...manifests.map((m) => (m.lastEventAt ? Date.parse(m.lastEventAt) : 0)));
      // Binlog event timestamps have whole seconds, so this is the data behind the writer at the run's end, to ±1 s.
      const eventLag = Math.max(0, (newestWritten - newestArchived) / 1000);
      eventLags.push(eventLag);
      log(
        `run ${i}: lag ${round(startLags[i - 1], 1)} s as it starts, ${round(lag, 1)} s as it ends, run ${round(previous.seconds, 1)} s, ${previous.segments} segment(s), newest archived event ${round(eventLag, 1)} s behind the newest write, ${written} rows written`,
      );
    }
    const stream = await measureStream(bundle, {
      ...env,
      STRONGBOX_COMMAND: 'stream-logs',
      STRONGBOX_LOG_FLUSH_SECONDS: String(FLUSH_SECONDS),
    });
    writing = false;
    await writer;
    const worst = Math.max(...lags);
    log(
      `log_archive_lag_seconds ${round(worst, 1)} (goal ≤ ${INTERVAL_SECONDS + 60} at a ${INTERVAL_SECONDS} s interval, Fargate start-up excluded)`,
    );
    process.stdout.write(
      `${JSON.stringify({
        log_archive_lag_seconds: round(worst, 1),
        log_archive_run_seconds: round(median(runSeconds), 2),
        log_archive_lag_at_start_seconds: round(Math.max(...startLags), 1),
        log_archive_event_lag_seconds: round(Math.max(...eventLags), 1),
        log_archive_interval_seconds: INTERVAL_SECONDS,
        log_stream_lag_seconds: stream.worstLagSeconds,
        log_stream_flush_seconds: FLUSH_SECONDS,
        log_stream_cpu_seconds_per_minute: stream.cpuSecondsPerMinute,
        log_stream_flushes: stream.flushes,
      })}\n`,
    );
  } finally {
    writing = false;
    await writer.catch(() => undefined);
    await Promise.allSettled([maria.stop(), s3.stop()]);
  }
}

// --- log_stream_lag_seconds: logs.mode continuous, the stream-logs command under the same write load ---
/** Its worst lag is a write just after one flush's listing, archived by the next: flushSeconds plus a flush. */
async function measureStream(
  bundle: string,
  env: NodeJS.ProcessEnv,
): Promise<{ worstLagSeconds: number; flushes: number; cpuSecondsPerMinute: number }> {
  const child = spawn(process.execPath, [...TASK_NODE_FLAGS, bundle], {
    env: { ...env, ...TASK_PROCESS_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const started = Date.now();
  await sleep(STREAM_SECONDS * 1000);
  // utime, stime, and the reaped children's (mariadb-binlog, zstd) cutime, cstime, in clock ticks of 1/100 s.
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const cpuSeconds = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) / 100;
  const minutes = (Date.now() - started) / 60_000;
  child.kill('SIGTERM');
  const code = await exited;
  const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  if (code !== 0 || result.ok !== true || result.released !== true) {
    throw new Error(`stream-logs exited ${code}: ${JSON.stringify(result).slice(0, 300)}`);
  }
  const worstLagSeconds = Number(result.worstLagSeconds);
  log(
    `stream: ${result.flushes} flushes in ${round(minutes, 2)} min at ${FLUSH_SECONDS} s, worst lag ${worstLagSeconds} s, ${round(cpuSeconds, 2)} CPU s (task and its tools)`,
  );
  return { worstLagSeconds, flushes: Number(result.flushes), cpuSecondsPerMinute: round(cpuSeconds / minutes, 2) };
}

main().catch((error: Error) => {
  process.stderr.write(`bench/logs: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
