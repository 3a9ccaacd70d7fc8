import { Duration } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { FUNCTION_ENV } from '../../contracts/function-env';
import type { Plan } from '../../contracts/plan';
import { AppFunction } from './app-function';
import { acknowledgeWildcardPermissions } from './nag';
import { readableErrorStates } from './readable-error';
import { lambdaInvoke } from './retries';
import { strongboxStateMachine } from './state-machine';

export interface DrPlanWorkflowProps {
  readonly plan: Plan;
  /** The restore state machine each database of a group is restored with (one nested execution each). */
  readonly restoreStateMachine: sfn.IStateMachine;
  /**
   * The drill state machine a rehearsal (`"rehearsal": true`) drills each database with (one nested execution
   * each), so a rehearsal is exactly the drill path and never reaches a target.
   * @default no rehearsals: each database of a rehearsal fails with DrPlanRehearsalUnavailableError
   */
  readonly drillStateMachine?: sfn.IStateMachine;
  readonly chatTopic: sns.ITopic;
  /**
   * Longest a whole plan may run.
   * @default Duration.hours(24)
   */
  readonly timeout?: Duration;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The DR plan machine (JSONPath): started with `{"plan": "<name>"}`, it restores the newest verified backup of
 * every database of the plan onto the plan's target for it, group by group.
 *
 *   Start (plan -> groups, first group) -> RestoreGroup (Map, every database of the group in parallel: a nested
 *   restore execution .sync; a failure becomes a result, so the whole group finishes) -> Advance (first failure
 *   stops, else the next group) -> MoreGroups? -> RestoreGroup | Report (chat) -> Succeed, or Fail with the report.
 *
 * A rehearsal (`{"plan": "<name>", "rehearsal": true}`) runs the same loop, but each database of a group is a
 * nested drill execution (RehearseDatabase): restored into a throwaway engine inside the task, no target
 * connected to. Advance times the groups; Report measures the plan RTO against drPlans[].rto and emits the
 * rehearsal metrics (DrPlanRehearsalFailed, the alarm's).
 *
 * A bad input fails at Start; ReadError reduces Lambda's error JSON to the error type and message.
 * A loop rather than a Map over groups: a JSONPath Map cannot stop its later iterations when one fails.
 */
export class DrPlanWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly function: AppFunction;

  public constructor(scope: Construct, id: string, props: DrPlanWorkflowProps) {
    super(scope, id);
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    this.function = new AppFunction(this, 'dr-plan', {
      name: 'dr-plan',
      plan: props.plan,
      description: 'DR plan: resolve the plan, advance group by group, report',
      environment: { [FUNCTION_ENV.chatTopicArn]: props.chatTopic.topicArn },
      timeout: Duration.seconds(30),
      logRetention,
    });
    props.chatTopic.grantPublish(this.function.function);
    acknowledgeWildcardPermissions(
      this.function.function.role!,
      'kms:GenerateDataKey* is how SNS publishes to the KMS-encrypted chat topic; the grant is limited to that topic key.',
    );

    this.stateMachine = strongboxStateMachine(this, {
      app: props.plan.app,
      name: 'dr-plan',
      comment: `Strongbox (${props.plan.app}): restore a DR plan, group by group, stopping at the first failure`,
      definition: this.buildDefinition(props),
      timeout: props.timeout ?? Duration.hours(24),
      logRetention,
      wildcards:
        'Wildcards: Lambda versions of the DR plan function, executions of the restore state machine (named at run time, needed by .sync), and X-Ray/CloudWatch Logs delivery actions that take no narrower resource.',
    });
  }

  private buildDefinition(props: DrPlanWorkflowProps): sfn.IChainable {
    const invoke = (id: string, payload: Record<string, unknown>, comment: string) =>
      lambdaInvoke(this, id, {
        lambdaFunction: this.function.function,
        payloadResponseOnly: true,
        payload: sfn.TaskInput.fromObject(payload),
        resultPath: '$.state',
        comment,
        taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
      });
    const start = invoke(
      'Start',
      {
        action: 'start',
        // From the context rather than `$`: a null input has no `$` to evaluate, and must still reach Start's message.
        input: sfn.JsonPath.objectAt('$$.Execution.Input'),
        execution: {
          executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
          name: sfn.JsonPath.stringAt('$$.Execution.Name'),
          startTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        },
      },
      'Validate the input and lay out the plan: groups in order, one restore input per database',
    );

    const restoreOne = new tasks.StepFunctionsStartExecution(this, 'RestoreDatabase', {
      stateMachine: props.restoreStateMachine,
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      input: sfn.TaskInput.fromJsonPathAt('$.restoreInput'),
      // The restore input schema is strict: the parent-execution field would make it fail at Resolve.
      associateWithParent: false,
      resultSelector: { 'executionArn.$': '$.ExecutionArn' },
      resultPath: '$.execution',
      comment: 'One nested restore execution (latest verified backup onto the plan target)',
      taskTimeout: sfn.Timeout.duration(props.timeout ?? Duration.hours(24)),
    });
    const restored = new sfn.Pass(this, 'Restored', {
      parameters: {
        database: sfn.JsonPath.stringAt('$.database'),
        group: sfn.JsonPath.numberAt('$.group'),
        status: 'restored',
        executionArn: sfn.JsonPath.stringAt('$.execution.executionArn'),
      },
    });
    const rehearse = props.drillStateMachine
      ? new tasks.StepFunctionsStartExecution(this, 'RehearseDatabase', {
          stateMachine: props.drillStateMachine,
          integrationPattern: sfn.IntegrationPattern.RUN_JOB,
          input: sfn.TaskInput.fromJsonPathAt('$.drillInput'),
          // The drill input schema is strict too.
          associateWithParent: false,
          resultSelector: {
            'executionArn.$': '$.ExecutionArn',
            'startDate.$': '$.StartDate',
            'stopDate.$': '$.StopDate',
            'backupId.$': '$.Output.report.backupId',
            'restoreSeconds.$': '$.Output.report.restoreSeconds',
          },
          resultPath: '$.execution',
          comment: 'Rehearsal: one nested drill execution (newest verified backup into a throwaway engine in the task; no target)',
          taskTimeout: sfn.Timeout.duration(props.timeout ?? Duration.hours(24)),
        })
      : undefined;
    const rehearsed = new sfn.Pass(this, 'Rehearsed', {
      parameters: {
        database: sfn.JsonPath.stringAt('$.database'),
        group: sfn.JsonPath.numberAt('$.group'),
        status: 'restored',
        executionArn: sfn.JsonPath.stringAt('$.execution.executionArn'),
        startDate: sfn.JsonPath.numberAt('$.execution.startDate'),
        stopDate: sfn.JsonPath.numberAt('$.execution.stopDate'),
        backupId: sfn.JsonPath.stringAt('$.execution.backupId'),
        restoreSeconds: sfn.JsonPath.numberAt('$.execution.restoreSeconds'),
      },
    });
    const notRestored = new sfn.Pass(this, 'NotRestored', {
      comment: 'A failed database is a result, so the rest of its group still finishes and is reported',
      parameters: {
        database: sfn.JsonPath.stringAt('$.database'),
        group: sfn.JsonPath.numberAt('$.group'),
        status: 'failed',
        error: sfn.JsonPath.stringAt('$.error.Error'),
        cause: sfn.JsonPath.stringAt('$.error.Cause'),
      },
    });
    restoreOne.addCatch(notRestored, { errors: ['States.ALL'], resultPath: '$.error' });
    rehearse?.addCatch(notRestored, { errors: ['States.ALL'], resultPath: '$.error' });
    const unavailable = new sfn.Pass(this, 'RehearsalUnavailable', {
      comment: 'This app was built without the drill state machine, which a rehearsal needs',
      parameters: {
        database: sfn.JsonPath.stringAt('$.database'),
        group: sfn.JsonPath.numberAt('$.group'),
        status: 'failed',
        error: 'DrPlanRehearsalUnavailableError',
        cause: 'this DR plan state machine has no drill state machine to rehearse with',
      },
    });
    const group = new sfn.Map(this, 'RestoreGroup', {
      comment: 'Every database of the current group in parallel',
      itemsPath: '$.state.current',
      maxConcurrency: 0,
      resultPath: '$.groupResults',
    });
    group.itemProcessor(
      new sfn.Choice(this, 'Rehearsal?', { comment: 'A rehearsal drills the database; a real run restores it onto its target' })
        .when(sfn.Condition.isPresent('$.drillInput'), rehearse ? rehearse.next(rehearsed) : unavailable)
        .otherwise(restoreOne.next(restored)),
    );

    const advance = invoke(
      'Advance',
      { action: 'advance', state: sfn.JsonPath.objectAt('$.state'), groupResults: sfn.JsonPath.objectAt('$.groupResults') },
      'Record the group; stop at the first failure, else move to the next group',
    );
    const report = lambdaInvoke(this, 'Report', {
      lambdaFunction: this.function.function,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({ action: 'report', state: sfn.JsonPath.objectAt('$.state') }),
      resultPath: '$.report',
      comment: 'What was and was not restored, to chat',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
    });
    const outcome = new sfn.Choice(this, 'PlanRestored?')
      .when(
        sfn.Condition.stringEquals('$.report.status', 'failed'),
        new sfn.Fail(this, 'PlanFailed', { error: 'DrPlanFailedError', causePath: '$.report.summary' }),
      )
      .otherwise(new sfn.Succeed(this, 'PlanSucceeded', { outputPath: '$.report' }));
    const more = new sfn.Choice(this, 'MoreGroups?')
      .when(sfn.Condition.stringEquals('$.state.status', 'running'), group)
      .otherwise(report.next(outcome));
    const refused = new sfn.Fail(this, 'PlanRefused', {
      comment: 'The error type and the message lines (no trace, no JSON)',
      errorPath: '$.failure.error',
      causePath: '$.failure.cause',
    });
    const readError = readableErrorStates(this, { errorPath: '$.error', resultPath: '$.failure', next: refused });
    // No ResultPath on this Catch: the input may be null, a string or an array, which `$.error` cannot be set on.
    start.addCatch(
      new sfn.Pass(this, 'KeepError', { parameters: { 'error.$': '$' }, comment: 'The refusal, where ReadError looks for it' }).next(
        readError,
      ),
      { errors: ['States.ALL'] },
    );
    advance.addCatch(readError, { errors: ['States.ALL'], resultPath: '$.error' });
    report.addCatch(readError, { errors: ['States.ALL'], resultPath: '$.error' });
    return start.next(group).next(advance).next(more);
  }
}
