import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { DrillFailedError, readableError } from '../../../contracts/errors';
import { breachTarget, METRIC, publishBreach, publishDatabaseMetrics } from '../../../contracts/metrics';
import type { DrillReportEvent } from '../../../contracts/payloads/drill';
import type { Plan } from '../../../contracts/plan';
import { type DrillRecord, DrillRecordSchema, describeMismatch, keys, type LatestDrill } from '../../../contracts/vault';
import { getJson, putJson } from '../../../contracts/vault-io';

export interface DrillReportDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly sns: SNSClient;
  readonly chatTopicArn: string;
  readonly metrics: Metrics;
  /** The plan, for the database's tier and RTO on the breach flag (a failed drill, a restore slower than the RTO). */
  readonly plan?: Plan;
}

/** ReportFailure's result: the drill machine's Fail state shows it as the execution's error and cause. */
export interface DrillFailure {
  readonly passed: false;
  readonly error: 'DrillFailedError';
  readonly cause: string;
}

/**
 * Reports a drill to chat from its drill.json. The task emits DrillPassed and MeasuredRTOSeconds itself (EMF);
 * only when it left no record (crashed, stopped, never started) does this emit DrillPassed=0, so the drill
 * alarm sees every failure exactly once.
 *
 * On the failure path (an `error` in the event: ReportFailure) it returns the readable failure rather than
 * throwing it, so the execution's cause is the message the chat got, not Lambda's error JSON with its trace.
 */
export async function reportDrill(event: DrillReportEvent, deps: DrillReportDeps): Promise<DrillRecord | DrillFailure> {
  const { prepared } = event;
  const record = (await getJson(deps.s3, deps.bucket, keys.drill(prepared.backupId), DrillRecordSchema))?.value;
  // A record from before this run started, or a passing one when the task failed, was left by an earlier run.
  const stale =
    record !== undefined &&
    ((event.error !== undefined && record.passed) ||
      (event.startedAt !== undefined && Date.parse(record.drilledAt) < Date.parse(event.startedAt)));
  if (!record || stale) {
    publishDatabaseMetrics(deps.metrics, { database: prepared.database, engine: prepared.engine }, [
      { name: METRIC.drillPassed, unit: 'Count', value: 0 },
    ]);
    flagBreach(deps, prepared.database);
    const reason = event.error ? readableError(event.error).cause : 'the drill task left no drill.json';
    const summary = `Drill of ${prepared.database} FAILED (${prepared.backupId}): the drill did not complete: ${reason}`;
    await post(deps, summary, prepared.database, false);
    return failed(event, summary);
  }
  // The watchdog's DrillAgeSeconds (and the drill-overdue alarm) reads this pointer rather than listing backups.
  await putJson(deps.s3, deps.bucket, keys.latestDrill(prepared.database), {
    database: prepared.database,
    backupId: record.backupId,
    drilledAt: record.drilledAt,
    passed: record.passed,
  } satisfies LatestDrill);
  const summary = record.passed
    ? `Drill of ${prepared.database} passed: ${prepared.backupId} restored into a throwaway engine in ${record.restoreSeconds} s; inventory matches the manifest, ${record.checks.length} sanity checks passed.${describeRecovery(record)}`
    : `Drill of ${prepared.database} FAILED: ${prepared.backupId} restored in ${record.restoreSeconds} s but ${describeFailures(record)}`;
  const rtoSeconds = deps.plan?.databases[prepared.database]?.rtoSeconds;
  if (!record.passed || (rtoSeconds !== undefined && record.restoreSeconds > rtoSeconds)) {
    flagBreach(deps, prepared.database);
  }
  await post(deps, summary, prepared.database, record.passed);
  if (!record.passed) {
    return failed(event, summary);
  }
  return record;
}

function failed(event: DrillReportEvent, summary: string): DrillFailure {
  // Report (no error in the event) ran after a task that exited 0: a failed record there must still fail the run.
  if (!event.error) {
    throw new DrillFailedError(summary);
  }
  return { passed: false, error: 'DrillFailedError', cause: new DrillFailedError(summary).message };
}

/** A PostgreSQL chain drill's sentence: the second, physical method agreed with the dump. */
function describeRecovery(record: DrillRecord): string {
  const r = record.recovery;
  return r
    ? ` Base ${r.baseId} and ${r.walFiles.length} WAL files recovered to the dump's LSN ${r.targetLsn} in ${r.recoverySeconds} s (included above) agree with it to the row; pg_verifybackup and pg_amcheck passed.`
    : '';
}

function describeFailures(record: DrillRecord): string {
  const parts = [
    ...record.mismatches.map(describeMismatch),
    ...(record.recovery?.mismatches ?? []).map((m) => `recovered base ${record.recovery?.baseId}: ${describeMismatch(m)}`),
    ...record.checks.filter((c) => !c.passed).map((c) => `check ${c.name} failed${c.detail ? ` (${c.detail})` : ''}`),
  ];
  return parts.join('; ') || 'the drill failed';
}

async function post(deps: DrillReportDeps, description: string, database: string, passed: boolean): Promise<void> {
  await deps.sns.send(
    new PublishCommand({
      TopicArn: deps.chatTopicArn,
      Subject: `Strongbox drill ${passed ? 'passed' : 'FAILED'}: ${database}`,
      Message: JSON.stringify({
        version: '1.0',
        source: 'custom',
        content: { title: `Drill ${passed ? 'passed' : 'failed'}: ${database}`, description },
      }),
    }),
  );
}

function flagBreach(deps: DrillReportDeps, database: string): void {
  const target = breachTarget(deps.plan, database);
  if (target) {
    publishBreach(deps.metrics, target, true);
  }
}
