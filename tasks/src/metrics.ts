import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Engine } from '../../contracts/engines';
import { archiveLagSeconds, type LogCursor } from '../../contracts/logs';
import { METRIC, METRICS_NAMESPACE, publishDatabaseMetrics } from '../../contracts/metrics';
import { logLine } from './log';

/**
 * The task's own Metrics (EMF on stdout, which CloudWatch turns into metrics), with the namespace and service
 * name of the shared instance in lambdas/runtime/powertools. That module also builds a Tracer, whose X-Ray SDK
 * enables async_hooks when it loads: in the task bundle that taxes every stream callback of every backup and
 * restore, and the task never traces.
 */
let instance: Metrics | undefined;
export function taskMetrics(): Metrics {
  instance ??= new Metrics({ namespace: METRICS_NAMESPACE, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'strongbox' });
  return instance;
}

/**
 * What every archiving run (binlog, WAL) reports when it ends: the lag and broken-chain metrics the alarms read,
 * any of the engine's own (`extra`), and an error line for a broken chain. Returns the lag it published.
 */
export function publishArchiveRun(
  run: { readonly database: string; readonly engine: Engine; readonly log: 'binlog' | 'WAL' },
  result: { readonly cursor: LogCursor; readonly broken?: LogCursor['broken'] },
  extra: Parameters<typeof publishDatabaseMetrics>[2] = [],
): number {
  const lagSeconds = archiveLagSeconds(result.cursor, new Date());
  publishDatabaseMetrics(taskMetrics(), { database: run.database, engine: run.engine }, [
    { name: METRIC.logArchiveLagSeconds, unit: 'Seconds', value: lagSeconds },
    { name: METRIC.logChainBroken, unit: 'Count', value: result.broken ? 1 : 0 },
    ...extra,
  ]);
  if (result.broken) {
    logLine('error', `${run.log} chain broken`, { reason: result.broken.reason, resumedAt: result.broken.resumedAt });
  }
  return lagSeconds;
}
