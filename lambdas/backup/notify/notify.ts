import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { breachTarget, METRIC, publishBreach } from '../../../contracts/metrics';
import { type FailureSummary, type NotifyEvent, type PrepareResult, PrepareResultSchema } from '../../../contracts/payloads/backup';
import type { Plan } from '../../../contracts/plan';
import { FailureRecordSchema, keys, type Manifest, ManifestSchema } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';

export interface NotifyDeps {
  readonly sns: SNSClient;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly plan: Plan;
  readonly chatTopicArn: string;
  /** Left out where no pager is configured. */
  readonly pagerTopicArn?: string;
  readonly pageOnImportant: boolean;
  readonly region: string;
  readonly metrics?: Metrics;
}

export interface ChatNotification {
  readonly version: '1.0';
  readonly source: 'custom';
  readonly content: { readonly textType: 'client-markdown'; readonly title: string; readonly description: string };
  readonly metadata: {
    readonly summary: string;
    readonly eventType: string;
    readonly relatedResources: readonly string[];
    readonly additionalContext: Record<string, string>;
  };
}

export type NotifyResult = { readonly published: readonly string[] } | FailureSummary;

const STDERR_TAIL_CHARS = 1500;
const CAUSE_CHARS = 4000;

/**
 * The last word of every execution: a summary in AWS Chatbot's custom-notification format on the chat topic,
 * the page for failures of critical (and, when configured, important) databases, and the EMF metrics the alarms
 * read. On the failure path it also turns Step Functions' raw `{Error, Cause}` into the readable error and
 * cause that the Fail state shows.
 */
export async function notify(event: NotifyEvent, deps: NotifyDeps): Promise<NotifyResult> {
  const prepare = PrepareResultSchema.safeParse(event.state.prepare);
  const ready =
    prepare.success && prepare.data.status === 'ready' ? (prepare.data as Extract<PrepareResult, { status: 'ready' }>) : undefined;
  const link = consoleLink(deps.region, event.execution.executionArn);
  const database = ready?.database ?? (prepare.success ? prepare.data.database : inputDatabase(event, deps.plan));

  if (event.outcome === 'skipped') {
    const notice = prepare.success && prepare.data.status === 'skipped' ? prepare.data.notice : 'skipped';
    await publish(deps.sns, deps.chatTopicArn, {
      title: `:fast_forward: Backup skipped: ${database ?? 'unknown database'}`,
      description: `${notice}\n\n[Execution](${link})`,
      eventType: 'BackupSkipped',
      executionArn: event.execution.executionArn,
      context: { database: database ?? 'unknown' },
    });
    return { published: ['chat'] };
  }

  if (event.outcome === 'succeeded' && ready) {
    const manifest = (await getJson(deps.s3, deps.bucket, keys.manifest(ready.backupId), ManifestSchema))?.value;
    const description = manifest
      ? successLines(manifest, event)
      : [`Backup ${ready.backupId} finished (manifest not readable for figures).`];
    await publish(deps.sns, deps.chatTopicArn, {
      title: `:white_check_mark: Backup verified and replicated: ${ready.database}`,
      description: `${description.join('\n')}\n\n[Execution](${link})`,
      eventType: 'BackupSucceeded',
      executionArn: event.execution.executionArn,
      context: { database: ready.database, backupId: ready.backupId },
    });
    if (deps.metrics && manifest) {
      deps.metrics.addDimensions({ Database: ready.database, Engine: ready.engine });
      deps.metrics.addMetric(METRIC.backupSucceeded, 'Count', 1);
      deps.metrics.addMetric(METRIC.backupBytes, 'Bytes', manifest.artifact.bytes);
      deps.metrics.addMetric(METRIC.backupDurationSeconds, 'Seconds', manifest.durationSeconds);
      deps.metrics.addMetric(METRIC.backupThroughputMBps, 'Count', manifest.throughputMBps);
      deps.metrics.addMetric(METRIC.compressionRatio, 'Count', compressionRatio(manifest));
    }
    return { published: ['chat'] };
  }

  const summary = await describeFailure(event, deps, ready);
  const engine = database ? deps.plan.databases[database]?.engine : undefined;
  const message = {
    title: `:rotating_light: ${runLabel(ready?.backupId)} failed: ${database ?? 'unknown database'}`,
    description: `**${summary.error}**\n${summary.cause}\n\n[Execution](${link})`,
    eventType: 'BackupFailed',
    executionArn: event.execution.executionArn,
    context: { database: database ?? 'unknown', ...(ready ? { backupId: ready.backupId } : {}), error: summary.error },
  };
  const published = ['chat'];
  await publish(deps.sns, deps.chatTopicArn, message);
  const tier = database ? deps.plan.databases[database]?.tier : undefined;
  if (deps.pagerTopicArn && (tier === 'critical' || (tier === 'important' && deps.pageOnImportant))) {
    await publish(deps.sns, deps.pagerTopicArn, message);
    published.push('pager');
  }
  if (deps.metrics && database && engine) {
    deps.metrics.addDimensions({ Database: database, Engine: engine });
    deps.metrics.addMetric(METRIC.backupFailed, 'Count', 1);
  }
  const target = breachTarget(deps.plan, database);
  if (deps.metrics && target) {
    publishBreach(deps.metrics, target, true);
  }
  return summary;
}

/**
 * What failed, in the words of the chat and pager title: the log-archive and base-backup machines share this
 * failure path, and an on-call engineer paged for "Backup failed" would look for a dump that was never due. The
 * run id's suffix says which machine minted it (`-logs`, `-base`, else a dump's kind).
 */
export function runLabel(runId: string | undefined): string {
  if (runId?.endsWith('-logs')) {
    return 'Log archiving';
  }
  return runId?.endsWith('-base') ? 'Base backup' : 'Backup';
}

export function consoleLink(region: string, executionArn: string): string {
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${encodeURIComponent(executionArn)}`;
}

export function compressionRatio(manifest: Manifest): number {
  return manifest.artifact.bytes > 0 ? Math.round((manifest.artifact.uncompressedBytes / manifest.artifact.bytes) * 100) / 100 : 0;
}

function successLines(manifest: Manifest, event: NotifyEvent): string[] {
  const replicate = event.state.replicate as { lagSeconds?: number } | undefined;
  const retain = event.state.retain as { deleted?: string[]; kept?: number } | undefined;
  const mb = manifest.artifact.bytes / 1e6;
  return [
    `**Database:** ${manifest.database} (${manifest.engine.name} ${manifest.engine.serverVersion})`,
    `**Backup:** \`${manifest.backupId}\``,
    `**Size:** ${formatBytes(manifest.artifact.bytes)} compressed, ${formatBytes(manifest.artifact.uncompressedBytes)} raw (ratio ${compressionRatio(manifest)}x)`,
    `**Duration:** ${manifest.durationSeconds.toFixed(1)} s at ${(manifest.throughputMBps || (manifest.durationSeconds > 0 ? mb / manifest.durationSeconds : 0)).toFixed(1)} MB/s`,
    ...(replicate?.lagSeconds !== undefined ? [`**Replica:** copied ${replicate.lagSeconds.toFixed(0)} s after the dump finished`] : []),
    ...(retain?.kept !== undefined ? [`**Retention:** ${retain.kept} kept, ${retain.deleted?.length ?? 0} pruned`] : []),
  ];
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function inputDatabase(event: NotifyEvent, plan: Plan): string | undefined {
  const name = (event.state as { database?: unknown }).database;
  return typeof name === 'string' && plan.databases[name] ? name : undefined;
}

/**
 * Step Functions' Cause is a JSON document for Lambda errors ({errorType, errorMessage, trace}) and for ECS
 * ({StoppedReason, Containers: [{ExitCode}]...}); the on-call engineer needs the message, the exit code, and the
 * dump tool's stderr tail (failure.json, when the task wrote one), never a stack trace.
 */
export async function describeFailure(
  event: NotifyEvent,
  deps: Pick<NotifyDeps, 's3' | 'bucket'>,
  ready: Extract<PrepareResult, { status: 'ready' }> | undefined,
): Promise<FailureSummary> {
  const raw = event.state.error ?? {};
  let error = raw.Error ?? 'UnknownError';
  let cause = raw.Cause ?? 'no cause was reported';
  try {
    const parsed = JSON.parse(cause) as Record<string, unknown>;
    if (typeof parsed.errorMessage === 'string') {
      error = typeof parsed.errorType === 'string' ? parsed.errorType : error;
      cause = parsed.errorMessage;
    } else if ('StoppedReason' in parsed || 'Containers' in parsed) {
      const containers = (parsed.Containers as { Name?: string; ExitCode?: number; Reason?: string }[] | undefined) ?? [];
      const exit = containers.find((c) => c.ExitCode !== undefined);
      cause = `Dump task stopped: ${String(parsed.StoppedReason ?? 'no reason given')}${exit ? `; exit code ${exit.ExitCode}` : ''}${exit?.Reason ? ` (${exit.Reason})` : ''}`;
    }
  } catch {
    // Not JSON: the cause is already text.
  }
  if (ready) {
    const failure = await getJson(deps.s3, deps.bucket, keys.failure(ready.backupId), FailureRecordSchema).catch(() => undefined);
    if (failure) {
      const f = failure.value;
      cause += `\n${f.phase} failed: ${f.message}${f.exitCode !== null ? ` (exit code ${f.exitCode})` : ''}${f.signal ? ` (signal ${f.signal})` : ''}`;
      if (f.stderrTail) {
        cause += `\nstderr (last lines):\n${f.stderrTail.slice(-STDERR_TAIL_CHARS)}`;
      }
    }
  }
  return { error, cause: cause.length > CAUSE_CHARS ? `${cause.slice(0, CAUSE_CHARS - 3)}...` : cause };
}

async function publish(
  sns: SNSClient,
  topicArn: string,
  message: { title: string; description: string; eventType: string; executionArn: string; context: Record<string, string> },
): Promise<void> {
  const body: ChatNotification = {
    version: '1.0',
    source: 'custom',
    content: { textType: 'client-markdown', title: message.title, description: message.description },
    metadata: {
      summary: message.title,
      eventType: message.eventType,
      relatedResources: [message.executionArn],
      additionalContext: message.context,
    },
  };
  await sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Message: JSON.stringify(body),
      Subject: message.title.replace(/:[a-z_]+: /, '').slice(0, 99),
    }),
  );
}
