import * as path from 'node:path';
import { IgnoreMode, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { TASK_CONTAINER_NAME, TASK_ENV, taskLogGroupName } from '../../contracts/task-env';
import { databasePrefix, keys, logsPrefix } from '../../contracts/vault';
import { basesPrefix } from '../../contracts/wal';
import type { DeploymentPlan } from '../config/plan';
import { LogsKey } from './logs-key';
import { acknowledgeRule, acknowledgeWildcardPermissions } from './nag';
import { RESTORE_TARGET_TAG } from './restore-workflow';
import { restoreRoleName, taskRolePath } from './task-roles';
import { defaultTaskStorageGiB } from './task-storage';
import { ValidationError } from './validation-error';
import { type IVault, VAULT_PATHS } from './vault';

export interface DumpTaskProps {
  /** The deployment plan: the database's connection, dump settings, task family and task size. */
  readonly plan: DeploymentPlan;
  /** Name of the database (a key of `plan.databases`) this task dumps. */
  readonly database: string;
  /** The primary vault; the task may only write under `backups/<database>/`. */
  readonly vault: IVault;
  /**
   * Container image.
   * @default {@link dumpTaskImage} (built by `cdk deploy` from tasks/Dockerfile; synth needs no Docker)
   */
  readonly image?: ecs.ContainerImage;
  /**
   * Retention of the task's log group.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Fargate ephemeral storage (21-200 GiB). pg_restore with `--jobs` or a selection writes the uncompressed
   * dump there first, so PostgreSQL gets room for it.
   * @default 100 for postgres, 21 for other engines
   */
  readonly ephemeralStorageGiB?: number;
  /**
   * Seconds between progress log lines.
   * @default 30
   */
  readonly progressIntervalSeconds?: number;
  /**
   * An execution role shared by the tasks of a shard (image pull, logs); this task adds its own secret to it.
   * @default a role of this task's own
   */
  readonly executionRole?: iam.Role;
}

const REPOSITORY_ROOT = path.join(__dirname, '..', '..');

/**
 * The task image from tasks/Dockerfile. The build context is the repository root because the task imports the
 * shared contracts (contracts/) and the engine adapters (engines/); everything but the files the build copies is excluded, so the asset hash
 * changes only when the task's code or dependencies do.
 */
export function dumpTaskImage(): ecs.ContainerImage {
  return ecs.ContainerImage.fromAsset(REPOSITORY_ROOT, {
    file: 'tasks/Dockerfile',
    ignoreMode: IgnoreMode.DOCKER,
    exclude: ['*', '!package.json', '!package-lock.json', '!tasks', '!engines', '!contracts', 'tasks/node_modules'],
  });
}

/** A secret ARN with the 6-character suffix Secrets Manager appends is complete; without it, partial. */
function importSecret(scope: Construct, arn: string): secretsmanager.ISecret {
  return /-[A-Za-z0-9]{6}$/.test(arn)
    ? secretsmanager.Secret.fromSecretCompleteArn(scope, 'DatabaseSecret', arn)
    : secretsmanager.Secret.fromSecretPartialArn(scope, 'DatabaseSecret', arn);
}

/**
 * The Fargate task definition of one database's dump task. Its task role can only upload under that
 * database's prefix of the vault (no read, no delete) and read only that database's secret; its execution
 * role pulls the image, writes logs and resolves the `secrets` that inject the credentials. Nothing secret is
 * in the environment values.
 */
export class DumpTask extends Construct {
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly taskRole: iam.Role;
  public readonly executionRole: iam.Role;
  /** True when {@link executionRole} is this task's own rather than a shared one. */
  private readonly ownsExecutionRole: boolean;
  /**
   * Role of the restore and drill commands, passed as the RunTask TaskRoleArn override: reads this database's
   * backups and tagged restore-target secrets, writes only drill.json and a failed restore's error record
   * (restores/<database>/task-errors/); it cannot upload or replace a backup.
   */
  public readonly restoreRole: iam.Role;
  public readonly containerName: string = TASK_CONTAINER_NAME;
  public readonly container: ecs.ContainerDefinition;
  public readonly logGroup: logs.LogGroup;
  /** The database's credentials secret, when it has one (Redis may not). */
  public readonly secret?: secretsmanager.ISecret;

  public constructor(scope: Construct, id: string, props: DumpTaskProps) {
    super(scope, id);
    const db = props.plan.databases[props.database];
    const size = props.plan.deployment[props.database]?.task;
    if (!db || !size) {
      throw new ValidationError(
        `database "${props.database}" is not in the plan; expected one of ${JSON.stringify(Object.keys(props.plan.databases))}`,
        this,
      );
    }
    const storage = props.ephemeralStorageGiB ?? defaultTaskStorageGiB(db.engine);
    if (!Number.isInteger(storage) || storage < 21 || storage > 200) {
      throw new ValidationError(`ephemeralStorageGiB must be a whole number of GiB from 21 to 200, got ${storage}`, this);
    }
    const progress = props.progressIntervalSeconds ?? 30;
    if (!(progress >= 1)) {
      throw new ValidationError(`progressIntervalSeconds must be at least 1, got ${progress}`, this);
    }

    const app = props.plan.app;
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      path: taskRolePath(app, 'dump'),
      description: `Strongbox dump task of ${db.name}: upload under ${databasePrefix(db.name)} only (no read)`,
    });
    this.ownsExecutionRole = props.executionRole === undefined;
    this.executionRole =
      props.executionRole ??
      new iam.Role(this, 'ExecutionRole', {
        assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
        path: taskRolePath(app, 'execution'),
        description: `Strongbox dump task of ${db.name}: image pull, logs, credentials injection`,
      });
    props.vault.grantWriteUnder(this.taskRole, VAULT_PATHS.database(db.name));
    if (db.logs) {
      // archive-logs: the segments of its own database, and the cursor it reads (404 needs the listing) and moves.
      props.vault.grantWriteUnder(this.taskRole, logsPrefix(db.name));
      // The read-back of each new segment (tasks/src/commands/verify-segment.ts): its own segments only.
      props.vault.grantUnder(this.taskRole, logsPrefix(db.name), { objectActions: ['s3:GetObject'], key: 'decrypt' });
      props.vault.grantUnder(this.taskRole, keys.logCursor(db.name), {
        objectActions: ['s3:GetObject', 's3:PutObject'],
        listActions: ['s3:ListBucket'],
        key: 'encrypt',
      });
    }
    if (db.logs?.kind === 'wal') {
      // base-backup: upload its own database's bases (tar, backup_manifest, manifest.json last); no read, no delete.
      props.vault.grantWriteUnder(this.taskRole, basesPrefix(db.name));
    }
    // --- logs.mode continuous: stream-logs holds the archiving lock itself, as a lease (no Prepare takes it) ---
    if (db.logs?.mode === 'continuous') {
      props.vault.grantUnder(this.taskRole, keys.logLock(db.name), {
        objectActions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        listActions: ['s3:ListBucket'],
        key: 'encrypt',
      });
    }

    // The restore and drill commands run in this task definition with this role instead (RunTask TaskRoleArn
    // override): they read their own database's backups, and write only a drill.json and, when a restore
    // fails, its error record: ECS reports a failed task to Step Functions as DescribeTasks output, which the
    // container cannot put its own words into, so the restore's NotifyFailure reads them from the vault.
    this.restoreRole = new iam.Role(this, 'RestoreRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      path: taskRolePath(app, 'restore'),
      roleName: restoreRoleName(app, db.name),
      description: `Strongbox restore and drill of ${db.name}: read ${databasePrefix(db.name)}, write only drill.json and restore error records`,
    });
    props.vault.grantReadUnder(this.restoreRole, VAULT_PATHS.database(db.name));
    props.vault.grantObjects(
      this.restoreRole,
      ['s3:PutObject'],
      [VAULT_PATHS.databaseBackupRecord(db.name, 'drill'), VAULT_PATHS.restoreTaskErrors(db.name)],
    );
    props.vault.grantUnder(this.restoreRole, VAULT_PATHS.database(db.name), { key: 'encrypt' });
    if (db.logs) {
      // A restore to an instant replays this database's segments after the dump, re-planned from their manifests and
      // the cursor; a chain drill replays those between two full dumps.
      props.vault.grantReadUnder(this.restoreRole, logsPrefix(db.name));
      props.vault.grantUnder(this.restoreRole, keys.logCursor(db.name), {
        objectActions: ['s3:GetObject'],
        listActions: ['s3:ListBucket'],
        key: 'decrypt',
      });
    }
    if (db.logs && db.engine === 'postgres') {
      // A PostgreSQL point-in-time restore recovers one of this database's base backups (tar, manifests) with its WAL.
      props.vault.grantReadUnder(this.restoreRole, basesPrefix(db.name));
    }
    // Console restores name their target's secret at run time; only secrets tagged as restore targets qualify.
    this.restoreRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: ['*'],
        conditions: { StringEquals: { [`secretsmanager:ResourceTag/${RESTORE_TARGET_TAG}`]: 'true' } },
      }),
    );
    acknowledgeWildcardPermissions(
      this.restoreRole,
      `Restore targets are chosen at run time: GetSecretValue on any secret tagged ${RESTORE_TARGET_TAG}=true; vault wildcards stop at this database's prefix, and the only writable keys are a backup's drill.json and this database's restore error records (restores/${db.name}/task-errors/).`,
    );

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: taskLogGroupName(props.plan.app, db.name),
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    LogsKey.encrypt(this.logGroup, app);

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      family: db.taskFamily,
      cpu: size.cpu,
      memoryLimitMiB: size.memoryMiB,
      ephemeralStorageGiB: storage,
      taskRole: this.taskRole,
      executionRole: this.executionRole,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });

    const secrets: Record<string, ecs.Secret> = {};
    if (db.connection.secretArn) {
      this.secret = importSecret(this, db.connection.secretArn);
      secrets[TASK_ENV.username] = ecs.Secret.fromSecretsManager(this.secret, 'username');
      secrets[TASK_ENV.password] = ecs.Secret.fromSecretsManager(this.secret, 'password');
      // The task may also read it through the SDK (STRONGBOX_DB_SECRET_ARN); it can read no other secret.
      this.secret.grantRead(this.taskRole);
      this.secret.grantRead(this.restoreRole);
    }

    const environment: Record<string, string> = {
      [TASK_ENV.database]: db.name,
      [TASK_ENV.engine]: db.engine,
      [TASK_ENV.host]: db.connection.host,
      [TASK_ENV.port]: String(db.connection.port),
      [TASK_ENV.tls]: db.connection.tls,
      [TASK_ENV.bucket]: props.vault.bucketName,
      [TASK_ENV.compressionLevel]: String(db.compressionLevel),
      [TASK_ENV.restoreJobs]: String(db.restoreJobs),
      [TASK_ENV.redisMode]: db.redisMode,
      [TASK_ENV.progressIntervalSeconds]: String(progress),
      ...(db.connection.database ? { [TASK_ENV.dbName]: db.connection.database } : {}),
      ...(db.logs ? { [TASK_ENV.logIntervalMinutes]: String(db.logs.intervalSeconds / 60) } : {}),
      // logs.mode continuous: the log-archive service runs this definition as it is (a service cannot override the
      // environment), so stream-logs is the default command; every RunTask of the workflows names its own.
      ...(db.logs?.mode === 'continuous' && {
        [TASK_ENV.command]: 'stream-logs',
        [TASK_ENV.logFlushSeconds]: String(db.logs.flushSeconds),
      }),
    };

    this.container = this.taskDefinition.addContainer('Dump', {
      containerName: TASK_CONTAINER_NAME,
      image: props.image ?? dumpTaskImage(),
      essential: true,
      environment,
      secrets,
      logging: ecs.LogDriver.awsLogs({ logGroup: this.logGroup, streamPrefix: db.name }),
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only non-secret connection settings (host, port, engine, bucket, tuning); credentials arrive through ECS secrets from Secrets Manager.',
    });
    acknowledgeRule(
      this,
      'IAMNoInlinePolicy',
      ['nist', 'hipaa'],
      `The CDK grants write each role's statements (upload under ${databasePrefix(db.name)}, this database's secret) into that role's own policy, which exists and is deleted with the role and cannot be attached to another database's task.`,
    );
    if (this.ownsExecutionRole) {
      acknowledgeWildcardPermissions(
        this.executionRole,
        'ecr:GetAuthorizationToken takes no resource narrower than "*"; the image pull, log writes and secret reads are scoped by the CDK grants.',
      );
    }
  }
}
