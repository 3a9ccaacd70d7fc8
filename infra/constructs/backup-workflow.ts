import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { FUNCTION_ENV } from '../../contracts/function-env';
import type { Plan } from '../../contracts/plan';
import { keys, logsPrefix } from '../../contracts/vault';
import { AppFunction } from './app-function';
import { lockedStates } from './locked-failure-path';
import { acknowledgeWildcardPermissions } from './nag';
import { retryRunTaskCapacity } from './retries';
import { grantRunTasks, preparedTaskState } from './run-task-grants';
import { strongboxStateMachine } from './state-machine';
import { ValidationError } from './validation-error';
import { type IVault, replicaEnvironment, VAULT_ACCESS, VAULT_PATHS } from './vault';

/** What the workflow needs of one database's dump task (built by the DumpTask construct). */
export interface DumpTaskRef {
  readonly taskDefinition: ecs.TaskDefinition;
}

export interface BackupWorkflowProps {
  readonly plan: Plan;
  /** The primary vault. */
  readonly vault: IVault;
  /** The replica vault in the other region. */
  readonly replicaVault: IVault;
  /** KMS key of the replica vault as S3 accepts it in `SSEKMSKeyId`: key ARN or alias ARN. */
  readonly replicaKmsKey: string;
  readonly cluster: ecs.ICluster;
  readonly taskSubnets: readonly ec2.ISubnet[];
  readonly taskSecurityGroups: readonly ec2.ISecurityGroup[];
  /** Topic that AWS Chatbot relays to Slack or Teams. */
  readonly chatTopic: sns.ITopic;
  /**
   * Topic with the pager's HTTPS subscription.
   * @default no paging
   */
  readonly pagerTopic?: sns.ITopic;
  /**
   * Page for failures of important-tier databases too (critical ones always page).
   * @default false
   */
  readonly pageOnImportant?: boolean;
  /**
   * The dump tasks by database name, checked against the plan's families when given. A fleet builds them in
   * its database shards and leaves this out: the state machine starts them by family name.
   * @default not checked
   */
  readonly dumpTasks?: Readonly<Record<string, DumpTaskRef>>;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/** Time the Lambdas and retries need around the dump, added to the longest task timeout. */
const WORKFLOW_MARGIN = Duration.hours(1);
/** Time Fargate may take to place the task and pull the image, on top of the task's own timeout. */
const DUMP_PROVISIONING_SECONDS = 15 * 60;

/**
 * The shared backup state machine (JSONPath, so the local runtime can run the synthesized definition):
 *
 *   Prepare -> Skipped? -> NotifySkipped -> Succeed
 *           -> Dump (ECS RunTask .sync) -> Verify -> Replicate -> Retain -> ReleaseLock -> Notify -> Succeed
 *   any failure -> NotifyFailure -> ReleaseLockAfterFailure -> Fail (readable error and cause)
 *
 * Every Task has an explicit TimeoutSeconds; Lambda tasks invoke the function ARN directly, so a task's result
 * is the handler's return value and the local runtime can stand in for any state by its name.
 */
export class BackupWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly functions: {
    readonly prepare: AppFunction;
    readonly verify: AppFunction;
    readonly replicate: AppFunction;
    readonly retain: AppFunction;
    readonly notify: AppFunction;
    readonly releaseLock: AppFunction;
  };

  public constructor(scope: Construct, id: string, props: BackupWorkflowProps) {
    super(scope, id);
    const databases = Object.values(props.plan.databases);
    if (databases.length === 0) {
      throw new ValidationError(`the plan of "${props.plan.app}" has no databases; add at least one to strongbox.config.yaml`, this);
    }
    for (const db of props.dumpTasks ? databases : []) {
      const task = props.dumpTasks?.[db.name];
      if (!task) {
        throw new ValidationError(
          `no dump task for database "${db.name}"; dumpTasks has ${JSON.stringify(Object.keys(props.dumpTasks ?? {}))}`,
          this,
        );
      }
      if (task.taskDefinition.family !== db.taskFamily) {
        throw new ValidationError(
          `dump task of "${db.name}" has family "${task.taskDefinition.family}", but the plan starts "${db.taskFamily}" (taskFamily(app, db))`,
          this,
        );
      }
    }
    if (props.taskSubnets.length === 0) {
      throw new ValidationError('taskSubnets is empty; the Fargate tasks need at least one subnet', this);
    }

    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const env = { [FUNCTION_ENV.vaultBucket]: props.vault.bucketName };
    const fn = (name: string, description: string, extra: Partial<ConstructorParameters<typeof AppFunction>[2]> = {}) =>
      new AppFunction(
        this,
        name.replace(/^backup\//, '').replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase()),
        {
          name,
          plan: props.plan,
          description: `Strongbox (${props.plan.app}) backup: ${description}`,
          logRetention,
          ...extra,
          environment: { ...env, ...extra.environment },
        },
      );

    const prepare = fn('backup/prepare', 'validate input, blackouts, per-database lock, backupId', { timeout: Duration.seconds(30) });
    const verify = fn('backup/verify', 'artifact against manifest (size, SHA-256, zstd frames)', {
      timeout: Duration.minutes(15),
      memorySize: 1024,
    });
    const replicate = fn('backup/replicate', 'server-side copy to the replica vault, checksum compared', {
      timeout: Duration.minutes(15),
      memorySize: 512,
      environment: replicaEnvironment(props.replicaVault, props.replicaKmsKey),
    });
    const retain = fn('backup/retain', 'GFS prune, Object Lock and tiering in both vaults', {
      timeout: Duration.minutes(10),
      memorySize: 1024,
      environment: {
        [FUNCTION_ENV.replicaBucket]: props.replicaVault.bucketName,
        [FUNCTION_ENV.replicaRegion]: props.replicaVault.region,
      },
    });
    const notify = fn('backup/notify', 'chat and pager notifications, metrics', {
      environment: {
        [FUNCTION_ENV.chatTopicArn]: props.chatTopic.topicArn,
        ...(props.pagerTopic ? { [FUNCTION_ENV.pagerTopicArn]: props.pagerTopic.topicArn } : {}),
        [FUNCTION_ENV.pageOnImportant]: String(props.pageOnImportant ?? false),
      },
    });
    const releaseLock = fn('backup/release-lock', 'release the per-database lock', { timeout: Duration.seconds(30) });
    this.functions = { prepare, verify, replicate, retain, notify, releaseLock };
    this.grantVault(props);
    props.chatTopic.grantPublish(notify.function);
    props.pagerTopic?.grantPublish(notify.function);

    const definition = this.buildDefinition(props);
    const longestTask = Math.max(...databases.map((db) => db.taskTimeoutSeconds));
    this.stateMachine = strongboxStateMachine(this, {
      app: props.plan.app,
      name: 'backup',
      comment: `Strongbox (${props.plan.app}): dump, verify, replicate and retain one database`,
      definition: definition,
      timeout: Duration.seconds(longestTask + DUMP_PROVISIONING_SECONDS + WORKFLOW_MARGIN.toSeconds()),
      logRetention,
      wildcards:
        'Wildcards: Lambda versions of the workflow functions (lambda:InvokeFunction on <arn>:*), task ARNs of the Strongbox cluster (unknown until RunTask), task definition revisions of the dump families, and X-Ray/CloudWatch Logs delivery actions that take no narrower resource.',
    });
    grantRunTasks(this.stateMachine, props.plan, props.cluster, ['dump', 'execution']);
  }

  private buildDefinition(props: BackupWorkflowProps): sfn.IChainable {
    const f = this.functions;
    const { scope, execution, invoke, wholeState, catchAll } = lockedStates(this, {
      releaseLock: f.releaseLock,
      notify: f.notify,
      notifyComment: 'Chat (and pager by tier) with the cause and stderr tail; returns the readable error and cause',
    });
    const backupRef = { database: sfn.JsonPath.stringAt('$.prepare.database'), backupId: sfn.JsonPath.stringAt('$.prepare.backupId') };

    const prepare = catchAll(
      invoke(
        'Prepare',
        f.prepare,
        { input: sfn.JsonPath.entirePayload, execution },
        '$.prepare',
        'Validate input, blackout, lock, backupId',
      ),
    );
    const notifySkipped = catchAll(
      invoke('NotifySkipped', f.notify, { outcome: 'skipped', execution, ...wholeState }, sfn.JsonPath.DISCARD, 'Chat notice for a skip'),
    );
    const dump = catchAll(this.dumpState(scope, props));
    const verify = catchAll(invoke('Verify', f.verify, backupRef, '$.verify', 'Size, SHA-256 and zstd frames against the manifest'));
    const replicate = catchAll(invoke('Replicate', f.replicate, backupRef, '$.replicate', 'Server-side copy to the replica vault'));
    const retain = catchAll(invoke('Retain', f.retain, backupRef, '$.retain', 'GFS prune of this database in both vaults'));
    const release = catchAll(invoke('ReleaseLock', f.releaseLock, wholeState, sfn.JsonPath.DISCARD, 'Release the per-database lock'));
    const notify = catchAll(
      invoke('Notify', f.notify, { outcome: 'succeeded', execution, ...wholeState }, sfn.JsonPath.DISCARD, 'Success summary and metrics'),
    );

    return prepare.next(
      new sfn.Choice(scope, 'Skipped?')
        .when(sfn.Condition.stringEquals('$.prepare.status', 'skipped'), notifySkipped.next(new sfn.Succeed(scope, 'SkippedWithNotice')))
        .otherwise(dump.next(verify).next(replicate).next(retain).next(release).next(notify).next(new sfn.Succeed(scope, 'BackedUp'))),
    );
  }

  /** EcsRunTask takes a fixed task definition; one shared state machine picks the database's family at run time. */
  private dumpState(scope: Construct, props: BackupWorkflowProps): sfn.CustomState {
    const longestTask = Math.max(...Object.values(props.plan.databases).map((db) => db.taskTimeoutSeconds));
    const state = preparedTaskState(scope, 'Dump', {
      ...props,
      comment: 'The dump task: engine tool -> zstd -> SHA-256 -> multipart upload, manifest last',
      command: 'backup',
      passBackupId: true,
      timeoutSeconds: longestTask + DUMP_PROVISIONING_SECONDS,
    });
    // Capacity faults only: a dump that ran and failed is never started again by Step Functions.
    return retryRunTaskCapacity(state);
  }

  /** Least privilege per function; each statement is the narrowest resource S3 lets us name. */
  private grantVault(props: BackupWorkflowProps): void {
    const { prepare, verify, replicate, retain, notify, releaseLock } = this.functions;
    const { vault, replicaVault } = props;
    const { backups, locks, index } = VAULT_PATHS;
    const anyBackup = `${backups}*`;
    // S3 answers 403 instead of 404 for a missing key without s3:ListBucket; every reader below needs 404.
    const list = (grantee: AppFunction, on: IVault, key?: 'encrypt' | 'decrypt') =>
      on.grantUnder(grantee.function, backups, { listActions: ['s3:ListBucket'], key });

    // Prepare: the lock and nothing else.
    vault.grantUnder(prepare.function, locks, {
      objectActions: ['s3:GetObject', 's3:PutObject'],
      listActions: ['s3:ListBucket'],
      key: 'encrypt',
    });
    // ReleaseLock: read and conditionally delete the lock.
    vault.grantUnder(releaseLock.function, locks, {
      objectActions: ['s3:GetObject', 's3:DeleteObject'],
      listActions: ['s3:ListBucket'],
      key: 'decrypt',
    });
    // Verify: reads backups, writes only verification.json and the latest-verified pointer.
    vault.grantObjects(verify.function, ['s3:GetObject'], [anyBackup]);
    vault.grantObjects(verify.function, ['s3:PutObject'], [VAULT_PATHS.anyBackupRecord('verification')]);
    vault.grantUnder(verify.function, index, {
      objectActions: ['s3:GetObject', 's3:PutObject'],
      listActions: ['s3:ListBucket'],
      key: 'encrypt',
    });
    list(verify, vault, 'encrypt');
    // Replicate: reads the source, writes the replica (and removes a copy that does not match).
    vault.grantObjects(replicate.function, ['s3:GetObject', 's3:GetObjectTagging'], [anyBackup]);
    list(replicate, vault, 'decrypt');
    replicaVault.grantObjects(
      replicate.function,
      ['s3:GetObject', 's3:PutObject', 's3:PutObjectTagging', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      [anyBackup],
    );
    list(replicate, replicaVault, 'encrypt');
    // Retain: delete, tag, lock; reads no object body except verification.json.
    vault.grantObjects(retain.function, VAULT_ACCESS.retain, [anyBackup]);
    vault.grantObjects(retain.function, ['s3:GetObject'], [VAULT_PATHS.anyBackupRecord('verification')]);
    list(retain, vault, 'decrypt');
    replicaVault.grantObjects(retain.function, VAULT_ACCESS.retain, [anyBackup]);
    list(retain, replicaVault);
    // Segment retention (lambdas/backup/retain/segments.ts), per archiving database: its segments' records, the
    // kept dumps' log coordinates and the cursor; delete and lock reads on its segments in both vaults.
    for (const db of Object.values(props.plan.databases).filter((d) => d.logs)) {
      const segments = logsPrefix(db.name);
      vault.grantObjects(retain.function, ['s3:GetObject'], [`${segments}*/manifest.json`, `${segments}*/verification.json`]);
      vault.grantObjects(retain.function, ['s3:GetObject'], [VAULT_PATHS.databaseBackupRecord(db.name, 'manifest')]);
      vault.grantUnder(retain.function, keys.logCursor(db.name), {
        objectActions: ['s3:GetObject'],
        listActions: ['s3:ListBucket'],
        key: 'decrypt',
      });
      for (const on of [vault, replicaVault]) {
        on.grantUnder(retain.function, segments, { objectActions: VAULT_ACCESS.retain, listActions: ['s3:ListBucket'], key: 'decrypt' });
      }
    }
    // Notify: the figures of the manifest and the stderr tail of failure.json.
    vault.grantObjects(
      notify.function,
      ['s3:GetObject'],
      [VAULT_PATHS.anyBackupRecord('manifest'), VAULT_PATHS.anyBackupRecord('failure')],
    );
    list(notify, vault, 'decrypt');
    acknowledgeWildcardPermissions(
      notify.function.role!,
      'kms:GenerateDataKey* is how SNS publishes to the KMS-encrypted chat and pager topics (limited to that key); vault wildcards stand for the database and backup folders created at run time.',
    );
  }
}
