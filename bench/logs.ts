import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { readSegmentManifests } from '../contracts/log-chain';
import type { LogKind } from '../contracts/vault';
import { type EngineServer, startMariadb, startPostgres } from '../dev/servers/engines';
import { type LocalS3, startS3rver } from '../dev/servers/s3rver';
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
 * wal_archive_lag_seconds: the same scheduled runs and writer against PostgreSQL, whose archive-logs run reads
 * WAL from the slot (issue 13 asks whether a scheduled run meets a 5-minute interval).
 * A section of its own: `node --import tsx bench/logs.ts`.
 */
const INTERVAL_SECONDS = 60;
/** The stream-logs figures: a flush every FLUSH_SECONDS for STREAM_SECONDS, under the same writer. */
const FLUSH_SECONDS = 10;
const STREAM_SECONDS = 60;
const RUNS = 3;
const WRITE_MS = 50;
const log = logger('logs');

/** Rows written at a steady rate by `insert` until `stop`, with the time of the newest. */
function startWriter(insert: () => Promise<unknown>, close: () => Promise<unknown>) {
  let writing = true;
  const state = { written: 0, lastWrittenAt: 0 };
  const done = (async () => {
    while (writing) {
      await insert();
      state.written += 1;
      state.lastWrittenAt = Date.now();
      await sleep(WRITE_MS);
    }
    await close();
  })();
  return {
    state,
    stop: async () => {
      writing = false;
      await done.catch(() => undefined);
    },
  };
}

interface ScheduledLag {
  readonly worst: number;
  readonly runSeconds: number;
  readonly atStart: number;
  /** Binlog only: WAL carries no event times. */
  readonly eventLag?: number;
}

/**
 * The scheduled archiver under the writer: one run that starts the chain, then RUNS runs each started
 * INTERVAL_SECONDS after the previous one started; per run, its end minus the previous run's coveredUntil.
 */
async function measureScheduled(
  bundle: string,
  env: NodeJS.ProcessEnv,
  s3: LocalS3,
  kind: LogKind,
  writer: { readonly written: number; readonly lastWrittenAt: number },
): Promise<ScheduledLag> {
  const database = String(env.STRONGBOX_DATABASE);
  const archive = async () => {
    const run = await runTask(bundle, env);
    if (run.result.ok !== true) {
      throw new Error(`archive-logs run failed: ${JSON.stringify(run.result).slice(0, 300)}`);
    }
    return { seconds: run.seconds, coveredUntil: Date.parse(String(run.result.coveredUntil)), segments: Number(run.result.segments) };
  };
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
    let eventNote = '';
    if (kind === 'binlog') {
      const newestWritten = writer.lastWrittenAt;
      const manifests = await readSegmentManifests(s3.client(), 'bench', database, kind);
      const newestArchived = Math.max(...manifests.map((m) => (m.lastEventAt ? Date.parse(m.lastEventAt) : 0)));
      // Binlog event timestamps have whole seconds, so this is the data behind the writer at the run's end, to ±1 s.
      const eventLag = Math.max(0, (newestWritten - newestArchived) / 1000);
      eventLags.push(eventLag);
      eventNote = `, newest archived event ${round(eventLag, 1)} s behind the newest write`;
    }
    log(
      `${kind} run ${i}: lag ${round(startLags[i - 1], 1)} s as it starts, ${round(lag, 1)} s as it ends, run ${round(previous.seconds, 1)} s, ${previous.segments} segment(s)${eventNote}, ${writer.written} rows written`,
    );
  }
  const worst = Math.max(...lags);
  log(
    `${kind}: archive lag ${round(worst, 1)} s (goal ≤ ${INTERVAL_SECONDS + 60} at a ${INTERVAL_SECONDS} s interval, Fargate start-up excluded)`,
  );
  return {
    worst: round(worst, 1),
    runSeconds: round(median(runSeconds), 2),
    atStart: round(Math.max(...startLags), 1),
    ...(eventLags.length > 0 && { eventLag: round(Math.max(...eventLags), 1) }),
  };
}

const TICKS = 'CREATE TABLE ticks (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note VARCHAR(100), written_at TIMESTAMP(6))';

async function main(): Promise<void> {
  mkdirSync(BENCH_DIR, { recursive: true });
  const bundle = await bundleTask();
  const s3 = await startS3rver(['bench']);
  const servers: EngineServer[] = [];
  const writers: { stop: () => Promise<void> }[] = [];
  try {
    // MariaDB (ROW binlogs): the scheduled runs, then logs.mode continuous
    const maria = await startMariadb({ password: PASSWORD, logBin: true, binlogFormat: 'ROW' });
    servers.push(maria);
    const conn = await mysql.createConnection({
      host: maria.host,
      port: maria.port,
      user: maria.username,
      password: maria.password,
      database: 'strongbox',
    });
    await conn.query('CREATE TABLE ticks (id BIGINT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100), written_at DATETIME(6))');
    const mariaWriter = startWriter(
      () => conn.query("INSERT INTO ticks (note, written_at) VALUES (REPEAT('x', 80), NOW(6))"),
      () => conn.end(),
    );
    writers.push(mariaWriter);
    const env = taskEnv(maria, s3.endpoint, 'strongbox', {
      STRONGBOX_COMMAND: 'archive-logs',
      STRONGBOX_LOG_INTERVAL_MINUTES: String(INTERVAL_SECONDS / 60),
    });
    const binlog = await measureScheduled(bundle, env, s3, 'binlog', mariaWriter.state);
    const stream = await measureStream(bundle, {
      ...env,
      STRONGBOX_COMMAND: 'stream-logs',
      STRONGBOX_LOG_FLUSH_SECONDS: String(FLUSH_SECONDS),
    });
    await mariaWriter.stop();

    // PostgreSQL (WAL from the slot): the scheduled runs under the same writer, committing synchronously so that
    // each row is in the WAL the run reads up to
    const pg = await startPostgres({ password: PASSWORD });
    servers.push(pg);
    const client = new Client({ host: pg.host, port: pg.port, user: pg.username, password: PASSWORD, database: 'postgres' });
    await client.connect();
    await client.query('SET synchronous_commit = on');
    await client.query(TICKS);
    const pgWriter = startWriter(
      () => client.query("INSERT INTO ticks (note, written_at) VALUES (repeat('x', 80), clock_timestamp())"),
      () => client.end(),
    );
    writers.push(pgWriter);
    const wal = await measureScheduled(
      bundle,
      taskEnv(pg, s3.endpoint, 'postgres', {
        STRONGBOX_COMMAND: 'archive-logs',
        STRONGBOX_LOG_INTERVAL_MINUTES: String(INTERVAL_SECONDS / 60),
      }),
      s3,
      'wal',
      pgWriter.state,
    );
    await pgWriter.stop();
    process.stdout.write(
      `${JSON.stringify({
        log_archive_lag_seconds: binlog.worst,
        log_archive_run_seconds: binlog.runSeconds,
        log_archive_lag_at_start_seconds: binlog.atStart,
        log_archive_event_lag_seconds: binlog.eventLag,
        log_archive_interval_seconds: INTERVAL_SECONDS,
        log_stream_lag_seconds: stream.worstLagSeconds,
        log_stream_flush_seconds: FLUSH_SECONDS,
        log_stream_cpu_seconds_per_minute: stream.cpuSecondsPerMinute,
        log_stream_flushes: stream.flushes,
        wal_archive_lag_seconds: wal.worst,
        wal_archive_run_seconds: wal.runSeconds,
        wal_archive_lag_at_start_seconds: wal.atStart,
      })}\n`,
    );
  } finally {
    await Promise.allSettled(writers.map((writer) => writer.stop()));
    await Promise.allSettled([...servers.map((server) => server.stop()), s3.stop()]);
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
