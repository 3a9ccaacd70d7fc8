import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { FUNCTION_ENV } from '../../contracts/function-env';
import type { Plan } from '../../contracts/plan';
import { keys, logsPrefix } from '../../contracts/vault';
import { baseKeys, basesPrefix, latestBaseKey, mintBaseId } from '../../contracts/wal';
import { AppFunction } from './app-function';
import { lockedStates } from './locked-failure-path';
import { retryRunTaskCapacity } from './retries';
import { grantRunTasks, preparedTaskState } from './run-task-grants';
import { strongboxStateMachine } from './state-machine';
import { ValidationError } from './validation-error';
import { grantReplicationUnder, type IVault, replicaEnvironment, VAULT_ACCESS } from './vault';

export interface BaseBackupWorkflowProps {
  readonly plan: Plan;
  readonly vault: IVault;
  /** The replica vault and its region's KMS key (as the backup workflow's): verified bases are copied there. */
  readonly replicaVault: IVault;
  readonly replicaKmsKey: string;
  readonly cluster: ecs.ICluster;
  readonly taskSubnets: readonly ec2.ISubnet[];
  readonly taskSecurityGroups: readonly ec2.ISecurityGroup[];
  /** The backup workflow's lock release and notifier (BackupWorkflow.functions): one failure path for both machines. */
  readonly backupFunctions: { readonly releaseLock: AppFunction; readonly notify: AppFunction };
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/** Time Fargate may take to place the task and pull the image, on top of the task's own timeout. */
const BASE_PROVISIONING_SECONDS = 15 * 60;
/** Verify re-reads the tar, Replicate copies it, RetainBases prunes: the Lambdas' time around the task. */
const WORKFLOW_MARGIN_SECONDS = 3600;

/** Two sample keys of one base: the ARN patterns below are derived from the contract, not spelled again. */
const SAMPLE_BASE = mintBaseId('db', new Date(0));
const fileOf = (key: string) => key.slice(key.lastIndexOf('/') + 1);

/**
 * The base-backup machine (JSONPath, so the local runtime runs the synthesized definition), started per
 * PostgreSQL database with a logs block on `logs.baseBackup` with `{"database": "<name>", "trigger": "schedule"}`:
 *
 *   PrepareBase (backup lock, baseId from the execution start) -> Skipped? -> NotifySkipped -> SkippedWithNotice
 *           -> BaseBackup (ECS RunTask .sync, STRONGBOX_COMMAND=base-backup, STRONGBOX_BACKUP_ID=<baseId>)
 *           -> VerifyBase (tar and backup_manifest against the manifest; verification.json, latest-base pointer)
 *           -> ReplicateBase (tar, backup_manifest, verification, manifest last) -> RetainBases (bases and WAL)
 *           -> ReleaseLock -> BaseBackedUp
 *   any failure -> NotifyFailure -> ReleaseLockAfterFailure -> Fail (readable error and cause)
 *
 * A sibling of the backup machine rather than a branch of it: a base has its own manifest, verification, replica
 * copy and retention (the window, not GFS), so every step after the task differs, and only the lock and the
 * failure path are shared, which locked-failure-path.ts provides. The lock is the backup lock, so a base and a
 * logical dump of one database never run at once. A failed task leaves no manifest.json (written last), so a
 * failed base never looks like a base; a base that fails VerifyBase has `passed: false` and is no chain start.
 */
export class BaseBackupWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly functions: {
    readonly prepare: AppFunction;
    readonly verify: AppFunction;
    readonly replicate: AppFunction;
    readonly retain: AppFunction;
  };

  public constructor(scope: Construct, id: string, props: BaseBackupWorkflowProps) {
    super(scope, id);
    const based = Object.values(props.plan.databases).filter((db) => db.logs?.kind === 'wal');
    if (based.length === 0) {
      throw new ValidationError(
        `the plan of "${props.plan.app}" has no postgres database with a logs block; build BaseBackupWorkflow only when one takes base backups`,
        this,
      );
    }
    if (props.taskSubnets.length === 0) {
      throw new ValidationError('taskSubnets is empty; the Fargate tasks need at least one subnet', this);
    }
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const env = { [FUNCTION_ENV.vaultBucket]: props.vault.bucketName };
    const fn = (id: string, name: string, description: string, extra: Partial<ConstructorParameters<typeof AppFunction>[2]> = {}) =>
      new AppFunction(this, id, {
        name,
        plan: props.plan,
        description: `Strongbox (${props.plan.app}) base backup: ${description}`,
        logRetention,
        ...extra,
        environment: { ...env, ...extra.environment },
      });
    this.functions = {
      prepare: fn('Prepare', 'backup/base-prepare', 'validate input, blackouts, per-database backup lock, baseId', {
        timeout: Duration.seconds(30),
      }),
      verify: fn('Verify', 'backup/base-verify', 'tar and backup_manifest against the manifest, latest-base pointer', {
        timeout: Duration.minutes(15),
        memorySize: 1024,
      }),
      replicate: fn('Replicate', 'backup/base-replicate', 'server-side copy of a verified base to the replica vault', {
        timeout: Duration.minutes(15),
        memorySize: 512,
        environment: replicaEnvironment(props.replicaVault, props.replicaKmsKey),
      }),
      retain: fn('Retain', 'backup/base-retain', 'bases and WAL segments of the window, in both vaults', {
        timeout: Duration.minutes(10),
        memorySize: 1024,
        environment: {
          [FUNCTION_ENV.replicaBucket]: props.replicaVault.bucketName,
          [FUNCTION_ENV.replicaRegion]: props.replicaVault.region,
        },
      }),
    };
    for (const db of based) {
      this.grantVault(props, db.name);
    }

    const longestTask = Math.max(...based.map((db) => db.taskTimeoutSeconds));
    this.stateMachine = strongboxStateMachine(this, {
      app: props.plan.app,
      // Not "...-base-backup": the local runtime finds machines by a part of their name, and "backup" is the backup machine's.
      name: 'bases',
      comment: `Strongbox (${props.plan.app}): one PostgreSQL base backup, verified, replicated, and the chain retained`,
      definition: this.buildDefinition(props, longestTask),
      timeout: Duration.seconds(longestTask + BASE_PROVISIONING_SECONDS + WORKFLOW_MARGIN_SECONDS),
      logRetention,
      wildcards:
        'Wildcards: Lambda versions of the workflow functions, task ARNs of the Strongbox cluster (unknown until RunTask), task definition revisions of the dump families, and X-Ray/CloudWatch Logs delivery actions that take no narrower resource.',
    });
    grantRunTasks(this.stateMachine, props.plan, props.cluster, ['dump', 'execution']);
  }

  private buildDefinition(props: BaseBackupWorkflowProps, longestTask: number): sfn.IChainable {
    const f = this.functions;
    const { releaseLock, notify } = props.backupFunctions;
    const { scope, execution, invoke, wholeState, catchAll } = lockedStates(this, {
      releaseLock,
      notify,
      notifyComment: 'Chat (and pager by tier) with the cause; returns the readable error and cause',
    });
    const baseRef = { database: sfn.JsonPath.stringAt('$.prepare.database'), baseId: sfn.JsonPath.stringAt('$.prepare.backupId') };
    const prepare = catchAll(
      invoke(
        'PrepareBase',
        f.prepare,
        { input: sfn.JsonPath.entirePayload, execution },
        '$.prepare',
        'Validate input, blackout, backup lock, baseId',
      ),
    );
    const notifySkipped = catchAll(
      invoke('NotifySkipped', notify, { outcome: 'skipped', execution, ...wholeState }, sfn.JsonPath.DISCARD, 'Chat notice for a skip'),
    );
    const task = catchAll(this.baseBackupState(scope, props, longestTask));
    const verify = catchAll(invoke('VerifyBase', f.verify, baseRef, '$.verify', 'Tar and backup_manifest against the manifest'));
    const replicate = catchAll(invoke('ReplicateBase', f.replicate, baseRef, '$.replicate', 'Server-side copy to the replica vault'));
    const retain = catchAll(
      invoke(
        'RetainBases',
        f.retain,
        { database: sfn.JsonPath.stringAt('$.prepare.database'), backupId: sfn.JsonPath.stringAt('$.prepare.backupId') },
        '$.retain',
        'Bases of the window and the WAL they need, in both vaults',
      ),
    );
    const release = catchAll(invoke('ReleaseLock', releaseLock, wholeState, sfn.JsonPath.DISCARD, 'Release the per-database lock'));
    return prepare.next(
      new sfn.Choice(scope, 'Skipped?')
        .when(sfn.Condition.stringEquals('$.prepare.status', 'skipped'), notifySkipped.next(new sfn.Succeed(scope, 'SkippedWithNotice')))
        .otherwise(task.next(verify).next(replicate).next(retain).next(release).next(new sfn.Succeed(scope, 'BaseBackedUp'))),
    );
  }

  /** The database's own task definition with the base-backup command and the baseId Prepare minted. */
  private baseBackupState(scope: Construct, props: BaseBackupWorkflowProps, longestTask: number): sfn.CustomState {
    const state = preparedTaskState(scope, 'BaseBackup', {
      ...props,
      comment: 'The base-backup task: pg_basebackup -Ft -X none -> zstd -> SHA-256 -> multipart upload, backup_manifest, manifest last',
      command: 'base-backup',
      passBackupId: true,
      timeoutSeconds: longestTask + BASE_PROVISIONING_SECONDS,
    });
    // Capacity faults only: a base backup that ran and failed is never started again by Step Functions.
    return retryRunTaskCapacity(state);
  }

  /** Least privilege per function and database: its bases, its lock, its pointer, its segments. */
  private grantVault(props: BaseBackupWorkflowProps, database: string): void {
    const { prepare, verify, replicate, retain } = this.functions;
    const { vault, replicaVault } = props;
    const bases = basesPrefix(database);
    const record = (key: string) => `${bases}*/${fileOf(key)}`;
    // PrepareBase: the backup lock of this database and nothing else (ReleaseLock is the backup workflow's).
    vault.grantUnder(prepare.function, keys.lock(database), {
      objectActions: ['s3:GetObject', 's3:PutObject'],
      listActions: ['s3:ListBucket'],
      key: 'encrypt',
    });
    // VerifyBase: reads the base, writes only its verification.json and the latest-base pointer.
    vault.grantUnder(verify.function, bases, { objectActions: ['s3:GetObject'], listActions: ['s3:ListBucket'], key: 'encrypt' });
    vault.grantObjects(verify.function, ['s3:PutObject'], [record(baseKeys.verification(SAMPLE_BASE))]);
    vault.grantUnder(verify.function, latestBaseKey(database), {
      objectActions: ['s3:GetObject', 's3:PutObject'],
      listActions: ['s3:ListBucket'],
      key: 'encrypt',
    });
    // ReplicateBase: reads the base in the primary, writes (and removes a bad copy) in the replica.
    grantReplicationUnder(replicate.function, vault, replicaVault, bases);
    // RetainBases: the bases' manifests and verification records, the segments' records and the cursor; delete and
    // lock reads on bases and segments in both vaults. No data object body.
    const segments = logsPrefix(database);
    vault.grantObjects(
      retain.function,
      ['s3:GetObject'],
      [
        record(baseKeys.manifest(SAMPLE_BASE)),
        record(baseKeys.verification(SAMPLE_BASE)),
        `${segments}*/manifest.json`,
        `${segments}*/verification.json`,
      ],
    );
    vault.grantUnder(retain.function, keys.logCursor(database), {
      objectActions: ['s3:GetObject'],
      listActions: ['s3:ListBucket'],
      key: 'decrypt',
    });
    for (const on of [vault, replicaVault]) {
      for (const prefix of [bases, segments]) {
        on.grantUnder(retain.function, prefix, { objectActions: VAULT_ACCESS.retain, listActions: ['s3:ListBucket'], key: 'decrypt' });
      }
    }
  }
}
