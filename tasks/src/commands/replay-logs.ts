import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fullPointOf, readChain } from '../../../contracts/log-chain';
import { describeStop, LOG_KIND_BY_ENGINE, planReplayTo, type ReplayStop, ReplayStopSchema } from '../../../contracts/logs';
import { TASK_ENV, TaskEnvError } from '../../../contracts/task-env';
import type { Manifest } from '../../../contracts/vault';
import type { Connection } from '../../../engines/connection';
import { type ReplaySegment, replayBinlog } from '../../../engines/mysql/binlog-replay';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import type { HashMeter } from '../stream/hash';
import { round, startProgress } from '../stream/progress';
import type { TaskDeps } from './backup';
import { fetchSegment } from './drill-chain';

/** The vault no longer holds what Resolve planned (a segment retained away or never verified since). */
export class ReplayPlanGoneError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'ReplayPlanGoneError';
  }
}

/** STRONGBOX_REPLAY_STOP, parsed; undefined when the restore is of the full dump alone. */
export function replayStopFromEnv(settings: TaskSettings): ReplayStop | undefined {
  const raw = settings.env[TASK_ENV.replayStop];
  if (raw === undefined) {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  const parsed = ReplayStopSchema.safeParse(json);
  if (!parsed.success) {
    throw new TaskEnvError(
      `${TASK_ENV.replayStop}: found ${raw.slice(0, 80)}; expected JSON such as {"kind":"instant","at":"2026-11-21T03:29:59Z"}, {"kind":"position","file":"binlog.000042","position":1234} or {"kind":"gtid","gtid":"0-1-42"}`,
    );
  }
  return parsed.data;
}

/**
 * The replay phase of a restore, after the full dump is in: re-plans from the vault with the same planReplayTo
 * Resolve used, held to the dump Resolve chose (so a segment archived meanwhile changes nothing before the
 * stop), downloads each segment with its SHA-256 checked before a byte is replayed, decompresses it to local
 * disk, and replays them with the stock tools (engines/mysql/binlog-replay.ts).
 */
export async function replayLogs(
  settings: TaskSettings,
  deps: TaskDeps,
  manifest: Manifest,
  connection: Connection,
  stop: ReplayStop,
): Promise<Record<string, unknown>> {
  const env = settings.env;
  const kind = LOG_KIND_BY_ENGINE[env.STRONGBOX_ENGINE];
  if (kind !== 'binlog') {
    throw new TaskEnvError(`${TASK_ENV.replayStop}: set for ${env.STRONGBOX_ENGINE}; only MySQL/MariaDB restores replay a log`);
  }
  const started = Date.now();
  const s3 = await deps.s3();
  const bucket = env.STRONGBOX_VAULT_BUCKET;
  const chain = await readChain(s3, bucket, env.STRONGBOX_DATABASE, { kind, fulls: [fullPointOf(manifest)], windowStart: new Date(0) });
  const plan = planReplayTo(stop, chain);
  if (!plan?.from) {
    throw new ReplayPlanGoneError(
      `the vault no longer holds the binlog segments from ${manifest.backupId} to ${describeStop(stop)}; start the restore again to re-plan`,
    );
  }
  const segments = plan.segmentIds.map((id) => chain.manifests.get(id)).filter((m) => m !== undefined);
  const total = segments.reduce((sum, m) => sum + m.artifact.bytes, 0);
  let done = 0;
  let current: HashMeter | undefined;
  const progress = startProgress(
    'replay',
    { intervalSeconds: env.STRONGBOX_PROGRESS_INTERVAL_SECONDS, totals: { bytes: total } },
    () => done + (current?.bytes ?? 0),
  );
  const directory = mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), 'strongbox-replay-'));
  logLine('info', 'replay started', {
    backupId: manifest.backupId,
    from: plan.from,
    stop: describeStop(stop),
    segments: segments.length,
    bytes: total,
  });
  try {
    const local: ReplaySegment[] = [];
    for (const segment of segments) {
      const path = await fetchSegment(s3, bucket, segment, directory, (meter) => {
        current = meter;
      });
      done += segment.artifact.bytes;
      current = undefined;
      local.push({ path, serverFile: segment.serverFile, startPosition: segment.startPosition });
    }
    const result = await replayBinlog({
      target: connection,
      segments: local,
      from: plan.from,
      stop,
      include: settings.include,
      ...(env.STRONGBOX_DB_NAME && { sourceDatabase: env.STRONGBOX_DB_NAME }),
    });
    progress.finish();
    const seconds = (Date.now() - started) / 1000;
    logLine('info', 'replay finished', { transactions: result.transactions, lastApplied: result.lastApplied, seconds: round(seconds, 3) });
    return {
      replay: {
        stop,
        from: plan.from,
        segments: segments.length,
        bytes: total,
        transactions: result.transactions,
        ...(result.lastApplied && { lastApplied: result.lastApplied }),
        ...(result.firstExcluded && { firstExcluded: result.firstExcluded }),
        durationSeconds: round(seconds, 3),
      },
    };
  } finally {
    progress.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}
