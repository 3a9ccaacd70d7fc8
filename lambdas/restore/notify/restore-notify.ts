import type { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { DATABASE_NAME, DEFAULT_PORTS } from '../../../contracts/engines';
import { capMessage, readableError } from '../../../contracts/errors';
import { type ResolvedRestore, type RestoreAudit, RestoreAuditSchema, type RestoreNotifyEvent } from '../../../contracts/payloads/restore';
import type { Plan } from '../../../contracts/plan';
import { refusalForDrPlan } from '../../../contracts/refusals';
import { keys, RestoreTaskErrorSchema } from '../../../contracts/vault';
import { getJson, putJson } from '../../../contracts/vault-io';

export interface NotifyDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly sns: SNSClient;
  readonly chatTopicArn: string;
  readonly now?: () => Date;
  /**
   * The deployment plan, for the engine port of a stopped run whose input left the port out (Resolve filled it
   * in for the run, but a stopped run's event carries only the raw input).
   * @default ports left out of the input are recorded as 0
   */
  readonly plan?: Plan;
}

/** EventBridge's "Step Functions Execution Status Change" for a run stopped from the console. */
export interface ExecutionStatusChange {
  readonly 'detail-type': 'Step Functions Execution Status Change';
  readonly detail: {
    readonly executionArn: string;
    readonly name: string;
    readonly status: string;
    readonly startDate: number;
    readonly stopDate?: number | null;
    readonly input?: string | null;
  };
}

/**
 * Last state of every restore that got past Resolve, and target of the EventBridge rule for stopped runs
 * (a stopped execution runs no further state). Writes the audit record `restores/<database>/<time>.json`,
 * then posts to chat with the restore time.
 */
export async function notifyRestore(event: RestoreNotifyEvent, deps: NotifyDeps): Promise<RestoreAudit> {
  const { resolved } = event;
  const finishedAt = (deps.now ?? (() => new Date()))();
  const startedAt = new Date(resolved.execution.startTime);
  const failure = event.outcome === 'failed' ? await describeRestoreFailure(event, resolved, deps) : undefined;
  const audit: RestoreAudit = RestoreAuditSchema.parse({
    schemaVersion: 1,
    database: resolved.database,
    outcome: failure?.error === 'RestoreRefusedError' ? 'refused' : event.outcome,
    startedBy: {
      executionArn: resolved.execution.executionArn,
      executionName: resolved.execution.name,
      ...(resolved.requestedBy !== undefined && { requestedBy: resolved.requestedBy }),
    },
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    restoreSeconds: seconds(startedAt, finishedAt),
    backupId: resolved.backupId,
    requested: resolved.requested,
    target: {
      host: resolved.target.host,
      port: resolved.target.port,
      ...(resolved.target.database && { database: resolved.target.database }),
    },
    include: resolved.include,
    overwrite: resolved.overwriteConfirmed,
    ...(event.validate && { validation: event.validate }),
    ...(event.guard?.ignoredDefiners?.length && { ignoredDefiners: event.guard.ignoredDefiners }),
    ...(resolved.replay && { replay: resolved.replay }),
    ...(resolved.recovery && { recovery: resolved.recovery }),
    ...(failure && { errorType: failure.error, error: failure.cause }),
  });
  await putJson(deps.s3, deps.bucket, resolved.auditKey, audit);
  await publish(deps, audit);
  return audit;
}

/**
 * The failed run's error type and message lines: the execution's Fail state shows them (NotifyFailure's result),
 * and the audit record and chat carry the same text. A failed Restore state's cause is ECS's description of the
 * stopped task; the task's own words are in the error record it wrote under restores/<database>/task-errors/.
 */
async function describeRestoreFailure(
  event: RestoreNotifyEvent,
  resolved: ResolvedRestore,
  deps: NotifyDeps,
): Promise<{ error: string; cause: string }> {
  const readable = readableError(event.error);
  let { error, cause } = readable;
  if (readable.source === 'task') {
    const key = keys.restoreTaskError(resolved.database, resolved.execution.name);
    const record = await getJson(deps.s3, deps.bucket, key, RestoreTaskErrorSchema).catch(() => undefined);
    if (record) {
      // The task's refusal of a target that filled up after Guard is the same refusal as Guard's.
      error = record.value.errorType === 'TargetNotEmptyError' ? 'RestoreRefusedError' : record.value.errorType;
      const tail = record.value.stderrTail?.trim();
      cause = `${record.value.message}${tail ? `\nstderr (last lines):\n${tail}` : ''}`;
    } else {
      cause = `${cause}. The task wrote no error record (${key}); its log in CloudWatch Logs says why.`;
    }
  }
  if (resolved.drPlan) {
    cause = refusalForDrPlan(cause, resolved.database, resolved.drPlan);
  }
  return { error, cause: capMessage(cause) };
}

/** A run stopped from the console: its ECS task was stopped by Step Functions (.sync); record and report it. */
export async function notifyAborted(event: ExecutionStatusChange, deps: NotifyDeps): Promise<RestoreAudit | undefined> {
  const input = parseLoosely(event.detail.input);
  const database = typeof input.database === 'string' && DATABASE_NAME.test(input.database) ? input.database : undefined;
  if (!database) {
    return undefined; // an input Resolve would have rejected: nothing ran, nothing to audit
  }
  const startedAt = new Date(event.detail.startDate);
  const finishedAt = event.detail.stopDate ? new Date(event.detail.stopDate) : (deps.now ?? (() => new Date()))();
  const target = input.target as { host?: unknown; port?: unknown; database?: unknown } | undefined;
  const audit = RestoreAuditSchema.parse({
    schemaVersion: 1,
    database,
    outcome: 'aborted',
    startedBy: {
      executionArn: event.detail.executionArn,
      executionName: event.detail.name,
      ...(typeof input.requestedBy === 'string' && { requestedBy: input.requestedBy }),
    },
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    restoreSeconds: seconds(startedAt, finishedAt),
    ...(typeof input.backupId === 'string' && { backupId: input.backupId }),
    requested:
      typeof input.backupId === 'string'
        ? `backupId ${input.backupId}`
        : typeof input.pointInTime === 'string'
          ? `pointInTime ${input.pointInTime}`
          : 'latest',
    ...(typeof target?.host === 'string' && {
      target: {
        host: target.host,
        port: typeof target.port === 'number' ? target.port : defaultPort(deps.plan, database),
        ...(typeof target.database === 'string' && { database: target.database }),
      },
    }),
    include: Array.isArray(input.include) ? input.include.filter((i): i is string => typeof i === 'string') : [],
    overwrite: input.overwrite === true && input.confirm === database,
    error:
      event.detail.status === 'TIMED_OUT'
        ? 'Execution timed out; Step Functions stopped the restore task, so the target may hold a partial restore'
        : 'Execution aborted from the console; Step Functions stopped the restore task, so the target may hold a partial restore',
  });
  await putJson(deps.s3, deps.bucket, keys.restoreAudit(database, startedAt), audit);
  await publish(deps, audit);
  return audit;
}

async function publish(deps: NotifyDeps, audit: RestoreAudit): Promise<void> {
  const where = audit.target
    ? `${audit.target.host}:${audit.target.port}${audit.target.database ? `/${audit.target.database}` : ''}`
    : 'its target';
  const what = audit.include.length > 0 ? ` (only ${audit.include.join(', ')})` : '';
  const lines: Record<RestoreAudit['outcome'], string> = {
    restored: `Restore of ${audit.database} succeeded: ${audit.backupId}${what} restored to ${where} in ${formatSeconds(audit.restoreSeconds)}; inventory matches the manifest.${ignored(audit)}`,
    failed: `Restore of ${audit.database} FAILED after ${formatSeconds(audit.restoreSeconds)} (${audit.backupId ?? 'no backup'} to ${where}): ${audit.error ?? 'unknown error'}`,
    refused: `Restore of ${audit.database} refused before anything was written: ${audit.error ?? ''}`,
    aborted: `Restore of ${audit.database} ${audit.error?.startsWith('Execution timed out') ? 'TIMED OUT' : 'was STOPPED from the console'} after ${formatSeconds(audit.restoreSeconds)} (${audit.requested ?? ''} to ${where}); the target may hold a partial restore.`,
  };
  await deps.sns.send(
    new PublishCommand({
      TopicArn: deps.chatTopicArn,
      Subject: `Strongbox restore ${audit.outcome}: ${audit.database}`.slice(0, 100),
      Message: JSON.stringify({
        version: '1.0',
        source: 'custom',
        content: { title: `Restore ${audit.outcome}: ${audit.database}`, description: lines[audit.outcome] },
        metadata: { audit: `restores/${audit.database}/${audit.startedAt}.json`, executionArn: audit.startedBy.executionArn },
      }),
    }),
  );
}

/** The DEFINER accounts a `definers: "ignore"` restore went ahead without, for the chat line. */
function ignored(audit: RestoreAudit): string {
  const accounts = audit.ignoredDefiners ?? [];
  if (accounts.length === 0) {
    return '';
  }
  return ` The target lacks the DEFINER account${accounts.length === 1 ? '' : 's'} ${accounts.join(', ')} (definers: "ignore"): views, triggers, routines and events that run as ${accounts.length === 1 ? 'it' : 'them'} fail until ${accounts.length === 1 ? 'it exists' : 'they exist'}.`;
}

function defaultPort(plan: Plan | undefined, database: string): number {
  const engine = plan?.databases[database]?.engine;
  return engine ? DEFAULT_PORTS[engine] : 0;
}

function seconds(from: Date, to: Date): number {
  return Math.max(0, Math.round((to.getTime() - from.getTime()) / 100) / 10);
}

function formatSeconds(total: number): string {
  if (total < 60) {
    return `${total} s`;
  }
  // Rounded before splitting, so 119.6 s reads "2 min 0 s", not "1 min 60 s".
  const whole = Math.round(total);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

function parseLoosely(text: string | null | undefined): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text ?? '{}');
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
