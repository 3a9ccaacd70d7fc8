import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { InputValidationError, parseInput, readableError } from '../../contracts/errors';
import { shown } from '../../contracts/issues';
import {
  type DrItem,
  type DrItemResult,
  DrPlanInputSchema,
  type DrReport,
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
  };
}

/** Takes one group's results; stops on the first failure, else moves to the next group. */
export function advanceDrPlan(state: DrState, groupResults: readonly DrItemResult[]): DrState {
  const results = [...state.results, ...groupResults];
  if (groupResults.some((r) => r.status === 'failed')) {
    return { ...state, results, current: [], status: 'failed' };
  }
  if (state.next >= state.groups.length) {
    return { ...state, results, current: [], status: 'succeeded' };
  }
  return { ...state, results, current: state.groups[state.next], next: state.next + 1 };
}

export function reportDrPlan(state: DrState): DrReport {
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
  return { plan: state.plan, status, restored, failed, notRestored, summary };
}

export async function publishDrReport(report: DrReport, sns: SNSClient, chatTopicArn: string): Promise<void> {
  await sns.send(
    new PublishCommand({
      TopicArn: chatTopicArn,
      Subject: `Strongbox DR plan ${report.status}: ${report.plan}`.slice(0, 100),
      Message: JSON.stringify({
        version: '1.0',
        source: 'custom',
        content: { title: `DR plan ${report.plan} ${report.status}`, description: report.summary },
      }),
    }),
  );
}
