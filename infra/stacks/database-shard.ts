import { ArnFormat, NestedStack, type NestedStackProps, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { DATABASES_PER_SHARD } from '../config/limits';
import type { DeploymentPlan } from '../config/plan';
import { DumpTask } from '../constructs/dump-task';
import { acknowledgeRule, acknowledgeWildcardPermissions } from '../constructs/nag';
import { Schedules } from '../constructs/schedules';
import { taskRolePath } from '../constructs/task-roles';
import { ValidationError } from '../constructs/validation-error';
import { Vault, vaultBucketName, vaultKeyAliasName } from '../constructs/vault';

/**
 * A database adds about 8-9 resources to its shard (task definition, log group, dump and restore roles with
 * their policies, two schedules; its alarms are the fleet's tier alarms in the primary stack), a shard adds 6 of
 * its own (the shared execution role, the Scheduler roles): DATABASES_PER_SHARD (16) keep a shard far below
 * CloudFormation's 500 resources and 1 MB per stack, and the 450 resources and 800 KB Strongbox allows itself.
 */
export { DATABASES_PER_SHARD };

export interface DatabaseShardProps extends NestedStackProps {
  /** The deployment plan of the whole fleet; the shard builds only `databases`. */
  readonly plan: DeploymentPlan;
  /** The databases of this shard, names of `plan.databases`. */
  readonly databases: readonly string[];
  /** `vault.kms.keyArn` when the vault key is imported; a created key is matched by its alias. */
  readonly importedKeyArn?: string;
}

/**
 * One shard of the fleet, a nested stack of the primary stack: per database its dump task (task definition,
 * dump and restore roles, log group) and its schedules. It references nothing of the parent by
 * token: the vault, topics, state machines, schedule group and DLQ all have deterministic names, so a shard
 * has no parameters or outputs and the parent's templates do not grow with the fleet.
 */
export class DatabaseShard extends NestedStack {
  public readonly dumpTasks: Readonly<Record<string, DumpTask>>;
  public readonly schedules: Schedules;
  /** The execution role of every task of the shard: image pull, logs, and the shard's database secrets. */
  public readonly executionRole: iam.Role;

  public constructor(scope: Construct, id: string, props: DatabaseShardProps) {
    super(scope, id, props);
    const { plan } = props;
    const missing = props.databases.filter((name) => !plan.databases[name]);
    if (props.databases.length === 0 || props.databases.length > DATABASES_PER_SHARD || missing.length > 0) {
      throw new ValidationError(
        `a shard holds 1-${DATABASES_PER_SHARD} databases of the plan, got ${props.databases.length}${missing.length ? ` with unknown ${JSON.stringify(missing)}` : ''}`,
        this,
      );
    }
    const app = plan.app;
    const region = Stack.of(this).region;
    const shardPlan: DeploymentPlan = {
      ...plan,
      databases: Object.fromEntries(props.databases.map((name) => [name, plan.databases[name]])),
      deployment: Object.fromEntries(props.databases.map((name) => [name, plan.deployment[name]])),
    };
    const byName = (service: string, resource: string, resourceName: string) =>
      Stack.of(this).formatArn({ service, resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    const vaultName = vaultBucketName(app, 'primary', region);
    const vault = Vault.fromAttributes(this, 'Vault', {
      bucketName: vaultName,
      bucketArn: `arn:${Stack.of(this).partition}:s3:::${vaultName}`,
      region,
      keyArn: props.importedKeyArn,
      keyAliasName: props.importedKeyArn ? undefined : vaultKeyAliasName(app, 'primary'),
    });

    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      path: taskRolePath(app, 'execution'),
      description: `Strongbox dump tasks of ${props.databases.length} databases: image pull, logs, credentials injection`,
    });
    acknowledgeWildcardPermissions(
      this.executionRole,
      'ecr:GetAuthorizationToken takes no resource narrower than "*"; the image pull, log writes and secret reads are scoped by the CDK grants to this shard.',
    );
    acknowledgeRule(
      this.executionRole,
      'IAMNoInlinePolicy',
      ['nist', 'hipaa'],
      "The CDK grants write the shard's image pull, log and secret statements into the execution role's own policy, which exists and is deleted with the role and cannot be attached to any other principal.",
    );
    this.dumpTasks = Object.fromEntries(
      props.databases.map((database) => [
        database,
        new DumpTask(this, `DumpTask-${database}`, { plan: shardPlan, database, vault, executionRole: this.executionRole }),
      ]),
    );

    const stateMachine = (name: string) =>
      sfn.StateMachine.fromStateMachineArn(this, `${name}StateMachine`, byName('states', 'stateMachine', `${app}-${name}`));
    const backup = stateMachine('backup');
    const drill = stateMachine('drill');
    // Built by the primary stack only when a database archives its log (LogArchiveWorkflow).
    const archives = props.databases.some((name) => plan.databases[name]?.logs);
    this.schedules = new Schedules(this, 'Schedules', {
      plan: shardPlan,
      backupStateMachine: backup,
      drillStateMachine: drill,
      ...(archives && { logArchiveStateMachine: stateMachine('log-archive') }),
      // Built by the primary stack only when a PostgreSQL database archives its WAL (BaseBackupWorkflow).
      ...(props.databases.some((name) => plan.databases[name]?.logs?.kind === 'wal') && {
        baseBackupStateMachine: stateMachine('bases'),
      }),
      shared: {
        group: scheduler.ScheduleGroup.fromScheduleGroupName(this, 'ScheduleGroup', app),
        deadLetterQueue: sqs.Queue.fromQueueArn(
          this,
          'DeadLetterQueue',
          Stack.of(this).formatArn({ service: 'sqs', resource: `${app}-schedules-dlq`, arnFormat: ArnFormat.NO_RESOURCE_NAME }),
        ),
      },
    });
  }
}

/** The plan's databases in shards of at most {@link DATABASES_PER_SHARD}, in config order. */
export function shardDatabases(plan: DeploymentPlan): string[][] {
  const names = Object.keys(plan.databases);
  const shards: string[][] = [];
  for (let i = 0; i < names.length; i += DATABASES_PER_SHARD) {
    shards.push(names.slice(i, i + DATABASES_PER_SHARD));
  }
  return shards;
}
