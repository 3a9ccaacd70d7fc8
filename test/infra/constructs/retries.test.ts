import { readFileSync } from 'node:fs';
import { NestedStack, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { Matcher } from 'aws-cdk-lib/assertions/lib/matcher';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../../infra/app';
import { parseConfig } from '../../../infra/config/load';
import { LAMBDA_TRANSIENT_ERRORS, RUN_TASK_CAPACITY_ERRORS } from '../../../infra/constructs/retries';
import { type CfnTemplate, IntrinsicResolver } from '../../../local/executor/intrinsics';
import { type AslDefinition, type AslState, taskStates } from '../../../local/executor/runtime';

/** The retrier every LambdaInvoke carries, as Step Functions reads it. */
const LAMBDA_RETRIER = {
  ErrorEquals: [
    'Lambda.TooManyRequestsException',
    'Lambda.ServiceException',
    'Lambda.AWSLambdaException',
    'Lambda.SdkClientException',
    'Lambda.ClientExecutionTimeoutException',
  ],
  IntervalSeconds: 2,
  MaxAttempts: 6,
  BackoffRate: 2,
  MaxDelaySeconds: 30,
  JitterStrategy: 'FULL',
};

/** The retrier every RunTask .sync carries: faults before a container ran, never a task that ran and failed. */
const RUN_TASK_RETRIER = {
  ErrorEquals: [
    'ECS.AmazonECSException',
    'AmazonECS.Unknown',
    'ECS.ServerException',
    'ECS.ThrottlingException',
    'ECS.LimitExceededException',
  ],
  IntervalSeconds: 30,
  MaxAttempts: 4,
  BackoffRate: 2,
  MaxDelaySeconds: 120,
  JitterStrategy: 'FULL',
};

interface Machine {
  readonly stack: string;
  readonly name: string;
  readonly definition: AslDefinition;
}

/** Every state machine of the app (replica, primary and the database shards), definitions resolved as the local runtime resolves them. */
function stateMachines(stacks: readonly Stack[], region: string): Machine[] {
  return stacks.flatMap((stack) => {
    const template = Template.fromStack(stack);
    const json = template.toJSON() as CfnTemplate;
    const resolver = new IntrinsicResolver(json, { region, stackName: stack.stackName });
    return Object.entries(template.findResources('AWS::StepFunctions::StateMachine')).map(([logicalId, resource]) => {
      const props = resource.Properties as { DefinitionString: unknown; StateMachineName?: unknown };
      return {
        stack: stack.stackName,
        name: props.StateMachineName ? resolver.resolveString(props.StateMachineName) : logicalId,
        definition: JSON.parse(resolver.resolveString(props.DefinitionString)) as AslDefinition,
      };
    });
  });
}

function isLambdaTask(state: AslState): boolean {
  const resource = String(state.Resource);
  return /^arn:aws:lambda:[^:]+:\d+:function:/.test(resource) || resource.startsWith('arn:aws:states:::lambda:invoke');
}

function isRunTask(state: AslState): boolean {
  return String(state.Resource).startsWith('arn:aws:states:::ecs:runTask');
}

/** Match's own report (which field, found what) instead of a bare true/false. */
function mismatches(matcher: Matcher, actual: unknown): string[] {
  return matcher.test(actual).toHumanStrings();
}

let machines: Machine[];

beforeAll(() => {
  const config = parseConfig(readFileSync('strongbox.config.yaml', 'utf8'));
  const { primary, replica } = buildApp(config, { bundling: false, nag: false });
  const shards = primary.node.findAll().filter((c): c is NestedStack => NestedStack.isNestedStack(c));
  machines = stateMachines([replica, primary, ...shards], config.vault.primaryRegion);
}, 240_000);

describe('retriers of every state machine', () => {
  it('finds the backup, restore, drill and DR plan machines in the synthesized app', () => {
    // Assess
    expect(machines.map((m) => m.name).sort()).toEqual(['strongbox-backup', 'strongbox-dr-plan', 'strongbox-drill', 'strongbox-restore']);
  });

  it('gives every LambdaInvoke Task, at any depth, exactly the transient-fault retrier with full jitter and a max delay', () => {
    // Prepare
    const lambdaTasks = machines.flatMap((m) =>
      [...taskStates(m.definition)].filter(([, state]) => isLambdaTask(state)).map(([name, state]) => ({ at: `${m.name}/${name}`, state })),
    );

    // Act
    const problems = lambdaTasks.flatMap(({ at, state }) =>
      mismatches(Match.exact([Match.objectEquals(LAMBDA_RETRIER)]), state.Retry).map((p) => `${at}: ${p}`),
    );

    // Assess
    expect(problems).toEqual([]);
    expect(lambdaTasks.map((t) => t.at)).toEqual(
      expect.arrayContaining([
        'strongbox-backup/Prepare',
        'strongbox-backup/Notify',
        'strongbox-backup/NotifyFailure',
        'strongbox-backup/ReleaseLockAfterFailure',
        'strongbox-restore/Resolve',
        'strongbox-restore/NotifyFailure',
        'strongbox-drill/ReportFailure',
        'strongbox-dr-plan/Start',
        'strongbox-dr-plan/Report',
      ]),
    );
    for (const machine of machines) {
      expect(
        lambdaTasks.some((t) => t.at.startsWith(`${machine.name}/`)),
        machine.name,
      ).toBe(true);
    }
    expect([...LAMBDA_TRANSIENT_ERRORS]).toEqual(LAMBDA_RETRIER.ErrorEquals);
  });

  it('gives every RunTask the capacity retrier, which never retries a task that ran and failed', () => {
    // Prepare
    const runTasks = machines.flatMap((m) =>
      [...taskStates(m.definition)].filter(([, state]) => isRunTask(state)).map(([name, state]) => ({ at: `${m.name}/${name}`, state })),
    );

    // Act
    const problems = runTasks.flatMap(({ at, state }) =>
      mismatches(Match.exact([Match.objectEquals(RUN_TASK_RETRIER)]), state.Retry).map((p) => `${at}: ${p}`),
    );
    const retriedErrors = runTasks.flatMap(({ state }) => (state.Retry as { ErrorEquals: string[] }[]).flatMap((r) => r.ErrorEquals));

    // Assess
    expect(runTasks.map((t) => t.at).sort()).toEqual(['strongbox-backup/Dump', 'strongbox-drill/Drill', 'strongbox-restore/Restore']);
    expect(problems).toEqual([]);
    expect(retriedErrors).not.toContain('States.TaskFailed');
    expect(retriedErrors).not.toContain('States.ALL');
    expect(retriedErrors).not.toContain('ECS.ClientException');
    expect([...RUN_TASK_CAPACITY_ERRORS]).toEqual(RUN_TASK_RETRIER.ErrorEquals);
    // A task that ran and failed still reaches the failure path through the state's catch-all.
    for (const { at, state } of runTasks) {
      expect(
        (state.Catch as { ErrorEquals: string[] }[]).some((c) => c.ErrorEquals.includes('States.ALL')),
        at,
      ).toBe(true);
    }
  });

  it('retries nothing else: no Task has a retrier beyond these two, and no retrier names States.ALL', () => {
    // Prepare
    const all = machines.flatMap((m) => [...taskStates(m.definition)].map(([name, state]) => ({ at: `${m.name}/${name}`, state })));

    // Act
    const other = all.filter(({ state }) => !isLambdaTask(state) && !isRunTask(state) && Array.isArray(state.Retry));
    const everyError = all.flatMap(({ state }) => ((state.Retry ?? []) as { ErrorEquals: string[] }[]).flatMap((r) => r.ErrorEquals));

    // Assess
    expect(other.map((o) => o.at)).toEqual([]);
    expect(everyError).not.toContain('States.ALL');
    expect(everyError).not.toContain('States.TaskFailed');
  });
});
