import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { FUNCTION_ENV } from '../../contracts/function-env';
import type { Plan } from '../../contracts/plan';
import { keys, logsPrefix } from '../../contracts/vault';
import { AppFunction } from './app-function';
import { lockedStates } from './locked-failure-path';
import { retryRunTaskCapacity } from './retries';
import { grantRunTasks, preparedTaskState } from './run-task-grants';
import { strongboxStateMachine } from './state-machine';
import { ValidationError } from './validation-error';
import { grantReplicationUnder, type IVault, replicaEnvironment } from './vault';

export interface LogArchiveWorkflowProps {
  readonly plan: Plan;
  readonly vault: IVault;
  readonly cluster: ecs.ICluster;
  readonly taskSubnets: readonly ec2.ISubnet[];
  readonly taskSecurityGroups: readonly ec2.ISecurityGroup[];
  /** The backup workflow's lock release and notifier (BackupWorkflow.functions): one failure path for both machines. */
  readonly backupFunctions: { readonly releaseLock: AppFunction; readonly notify: AppFunction };
  /** The replica vault and its region's KMS key (as the backup workflow's): segments are copied there after archiving. */
  readonly replicaVault: IVault;
  readonly replicaKmsKey: string;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/** Time Fargate may take to place the task and pull the image, on top of the task's own timeout. */
const ARCHIVE_PROVISIONING_SECONDS = 15 * 60;

/**
 * The log-archive machine (JSONPath, so the local runtime runs the synthesized definition), started per
 * database with `{"database": "<name>", "trigger": "schedule"}` every `logs.intervalMinutes`:
 *
 *   Prepare (locks/logs/<db>.json) -> Skipped? -> SkippedWhileRunning (quiet: the next run archives from the cursor)
 *           -> Archive (ECS RunTask .sync, STRONGBOX_COMMAND=archive-logs)
 *           -> ReplicateSegments (the recent verified segments to the replica vault, manifest last) -> ReleaseLock -> Archived
 *   any failure -> NotifyFailure -> ReleaseLockAfterFailure -> Fail (readable error and cause)
 *
 * The failure path is the backup workflow's, with its functions: the same chat, pager, BackupFailed and breach
 * metrics, and the same lock release, which frees the archiving lock Prepare names in `lockKey`. A skip sends no
 * chat notice: with a five-minute interval that would be noise, and a run that keeps overlapping shows as lag.
 */
export class LogArchiveWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly prepare: AppFunction;
  public readonly replicateSegments: AppFunction;

  public constructor(scope: Construct, id: string, props: LogArchiveWorkflowProps) {
    super(scope, id);
    const archived = Object.values(props.plan.databases).filter((db) => db.logs);
    if (archived.length === 0) {
      throw new ValidationError(
        `the plan of "${props.plan.app}" has no database with a logs block; build LogArchiveWorkflow only when one archives its binlog`,
        this,
      );
    }
    if (props.taskSubnets.length === 0) {
      throw new ValidationError('taskSubnets is empty; the Fargate tasks need at least one subnet', this);
    }
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    this.prepare = new AppFunction(this, 'Prepare', {
      name: 'logs/prepare',
      plan: props.plan,
      description: `Strongbox (${props.plan.app}) log archive: validate input, per-database archiving lock`,
      logRetention,
      timeout: Duration.seconds(30),
      environment: { [FUNCTION_ENV.vaultBucket]: props.vault.bucketName },
    });
    for (const db of archived) {
      props.vault.grantUnder(this.prepare.function, keys.logLock(db.name), {
        objectActions: ['s3:GetObject', 's3:PutObject'],
        listActions: ['s3:ListBucket'],
        key: 'encrypt',
      });
    }

    this.replicateSegments = new AppFunction(this, 'ReplicateSegments', {
      name: 'logs/replicate',
      plan: props.plan,
      description: `Strongbox (${props.plan.app}) log archive: server-side copy of verified segments to the replica vault`,
      logRetention,
      timeout: Duration.minutes(15),
      memorySize: 512,
      environment: {
        [FUNCTION_ENV.vaultBucket]: props.vault.bucketName,
        ...replicaEnvironment(props.replicaVault, props.replicaKmsKey),
      },
    });
    // Per archiving database: read its segments in the primary, write (and remove a bad copy) in the replica.
    for (const db of archived) {
      const segments = logsPrefix(db.name);
      grantReplicationUnder(this.replicateSegments.function, props.vault, props.replicaVault, segments);
    }

    const longestTask = Math.max(...archived.map((db) => db.taskTimeoutSeconds));
    this.stateMachine = strongboxStateMachine(this, {
      app: props.plan.app,
      name: 'log-archive',
      comment: `Strongbox (${props.plan.app}): archive one database's binlog from the cursor to the server's end`,
      definition: this.buildDefinition(props, longestTask),
      timeout: Duration.seconds(longestTask + ARCHIVE_PROVISIONING_SECONDS + 1800),
      logRetention,
      wildcards:
        'Wildcards: Lambda versions of the workflow functions, task ARNs of the Strongbox cluster (unknown until RunTask), task definition revisions of the dump families, and X-Ray/CloudWatch Logs delivery actions that take no narrower resource.',
    });
    grantRunTasks(this.stateMachine, props.plan, props.cluster, ['dump', 'execution']);
  }

  private buildDefinition(props: LogArchiveWorkflowProps, longestTask: number): sfn.IChainable {
    const { releaseLock, notify } = props.backupFunctions;
    const { scope, execution, invoke, wholeState, catchAll } = lockedStates(this, {
      releaseLock,
      notify,
      notifyComment: 'Chat (and pager by tier) with the cause; returns the readable error and cause',
    });

    const prepare = catchAll(
      invoke(
        'Prepare',
        this.prepare,
        { input: sfn.JsonPath.entirePayload, execution },
        '$.prepare',
        'Validate input, take the archiving lock',
      ),
    );
    const archive = catchAll(this.archiveState(scope, props, longestTask));
    const replicateSegments = catchAll(
      invoke(
        'ReplicateSegments',
        this.replicateSegments,
        { database: sfn.JsonPath.stringAt('$.prepare.database') },
        '$.replicate',
        'Server-side copy of the verified segments to the replica vault, manifest last',
      ),
    );
    const release = catchAll(invoke('ReleaseLock', releaseLock, wholeState, sfn.JsonPath.DISCARD, 'Release the archiving lock'));
    return prepare.next(
      new sfn.Choice(scope, 'Skipped?')
        .when(sfn.Condition.stringEquals('$.prepare.status', 'skipped'), new sfn.Succeed(scope, 'SkippedWhileRunning'))
        .otherwise(archive.next(replicateSegments).next(release).next(new sfn.Succeed(scope, 'Archived'))),
    );
  }

  /** The database's own task definition with the archive-logs command; the interval is in its static environment. */
  private archiveState(scope: Construct, props: LogArchiveWorkflowProps, longestTask: number): sfn.CustomState {
    const state = preparedTaskState(scope, 'Archive', {
      ...props,
      comment: 'The archiving task: mariadb-binlog from the cursor -> zstd -> SHA-256 -> upload, manifest, then cursor',
      command: 'archive-logs',
      passBackupId: false,
      timeoutSeconds: longestTask + ARCHIVE_PROVISIONING_SECONDS,
    });
    // Capacity faults only: a run that started and failed resumes from the cursor on the next schedule instead.
    return retryRunTaskCapacity(state);
  }
}
