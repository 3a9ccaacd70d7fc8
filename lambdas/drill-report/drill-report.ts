import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { type DrillRecord, DrillRecordSchema, describeMismatch, keys, type LatestDrill } from '../shared/catalog';
import { StrongboxError } from '../shared/errors';
import { METRIC, publishDatabaseMetrics } from '../shared/metrics';
import type { DrillReportEvent } from '../shared/restore-payloads';
import { getJson, putJson } from '../shared/vault-io';

/** The drill ran and found the backup not restorable as recorded; the execution fails with the mismatches. */
export class DrillFailedError extends StrongboxError {}

export interface DrillReportDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly sns: SNSClient;
  readonly chatTopicArn: string;
  readonly metrics: Metrics;
}

/**
 * Reports a drill to chat from its drill.json. The task emits DrillPassed and MeasuredRTOSeconds itself (EMF);
 * only when it left no record (crashed, stopped, never started) does this emit DrillPassed=0, so the drill
 * alarm sees every failure exactly once.
 */
export async function reportDrill(
  event: DrillReportEvent,
  deps: DrillReportDeps,
): Promise<DrillRecord | { passed: false; reason: string }> {
  const { prepared } = event;
  const record = (await getJson(deps.s3, deps.bucket, keys.drill(prepared.backupId), DrillRecordSchema))?.value;
  // A failed task with a passing drill.json left that record on an earlier run: it says nothing about this one.
  const fresh = record && !(event.error && record.passed);
  if (!fresh) {
    publishDatabaseMetrics(deps.metrics, { database: prepared.database, engine: prepared.engine }, [
      { name: METRIC.drillPassed, unit: 'Count', value: 0 },
    ]);
    const reason = event.error ? `${event.error.Error}: ${event.error.Cause ?? ''}` : 'the drill task left no drill.json';
    await post(deps, `Drill of ${prepared.database} FAILED (${prepared.backupId}): ${reason}`, prepared.database, false);
    throw new DrillFailedError(`Drill of ${prepared.database} (${prepared.backupId}) did not complete: ${reason}`);
  }
  // The watchdog's DrillAgeSeconds (and the drill-overdue alarm) reads this pointer rather than listing backups.
  await putJson(deps.s3, deps.bucket, keys.latestDrill(prepared.database), {
    database: prepared.database,
    backupId: record.backupId,
    drilledAt: record.drilledAt,
    passed: record.passed,
  } satisfies LatestDrill);
  const summary = record.passed
    ? `Drill of ${prepared.database} passed: ${prepared.backupId} restored into a throwaway engine in ${record.restoreSeconds} s; inventory matches the manifest, ${record.checks.length} sanity checks passed.`
    : `Drill of ${prepared.database} FAILED: ${prepared.backupId} restored in ${record.restoreSeconds} s but ${describeFailures(record)}`;
  await post(deps, summary, prepared.database, record.passed);
  if (!record.passed) {
    throw new DrillFailedError(summary);
  }
  return record;
}

function describeFailures(record: DrillRecord): string {
  const parts = [
    ...record.mismatches.map(describeMismatch),
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
