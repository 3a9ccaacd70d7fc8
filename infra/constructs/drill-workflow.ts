import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { FUNCTION_ENV } from '../../contracts/function-env';
import type { Plan } from '../../contracts/plan';
import { basesPrefix } from '../../contracts/wal';
import { AppFunction } from './app-function';
import { functionSteps } from './locked-failure-path';
import { acknowledgeWildcardPermissions } from './nag';
import { readableErrorStates } from './readable-error';
import { runTaskState } from './restore-workflow';
import { lambdaInvoke } from './retries';
import { grantRestoreRunTasks, restoreRoleEnvironment } from './run-task-grants';
import { strongboxStateMachine } from './state-machine';
import { ValidationError } from './validation-error';
import { type IVault, VAULT_PATHS } from './vault';

/** `bases/`: every database's PostgreSQL base backups (contracts/wal.ts), the folder above `bases/<database>/`. */
const BASES_FOLDER = basesPrefix('db').replace(/[^/]+\/$/, '');

export interface DrillWorkflowProps {
  readonly plan: Plan;
  readonly vault: IVault;
  readonly cluster: ecs.ICluster;
  readonly taskSubnets: readonly ec2.ISubnet[];
  readonly taskSecurityGroups: readonly ec2.ISecurityGroup[];
  readonly chatTopic: sns.ITopic;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The drill machine (JSONPath), started per database by its drill schedule with `{"database": "<name>"}`:
 *
 *   Prepare (newest verified backup; with logs, a chain pair: two dumps joined by binlog segments, or for PostgreSQL a
 *   dump and a base whose WAL reaches the dump's LSN, passed as STRONGBOX_DRILL_CHAIN_TO / STRONGBOX_RECOVERY_BASE_ID)
 *   -> Drill (ECS RunTask .sync, STRONGBOX_COMMAND=drill: throwaway engine in the task, inventory vs manifest, sanity
 *   checks, drill.json, DrillPassed/MeasuredRTOSeconds) -> Report (chat)
 *   Drill failure -> ReportFailure (chat, DrillPassed=0 when the task left no drill.json; returns the message) -> Fail
 *   Prepare or Report failure -> ReadError (Lambda's error JSON reduced to type and message) -> Fail
 *   The Fail state's cause is the message the chat got (`Drill of <db> FAILED ...`): no stack frame.
 *
 * No target database is involved: the drill never leaves the task.
 */
export class DrillWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly functions: { readonly prepare: AppFunction; readonly report: AppFunction };

  public constructor(scope: Construct, id: string, props: DrillWorkflowProps) {
    super(scope, id);
    const databases = Object.values(props.plan.databases);
    if (databases.length === 0) {
      throw new ValidationError('the plan has no databases; expected at least one', this);
    }
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const environment = { [FUNCTION_ENV.vaultBucket]: props.vault.bucketName, [FUNCTION_ENV.chatTopicArn]: props.chatTopic.topicArn };
    this.functions = {
      prepare: new AppFunction(this, 'drill-prepare', {
        name: 'drill/prepare',
        plan: props.plan,
        description: 'Drill: pick the newest verified backup',
        // The drill task runs with the database's restore role (DumpTask.restoreRole), not with the dump role.
        environment: { ...environment, ...restoreRoleEnvironment(props.plan) },
        logRetention,
      }),
      report: new AppFunction(this, 'drill-report', {
        name: 'drill/report',
        plan: props.plan,
        description: 'Drill: report drill.json to chat',
        environment,
        timeout: Duration.seconds(30),
        logRetention,
      }),
    };
    for (const reader of [this.functions.prepare, this.functions.report]) {
      props.vault.grantUnder(reader.function, VAULT_PATHS.backups, {
        objectActions: ['s3:GetObject'],
        listActions: ['s3:ListBucket'],
        key: 'decrypt',
      });
    }
    if (databases.some((db) => db.logs)) {
      // Chain drill (issue 12 step 6): Prepare reads segment manifests to find two dumps the log joins.
      props.vault.grantUnder(this.functions.prepare.function, VAULT_PATHS.logs, {
        objectActions: ['s3:GetObject'],
        listActions: ['s3:ListBucket'],
        key: 'decrypt',
      });
    }
    if (databases.some((db) => db.logs?.kind === 'wal')) {
      // PostgreSQL chain drill (issue 13 step 6): Prepare reads the base manifests (readBaseManifests) to pair a dump with a base.
      props.vault.grantUnder(this.functions.prepare.function, BASES_FOLDER, {
        objectActions: ['s3:GetObject'],
        listActions: ['s3:ListBucket'],
        key: 'decrypt',
      });
    }
    // Report keeps index/<db>/latest-drill.json, which the watchdog reads for the drill-overdue alarm.
    props.vault.grantUnder(this.functions.report.function, VAULT_PATHS.index, { objectActions: ['s3:PutObject'], key: 'encrypt' });
    props.chatTopic.grantPublish(this.functions.report.function);
    acknowledgeWildcardPermissions(
      this.functions.report.function.role!,
      'kms:GenerateDataKey* is how SNS publishes to the KMS-encrypted chat topic; the grant is limited to that topic key. Vault wildcards stand for backup folders created at run time.',
    );

    const longestTask = Math.max(...databases.map((db) => db.taskTimeoutSeconds));
    this.stateMachine = strongboxStateMachine(this, {
      app: props.plan.app,
      name: 'drill',
      comment: `Strongbox (${props.plan.app}): restore the newest verified backup into a throwaway engine and compare`,
      definition: this.buildDefinition(props, longestTask),
      timeout: Duration.seconds(longestTask + 1800),
      logRetention,
      wildcards:
        'Wildcards: Lambda versions of the drill functions, task ARNs of the Strongbox cluster (unknown until RunTask), revisions of the dump task families, and X-Ray/CloudWatch Logs delivery actions that take no narrower resource.',
    });
    grantRestoreRunTasks(this.stateMachine, props);
  }

  private buildDefinition(props: DrillWorkflowProps, longestTask: number): sfn.IChainable {
    const { prepare, report } = this.functions;
    const invoke = functionSteps(this);
    const prepareState = invoke(
      'Prepare',
      prepare,
      {
        // From the context rather than `$`: a null input has no `$` to evaluate, and must still reach Prepare's message.
        input: sfn.JsonPath.objectAt('$$.Execution.Input'),
        execution: {
          executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
          name: sfn.JsonPath.stringAt('$$.Execution.Name'),
          startTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        },
      },
      '$.prepared',
      'Validate the input and pick the newest verified backup',
    );
    const drill = runTaskState(this, 'Drill', props, {
      familyPath: '$.prepared.taskFamily',
      environmentPath: '$.prepared.environment',
      taskRoleArnPath: '$.prepared.taskRoleArn',
      timeoutSeconds: longestTask,
      resultPath: '$.drill',
      comment: 'The database task with STRONGBOX_COMMAND=drill: throwaway engine, restore, compare, drill.json, metrics',
    });
    const fail = new sfn.Fail(this, 'DrillFailed', {
      comment: 'The error type and the message lines (no trace, no JSON)',
      errorPath: '$.failure.error',
      causePath: '$.failure.cause',
    });
    const readError = readableErrorStates(this, { errorPath: '$.error', resultPath: '$.failure', next: fail });
    const reportFailure = lambdaInvoke(this, 'ReportFailure', {
      lambdaFunction: report.function,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        prepared: sfn.JsonPath.objectAt('$.prepared'),
        error: sfn.JsonPath.objectAt('$.error'),
        startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
      }),
      // The message that went to chat (drill.json's mismatches or failed checks, or the task's stop) is the cause.
      resultSelector: { 'error.$': '$.error', 'cause.$': '$.cause' },
      resultPath: '$.failure',
      comment: 'Chat; DrillPassed=0 when the task left no drill.json; returns the error type and message for the Fail state',
      taskTimeout: sfn.Timeout.duration(report.function.timeout!.plus(Duration.minutes(1))),
    });
    reportFailure.addCatch(readError, { resultPath: '$.reportError' });
    reportFailure.next(fail);
    drill.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: '$.error' });
    const reportState = invoke('Report', report, { prepared: sfn.JsonPath.objectAt('$.prepared') }, '$.report', 'drill.json to chat');
    reportState.addCatch(readError, { errors: ['States.ALL'], resultPath: '$.error' });
    // No ResultPath on this Catch: the input may be null, a string or an array, which `$.error` cannot be set on.
    prepareState.addCatch(
      new sfn.Pass(this, 'KeepError', { parameters: { 'error.$': '$' }, comment: 'The refusal, where ReadError looks for it' }).next(
        readError,
      ),
      { errors: ['States.ALL'] },
    );
    return prepareState.next(drill).next(reportState).next(new sfn.Succeed(this, 'Drilled'));
  }
}
