import { ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { FUNCTION_ENV } from '../../contracts/function-env';
import type { Plan } from '../../contracts/plan';
import { TASK_CONTAINER_NAME } from '../../contracts/task-env';
import { AppFunction, type AppFunctionProps } from './app-function';
import { deadLetterQueue } from './dead-letter-queue';
import { acknowledgeWildcardPermissions } from './nag';
import { readableErrorStates } from './readable-error';
import { lambdaInvoke, retryRunTaskCapacity } from './retries';
import { fargateTaskParameters, grantRestoreRunTasks, restoreRoleEnvironment } from './run-task-grants';
import { strongboxStateMachine } from './state-machine';
import { defaultTaskStorageGiB } from './task-storage';
import { ValidationError } from './validation-error';
import { type IVault, VAULT_PATHS } from './vault';

/** Tag a Secrets Manager secret must carry before a restore (its Validate step) may read it as a target. */
export const RESTORE_TARGET_TAG = 'strongbox:restore-target';

export interface RestoreWorkflowProps {
  readonly plan: Plan;
  readonly vault: IVault;
  readonly cluster: ecs.ICluster;
  readonly vpc: ec2.IVpc;
  readonly taskSubnets: readonly ec2.ISubnet[];
  readonly taskSecurityGroups: readonly ec2.ISecurityGroup[];
  readonly chatTopic: sns.ITopic;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The app's dead-letter queue ({@link scheduleGroupAndQueue}) for the asynchronous side of Notify: the
   * EventBridge rule of stopped executions, and Lambda's own attempts after it accepted the event.
   * @default a queue of this construct's own
   */
  readonly deadLetterQueue?: sqs.IQueue;
}

/** The ECS RunTask .sync state shared by the restore and drill machines: family and environment come from the state. */
export function runTaskState(
  scope: Construct,
  id: string,
  props: { cluster: ecs.ICluster; taskSubnets: readonly ec2.ISubnet[]; taskSecurityGroups: readonly ec2.ISecurityGroup[] },
  paths: {
    familyPath: string;
    environmentPath: string;
    /** Path of the role ARN passed as the TaskRoleArn override. */
    taskRoleArnPath: string;
    timeoutSeconds: number;
    resultPath: string;
    comment: string;
  },
): sfn.CustomState {
  const state = new sfn.CustomState(scope, id, {
    stateJson: {
      Type: 'Task',
      Comment: paths.comment,
      Resource: `arn:${Aws.PARTITION}:states:::ecs:runTask.sync`,
      Parameters: {
        ...fargateTaskParameters(props),
        'TaskDefinition.$': paths.familyPath,
        Overrides: {
          'TaskRoleArn.$': paths.taskRoleArnPath,
          ContainerOverrides: [{ Name: TASK_CONTAINER_NAME, 'Environment.$': paths.environmentPath }],
        },
      },
      // A fixed timeout (the longest database task of the plan): aws-local-stepfunctions reads TimeoutSecondsPath
      // from the Parameters output, where AWS reads the state input, so a path would behave differently locally.
      TimeoutSeconds: paths.timeoutSeconds,
      ResultSelector: { 'taskArn.$': '$.TaskArn' },
      ResultPath: paths.resultPath,
    },
  });
  // Capacity faults only: a restore or drill that ran and failed is never started again by Step Functions.
  return retryRunTaskCapacity(state);
}

/**
 * The console restore (JSONPath, so the local runtime runs the synthesized definition):
 *
 *   Resolve (validate input, settle the recovery point on a verified backup)   any problem: Fail, nothing touched
 *     (its error read by ReadError: Lambda's error JSON reduced to the error type and message)
 *   -> Guard (source connection or a non-empty target refused unless overwrite + confirm; a MySQL target lacking
 *      a DEFINER account of the backup refused unless definers: "ignore", which Notify then records)
 *   -> Restore (ECS RunTask .sync, the database's task with STRONGBOX_COMMAND=restore; checks the target again before writing)
 *   -> Validate (target inventory vs manifest, included objects only)
 *   -> Notify (audit record restores/<database>/<time>.json, chat with the restore time) -> Succeed
 *   Guard/Restore/Validate failure -> NotifyFailure (audit + chat; returns the readable error and cause) -> Fail
 *     A failed Restore state's cause is ECS's task description; the task's own error line is in the record it
 *     wrote to restores/<database>/task-errors/<execution name>.json, which NotifyFailure reads.
 *   StopExecution: .sync stops the ECS task; an EventBridge rule on ABORTED/TIMED_OUT runs Notify for the audit and chat.
 *
 * The restore's Lambdas can read the vault, and only Notify can write, and only under `restores/`.
 */
/** The steps that open a connection to the restore target, and so run with the database drivers layer. */
const CONNECTING = ['restore/guard', 'restore/validate'];

export class RestoreWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly functions: {
    readonly resolve: AppFunction;
    readonly guard: AppFunction;
    readonly validate: AppFunction;
    readonly notify: AppFunction;
  };
  /**
   * Security group of Guard and Validate, which connect to restore targets (Guard to see whether the target is
   * empty, Validate to count what was restored): allow it in the targets' security groups.
   */
  public readonly targetAccessSecurityGroup: ec2.SecurityGroup;

  public constructor(scope: Construct, id: string, props: RestoreWorkflowProps) {
    super(scope, id);
    const databases = Object.values(props.plan.databases);
    if (databases.length === 0) {
      throw new ValidationError('the plan has no databases; expected at least one', this);
    }
    if (props.taskSubnets.length === 0) {
      throw new ValidationError(`taskSubnets must not be empty, got ${props.taskSubnets.length} subnets`, this);
    }
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const environment = { [FUNCTION_ENV.vaultBucket]: props.vault.bucketName, [FUNCTION_ENV.chatTopicArn]: props.chatTopic.topicArn };
    const dlq = props.deadLetterQueue ?? deadLetterQueue(this, 'DeadLetterQueue');
    const fn = (
      name: string,
      description: string,
      timeout = Duration.minutes(1),
      extra: Record<string, string> = {},
      asynchronous: Pick<AppFunctionProps, 'deadLetterQueue' | 'reservedConcurrency'> = {},
    ) =>
      new AppFunction(this, name.replace('/', '-'), {
        name,
        plan: props.plan,
        description,
        environment: { ...environment, ...extra },
        timeout,
        logRetention,
        // Guard and Validate connect to the restore target.
        drivers: CONNECTING.includes(name),
        ...asynchronous,
      });
    this.functions = {
      // The restore role passed as the RunTask TaskRoleArn override, so a restore runs without the dump role's
      // write access to the vault; roles are found by name (DumpTask.restoreRole), not listed.
      resolve: fn('restore/resolve', 'Restore: validate the console input and settle the recovery point', Duration.minutes(1), {
        ...restoreRoleEnvironment(props.plan),
        // The disk a PostgreSQL recovery runs on, so that a base too large for it is refused before the task starts.
        [FUNCTION_ENV.postgresTaskStorageGiB]: String(defaultTaskStorageGiB('postgres')),
      }),
      guard: fn(
        'restore/guard',
        'Restore: refuse the source connection, a non-empty target and (PostgreSQL) a target lacking the roles, unless told otherwise',
        Duration.seconds(30),
      ),
      validate: fn('restore/validate', 'Restore: compare the target inventory with the manifest', Duration.minutes(5)),
      // Also an EventBridge target (StoppedRule below), invoked asynchronously. Each invocation is one restore
      // that ended, so 10 covers a wide DR plan group; a loop of events could otherwise take the account's
      // pool, and Step Functions retries a throttled invoke.
      notify: fn(
        'restore/notify',
        'Restore: audit record and chat',
        Duration.seconds(30),
        {},
        { deadLetterQueue: dlq, reservedConcurrency: 10 },
      ),
    };
    this.targetAccessSecurityGroup = new ec2.SecurityGroup(this, 'TargetAccessSecurityGroup', {
      vpc: props.vpc,
      description: 'Strongbox restore Guard and Validate: connect to restore targets to check and count them',
      allowAllOutbound: true,
    });
    this.placeInVpc(this.functions.guard, props);
    this.placeInVpc(this.functions.validate, props);
    this.grantAccess(props);

    const longestTask = Math.max(...databases.map((db) => db.taskTimeoutSeconds));
    this.stateMachine = strongboxStateMachine(this, {
      app: props.plan.app,
      name: 'restore',
      comment: `Strongbox (${props.plan.app}): restore a verified backup into a target, from the console`,
      definition: this.buildDefinition(props),
      timeout: Duration.seconds(longestTask + 3600),
      logRetention,
      wildcards:
        'Wildcards: Lambda versions of the restore functions, task ARNs of the Strongbox cluster (unknown until RunTask), revisions of the dump task families, and X-Ray/CloudWatch Logs delivery actions that take no narrower resource.',
    });
    grantRestoreRunTasks(this.stateMachine, props);

    // A stopped execution runs no further state, so the audit record and the chat message come from here.
    new events.Rule(this, 'StoppedRule', {
      description: 'Strongbox restore stopped from the console or timed out: audit record and chat',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['ABORTED', 'TIMED_OUT'], stateMachineArn: [this.stateMachine.stateMachineArn] },
      },
      targets: [new targets.LambdaFunction(this.functions.notify.function, { retryAttempts: 4, deadLetterQueue: dlq })],
    });
  }

  private buildDefinition(props: RestoreWorkflowProps): sfn.IChainable {
    const f = this.functions;
    // A TaskInput.fromJsonPathAt payload renders as `"Parameters": "$.x"` with payloadResponseOnly, which is not
    // ASL; a path is therefore passed as InputPath.
    const invoke = (id: string, app: AppFunction, payload: sfn.TaskInput | string, resultPath: string, comment: string) =>
      lambdaInvoke(this, id, {
        lambdaFunction: app.function,
        payloadResponseOnly: true,
        ...(typeof payload === 'string' ? { inputPath: payload } : { payload }),
        resultPath,
        comment,
        taskTimeout: sfn.Timeout.duration(app.function.timeout!.plus(Duration.minutes(1))),
      });

    const fail = new sfn.Fail(this, 'RestoreFailed', {
      comment: 'The error type and the message lines of the state that failed (no trace, no JSON)',
      errorPath: '$.failure.error',
      causePath: '$.failure.cause',
    });
    const readError = readableErrorStates(this, { errorPath: '$.error', resultPath: '$.failure', next: fail });
    const notifyFailure = lambdaInvoke(this, 'NotifyFailure', {
      lambdaFunction: f.notify.function,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        outcome: 'failed',
        resolved: sfn.JsonPath.objectAt('$.resolved'),
        error: sfn.JsonPath.objectAt('$.error'),
      }),
      // The audit record it wrote carries the readable error; the run fails with the same words.
      resultSelector: { 'error.$': '$.errorType', 'cause.$': '$.error' },
      resultPath: '$.failure',
      comment: 'Audit record and chat for a refused or failed restore; returns the error type and message for the Fail state',
      taskTimeout: sfn.Timeout.duration(f.notify.function.timeout!.plus(Duration.minutes(1))),
    });
    // The audit record is best effort on the failure path: the original error is what the run must report.
    notifyFailure.addCatch(readError, { resultPath: '$.notifyError' });
    notifyFailure.next(fail);
    const onFailure = <T extends sfn.TaskStateBase | sfn.CustomState>(state: T): T => {
      state.addCatch(notifyFailure, { errors: ['States.ALL'], resultPath: '$.error' });
      return state;
    };

    const resolve = invoke(
      'Resolve',
      f.resolve,
      sfn.TaskInput.fromObject({
        // From the context rather than `$`: a null input has no `$` to evaluate, and must still reach Resolve's message.
        input: sfn.JsonPath.objectAt('$$.Execution.Input'),
        execution: {
          executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
          name: sfn.JsonPath.stringAt('$$.Execution.Name'),
          startTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        },
      }),
      '$.resolved',
      'Validate the input and settle the recovery point; a bad input fails here, before anything is touched',
    );
    // No ResultPath on this Catch: the input may be null, a string or an array, which `$.error` cannot be set on.
    resolve.addCatch(
      new sfn.Pass(this, 'KeepError', { parameters: { 'error.$': '$' }, comment: 'The refusal, where ReadError looks for it' }).next(
        readError,
      ),
      { errors: ['States.ALL'] },
    );
    // Keep only what Resolve produced: the raw input is not carried through the run.
    const keep = new sfn.Pass(this, 'KeepResolved', { parameters: { resolved: sfn.JsonPath.objectAt('$.resolved') } });
    const guard = onFailure(
      invoke('Guard', f.guard, '$.resolved', '$.guard', 'Refuse the source connection unless overwrite and confirm agree'),
    );
    const restore = onFailure(
      runTaskState(this, 'Restore', props, {
        familyPath: '$.resolved.taskFamily',
        environmentPath: '$.resolved.environment',
        taskRoleArnPath: '$.resolved.taskRoleArn',
        timeoutSeconds: Math.max(...Object.values(props.plan.databases).map((db) => db.taskTimeoutSeconds)),
        resultPath: '$.restore',
        comment: 'The database task with STRONGBOX_COMMAND=restore: S3 -> SHA-256 -> zstd -d -> engine tool; refuses a non-empty target',
      }),
    );
    const validate = onFailure(
      invoke('Validate', f.validate, '$.resolved', '$.validate', 'Target inventory vs manifest, for the included objects only'),
    );
    const notify = invoke(
      'Notify',
      f.notify,
      sfn.TaskInput.fromObject({
        outcome: 'restored',
        resolved: sfn.JsonPath.objectAt('$.resolved'),
        validate: sfn.JsonPath.objectAt('$.validate'),
        guard: sfn.JsonPath.objectAt('$.guard'),
      }),
      '$.audit',
      'Audit record restores/<database>/<time>.json and chat with the restore time',
    );
    guard.next(restore).next(validate).next(notify).next(new sfn.Succeed(this, 'Restored'));
    // A dry run ends with Resolve's plan (full dump, segments, expected end event): Guard never reaches the target.
    const dryRun = new sfn.Choice(this, 'DryRun?', { comment: 'dryRun: true returns the plan and touches nothing' })
      .when(sfn.Condition.isPresent('$.resolved.dryRun'), new sfn.Succeed(this, 'Planned', { comment: 'The plan is $.resolved' }))
      .otherwise(guard);
    return resolve.next(keep).next(dryRun);
  }

  /** Guard and Validate connect to the target, so they run in the task subnets (AppFunction builds functions outside a VPC). */
  private placeInVpc(app: AppFunction, props: RestoreWorkflowProps): void {
    const cfn = app.function.node.defaultChild as lambda.CfnFunction;
    cfn.vpcConfig = {
      subnetIds: props.taskSubnets.map((s) => s.subnetId),
      securityGroupIds: [this.targetAccessSecurityGroup.securityGroupId],
    };
    app.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );
  }

  private grantAccess(props: RestoreWorkflowProps): void {
    const { resolve, guard, validate, notify } = this.functions;
    // Read-only on backups for the readers; Notify writes audit records and nothing else. No role here can
    // write a backup, a lock or a retention setting.
    for (const reader of [resolve, validate]) {
      props.vault.grantUnder(reader.function, VAULT_PATHS.backups, {
        objectActions: ['s3:GetObject'],
        listActions: ['s3:ListBucket'],
        key: 'decrypt',
      });
    }
    // Resolve plans restores to an instant from the segment manifests and the archiver's cursor (logs/, index/).
    props.vault.grantUnder(resolve.function, VAULT_PATHS.logs, {
      objectActions: ['s3:GetObject'],
      listActions: ['s3:ListBucket'],
      key: 'decrypt',
    });
    props.vault.grantUnder(resolve.function, VAULT_PATHS.index, {
      objectActions: ['s3:GetObject'],
      listActions: ['s3:ListBucket'],
      key: 'decrypt',
    });
    // A PostgreSQL restore to an instant plans from the base backups' manifests (bases/), beside the WAL segments.
    props.vault.grantUnder(resolve.function, VAULT_PATHS.bases, {
      objectActions: ['s3:GetObject'],
      listActions: ['s3:ListBucket'],
      key: 'decrypt',
    });
    // Guard reads the backup's manifest: the roles a PostgreSQL restore and the DEFINER accounts a MySQL/MariaDB
    // restore need on the target.
    props.vault.grantUnder(guard.function, VAULT_PATHS.backups, { objectActions: ['s3:GetObject'], key: 'decrypt' });
    // Notify writes audit records, and reads back the error record a failed restore task left under
    // restores/<database>/task-errors/ (see RestoreTaskErrorSchema).
    props.vault.grantUnder(notify.function, VAULT_PATHS.restores, { objectActions: ['s3:PutObject', 's3:GetObject'], key: 'encrypt' });
    props.chatTopic.grantPublish(notify.function);
    acknowledgeWildcardPermissions(
      notify.function.role!,
      'kms:GenerateDataKey* is how SNS publishes to the KMS-encrypted chat topic; the grant is limited to that topic key. The audit prefix wildcard stands for record names made at run time.',
    );
    // Targets are chosen at run time; only secrets their owners tagged as restore targets can be read.
    for (const reader of [this.functions.guard, validate]) {
      reader.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: [
            Stack.of(this).formatArn({
              service: 'secretsmanager',
              resource: 'secret',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
          conditions: { StringEquals: { [`secretsmanager:ResourceTag/${RESTORE_TARGET_TAG}`]: 'true' } },
        }),
      );
      acknowledgeWildcardPermissions(
        reader.function.role!,
        `Restore targets are named at run time: GetSecretValue on any secret tagged ${RESTORE_TARGET_TAG}=true, and the ENI actions a VPC function needs (no narrower resource).`,
      );
    }
  }
}
