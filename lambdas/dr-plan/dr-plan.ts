import type { Metrics } from '@aws-lambda-powertools/metrics';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { InputValidationError, parseInput, readableError } from '../../contracts/errors';
import { shown } from '../../contracts/issues';
import { METRIC, publishPlanMetrics } from '../../contracts/metrics';
import {
  type DrGroupReport,
  type DrItem,
  type DrItemResult,
  DrPlanInputSchema,
  type DrReport,
  type DrRtoVerdict,
  type DrState,
  drPlanRequestedBy,
} from '../../contracts/payloads/dr-plan';
import type { RestoreExecution } from '../../contracts/payloads/restore';
import type { Plan } from '../../contracts/plan';

/**
 * The DR plan machine's bookkeeping. The machine loops: Map over `current` (one nested restore execution per
 * database of the group, in parallel) -> advance -> next group or report. A loop rather than a Map over groups,
 * because a JSONPath Map cannot stop its later iterations when one fails; here the first failed group ends
 * the run, and the report says what was and was not restored.
 */
export function startDrPlan(rawInput: unknown, execution: RestoreExecution, plan: Plan): DrState {
  if (rawInput === null || typeof rawInput !== 'object' || Array.isArray(rawInput)) {
    throw new InputValidationError(
      `Invalid DR plan input:\n(input): found ${shown(rawInput ?? null)}; expected a JSON object such as {"plan": "region-loss"}`,
    );
  }
  const input = parseInput(DrPlanInputSchema, rawInput, 'DR plan input');
  const dr = plan.drPlans?.[input.plan];
  if (!dr) {
    const known = Object.keys(plan.drPlans ?? {});
    throw new InputValidationError(
      `Invalid DR plan input:\nplan: found ${JSON.stringify(input.plan)}; expected one of the drPlans in the config: ${known.join(', ') || '(none configured)'}`,
    );
  }
  const confirmed = input.overwrite && input.confirm === input.plan;
  const groups: DrItem[][] = dr.groups.map((databases, group) =>
    databases.map((database) => {
      const target = dr.targets[database];
      return {
        database,
        group,
        restoreInput: {
          database,
          latest: true,
          target: {
            host: target.host,
            port: target.port,
            ...(target.database !== undefined && { database: target.database }),
            ...(target.secretArn !== undefined && { secretArn: target.secretArn }),
          },
          ...(confirmed && { overwrite: true, confirm: database }),
          requestedBy: drPlanRequestedBy(input.plan, execution.name, input.requestedBy),
        },
        ...(input.rehearsal && { drillInput: { database, trigger: 'manual' as const } }),
      };
    }),
  );
  return {
    plan: input.plan,
    groups,
    next: 1,
    current: groups[0],
    results: [],
    status: 'running',
    startedAt: execution.startTime,
    executionArn: execution.executionArn,
    ...(input.rehearsal && { rehearsal: true as const, groupEnds: [] }),
  };
}

/**
 * Takes one group's results; stops on the first failure, else moves to the next group. A rehearsal also records
 * when the group ended (`now`): the gaps between these are the group durations, the last one ends the plan RTO.
 */
export function advanceDrPlan(state: DrState, groupResults: readonly DrItemResult[], now: Date = new Date()): DrState {
  const results = [...state.results, ...(state.rehearsal ? groupResults.map(withTimes) : groupResults)];
  const timed = state.rehearsal ? { groupEnds: [...(state.groupEnds ?? []), now.toISOString()] } : {};
  if (groupResults.some((r) => r.status === 'failed')) {
    return { ...state, ...timed, results, current: [], status: 'failed' };
  }
  if (state.next >= state.groups.length) {
    return { ...state, ...timed, results, current: [], status: 'succeeded' };
  }
  return { ...state, ...timed, results, current: state.groups[state.next], next: state.next + 1 };
}

/**
 * A failed nested execution has no result of its own, only the Cause: DescribeExecution as JSON, with the
 * child's StartDate and StopDate, which give its duration as they do for a successful one.
 */
function withTimes(result: DrItemResult): DrItemResult {
  if (result.status !== 'failed' || result.startDate !== undefined || result.cause === undefined) {
    return result;
  }
  try {
    const described = JSON.parse(result.cause) as { StartDate?: unknown; StopDate?: unknown };
    return typeof described.StartDate === 'number' && typeof described.StopDate === 'number'
      ? { ...result, startDate: described.StartDate, stopDate: described.StopDate }
      : result;
  } catch {
    return result;
  }
}

export function reportDrPlan(state: DrState, plan?: Plan): DrReport {
  const restored = state.results.filter((r) => r.status === 'restored').map((r) => r.database);
  const failed = state.results
    .filter((r) => r.status === 'failed')
    .map((r) => {
      const nested = r.cause !== undefined ? readableError({ Error: r.error, Cause: r.cause }) : undefined;
      return { database: r.database, error: nested?.error ?? r.error ?? 'unknown', ...(nested && { cause: nested.cause.slice(0, 1000) }) };
    });
  const attempted = new Set(state.results.map((r) => r.database));
  const notRestored = state.groups
    .flat()
    .map((i) => i.database)
    .filter((d) => !attempted.has(d) || failed.some((f) => f.database === d));
  const status = failed.length > 0 || state.status === 'failed' ? 'failed' : 'succeeded';
  const lastGroup = Math.max(0, ...state.results.map((r) => r.group));
  const summary =
    status === 'succeeded'
      ? `DR plan ${state.plan} succeeded: restored ${restored.join(', ')} in ${state.groups.length} group(s).`
      : `DR plan ${state.plan} stopped at group ${lastGroup + 1} of ${state.groups.length}: ${failed.map((f) => `${f.database} failed (${f.error}${f.cause ? `: ${f.cause}` : ''})`).join('; ')}. Restored: ${restored.join(', ') || 'none'}. Not restored: ${notRestored.join(', ')}.`;
  const report: DrReport = { plan: state.plan, status, restored, failed, notRestored, summary };
  if (!state.rehearsal) {
    return report;
  }
  const groups = rehearsalGroups(state, failed);
  const ends = state.groupEnds ?? [];
  const targetSeconds = plan?.drPlans?.[state.plan]?.rtoSeconds;
  const measuredSeconds = ends.length > 0 ? seconds(Date.parse(ends[ends.length - 1]) - Date.parse(state.startedAt)) : 0;
  // A rehearsal that stopped early never reached the plan's end, so it cannot have met the plan RTO.
  const rto: DrRtoVerdict = {
    measuredSeconds,
    ...(targetSeconds !== undefined && { targetSeconds }),
    met: status === 'succeeded' && (targetSeconds === undefined || measuredSeconds <= targetSeconds),
  };
  return { ...report, summary: rehearsalSummary(state, report, groups, rto), rehearsal: true, rto, groups };
}

const seconds = (ms: number) => Math.max(0, Math.round(ms / 100) / 10);

function rehearsalGroups(state: DrState, failed: DrReport['failed']): DrGroupReport[] {
  const ends = state.groupEnds ?? [];
  return state.groups.map((items, g) => {
    const began = g === 0 ? state.startedAt : ends[g - 1];
    const databases = items.map((item): DrGroupReport['databases'][number] => {
      const result = state.results.find((r) => r.database === item.database);
      if (!result) {
        return { database: item.database, status: 'not run' };
      }
      const failure = failed.find((f) => f.database === item.database);
      return {
        database: item.database,
        status: result.status === 'restored' ? 'passed' : 'failed',
        ...(result.startDate !== undefined && result.stopDate !== undefined && { seconds: seconds(result.stopDate - result.startDate) }),
        ...(result.backupId !== undefined && { backupId: result.backupId }),
        ...(result.restoreSeconds !== undefined && { restoreSeconds: result.restoreSeconds }),
        ...(failure && { error: `${failure.error}${failure.cause ? `: ${failure.cause}` : ''}` }),
      };
    });
    const status = databases.some((d) => d.status === 'failed')
      ? 'failed'
      : databases.every((d) => d.status === 'passed')
        ? 'passed'
        : 'not run';
    return {
      group: g + 1,
      status,
      ...(ends[g] !== undefined && began !== undefined && { seconds: seconds(Date.parse(ends[g]) - Date.parse(began)) }),
      databases,
    };
  });
}

function rehearsalSummary(state: DrState, report: DrReport, groups: readonly DrGroupReport[], rto: DrRtoVerdict): string {
  const target = rto.targetSeconds !== undefined ? `the plan RTO of ${rto.targetSeconds} s` : 'no plan RTO (drPlans[].rto is not set)';
  const verdict =
    report.status !== 'succeeded'
      ? `stopped at group ${groups.findIndex((g) => g.status === 'failed') + 1} of ${groups.length} after ${rto.measuredSeconds} s, so ${target} was not shown`
      : `took ${rto.measuredSeconds} s against ${target}${rto.targetSeconds === undefined ? '' : rto.met ? ': met' : ': BREACHED'}`;
  const perGroup = groups
    .map(
      (g) =>
        `group ${g.group} ${g.status}${g.seconds !== undefined ? ` in ${g.seconds} s` : ''} (${g.databases
          .map((d) => `${d.database} ${d.status}${d.seconds !== undefined ? ` ${d.seconds} s` : ''}${d.error ? `: ${d.error}` : ''}`)
          .join(', ')})`,
    )
    .join('; ');
  return `DR plan rehearsal ${state.plan} ${report.status === 'succeeded' && rto.met ? 'passed' : 'FAILED'}: ${verdict}. ${perGroup}. No target was touched.`;
}

/**
 * A rehearsal's alarm metrics, dimension `Plan`: DrPlanRehearsalFailed is 1 for a failed or over-RTO rehearsal
 * (the alarm), DrPlanRtoBreached 1 for over the RTO alone, and the measured plan RTO in seconds.
 */
export function publishRehearsalMetrics(report: DrReport, metrics: Metrics): void {
  if (!report.rehearsal || !report.rto) {
    return;
  }
  const breached = report.rto.targetSeconds !== undefined && report.rto.measuredSeconds > report.rto.targetSeconds;
  publishPlanMetrics(metrics, report.plan, [
    { name: METRIC.drPlanRehearsalFailed, unit: 'Count', value: report.status === 'succeeded' && report.rto.met ? 0 : 1 },
    { name: METRIC.drPlanRtoBreached, unit: 'Count', value: breached ? 1 : 0 },
    ...(report.status === 'succeeded'
      ? [{ name: METRIC.drPlanRehearsalSeconds, unit: 'Seconds' as const, value: report.rto.measuredSeconds }]
      : []),
  ]);
}

export async function publishDrReport(report: DrReport, sns: SNSClient, chatTopicArn: string): Promise<void> {
  await sns.send(
    new PublishCommand({
      TopicArn: chatTopicArn,
      Subject: report.rehearsal
        ? `Strongbox DR plan rehearsal ${report.status === 'succeeded' && report.rto?.met ? 'passed' : 'FAILED'}: ${report.plan}`.slice(
            0,
            100,
          )
        : `Strongbox DR plan ${report.status}: ${report.plan}`.slice(0, 100),
      Message: JSON.stringify({
        version: '1.0',
        source: 'custom',
        content: {
          title: report.rehearsal ? `DR plan rehearsal ${report.plan} ${report.status}` : `DR plan ${report.plan} ${report.status}`,
          description: report.summary,
        },
      }),
    }),
  );
}
