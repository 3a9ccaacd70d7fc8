import { Stack, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { buildDeploymentPlan, type DeploymentPlan } from '../config/plan';
import type { StrongboxConfig } from '../config/schema';
import { Alerts } from '../constructs/alerts';
import { BackupWorkflow } from '../constructs/backup-workflow';
import { BaseBackupWorkflow } from '../constructs/base-backup-workflow';
import { Dashboard } from '../constructs/dashboard';
import { DrPlanWorkflow } from '../constructs/dr-plan-workflow';
import { DrillWorkflow } from '../constructs/drill-workflow';
import type { DumpTask } from '../constructs/dump-task';
import { LogArchiveService } from '../constructs/log-archive-service';
import { LogArchiveWorkflow } from '../constructs/log-archive-workflow';
import { LogsKey } from '../constructs/logs-key';
import { Monitoring } from '../constructs/monitoring';
import { Network } from '../constructs/network';
import { RehearsalSchedules } from '../constructs/rehearsal-schedules';
import { RestoreWorkflow } from '../constructs/restore-workflow';
import { scheduleGroupAndQueue } from '../constructs/schedules';
import { type IVault, Vault, vaultKeyAliasArn } from '../constructs/vault';
import { Watchdog } from '../constructs/watchdog';
import { DatabaseShard, shardDatabases } from './database-shard';

export interface PrimaryStackProps extends StackProps {
  readonly config: StrongboxConfig;
}

/**
 * The primary-region stack: the vault, the network and ECS cluster the dump tasks run in, the alert topics,
 * and (wired below) the workflows and monitoring. Wiring only: every piece is a construct of its own.
 */
export class PrimaryStack extends Stack {
  public readonly config: StrongboxConfig;
  /** Defaults and tier presets resolved: what the Lambdas and tasks read at run time, plus task sizes and schedules. */
  public readonly plan: DeploymentPlan;
  public readonly vault: Vault;
  public readonly vaultBucket: s3.IBucket;
  public readonly vaultKey: kms.IKey;
  /** The replica vault in `vault.replicaRegion`, by name (another stack, another region). */
  public readonly replica: IVault;
  public readonly network: Network;
  public readonly vpc: ec2.IVpc;
  public readonly taskSubnets: ec2.SubnetSelection;
  public readonly taskSecurityGroups: ec2.ISecurityGroup[];
  public readonly cluster: ecs.Cluster;
  public readonly alerts: Alerts;
  public readonly chatTopic: sns.ITopic;
  public readonly pagerTopic: sns.ITopic;
  /** The fleet in nested stacks of at most DATABASES_PER_SHARD databases: dump tasks and schedules. */
  public readonly shards: readonly DatabaseShard[];
  public readonly dumpTasks: Readonly<Record<string, DumpTask>>;
  public readonly backup: BackupWorkflow;
  public readonly restore: RestoreWorkflow;
  public readonly drill: DrillWorkflow;
  /** Only when a database has a `logs` block. */
  public readonly logArchive?: LogArchiveWorkflow;
  /** Only when a PostgreSQL database has a logs block: its scheduled base backups. */
  public readonly baseBackup?: BaseBackupWorkflow;
  /** Only when a database has logs.mode continuous: its stream-logs service. */
  public readonly logArchiveService?: LogArchiveService;
  /** Only when the config has `drPlans`. */
  public readonly drPlan?: DrPlanWorkflow;
  public readonly watchdog: Watchdog;
  /** The fleet's alarms: one Metrics Insights alarm per tier (each database a contributor) and the watchdog's. */
  public readonly monitoring: Monitoring;

  public constructor(scope: Construct, id: string, props: PrimaryStackProps) {
    super(scope, id, props);
    const { config } = props;
    const imported = config.vault.kms.mode === 'import';
    this.config = config;
    this.plan = buildDeploymentPlan(config);

    this.vault = new Vault(this, 'Vault', {
      appName: config.app.name,
      role: 'primary',
      objectLock: config.vault.objectLock,
      importedKeyArn: imported ? config.vault.kms.keyArn : undefined,
    });
    this.vaultBucket = this.vault.bucket;
    this.vaultKey = this.vault.key;
    this.replica = Vault.fromReplica(this, 'ReplicaVault', {
      appName: config.app.name,
      region: config.vault.replicaRegion,
      importedKeyArn: imported ? config.vault.kms.replicaKeyArn : undefined,
    });

    // One key for every log group of the primary stack and its shards; one queue for every asynchronous delivery.
    const logsKey = LogsKey.of(this, config.app.name);
    const schedules = new Construct(this, 'Schedules');
    const scheduleShared = scheduleGroupAndQueue(schedules, config.app.name);
    const { deadLetterQueue } = scheduleShared;

    this.network = new Network(this, 'Network', { existing: config.network, flowLogKey: logsKey.key });
    this.vpc = this.network.vpc;
    this.taskSubnets = this.network.taskSubnets;
    this.taskSecurityGroups = this.network.taskSecurityGroups;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: `${config.app.name}-tasks`,
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.alerts = new Alerts(this, 'Alerts', { appName: config.app.name, alerts: config.alerts, deadLetterQueue });
    this.chatTopic = this.alerts.chatTopic;
    this.pagerTopic = this.alerts.pagerTopic;

    this.backup = new BackupWorkflow(this, 'Backup', {
      plan: this.plan,
      vault: this.vault,
      replicaVault: this.replica,
      replicaKmsKey: imported ? config.vault.kms.replicaKeyArn! : vaultKeyAliasArn(config.app.name, 'replica', config.vault.replicaRegion),
      cluster: this.cluster,
      taskSubnets: this.vpc.selectSubnets(this.taskSubnets).subnets,
      taskSecurityGroups: this.taskSecurityGroups,
      chatTopic: this.chatTopic,
      // Paging is left to the tier alarms (Monitoring below), so a run of failures pages once per database.
    });

    const taskSubnets = this.vpc.selectSubnets(this.taskSubnets).subnets;
    this.restore = new RestoreWorkflow(this, 'Restore', {
      plan: this.plan,
      vault: this.vault,
      cluster: this.cluster,
      vpc: this.vpc,
      taskSubnets,
      taskSecurityGroups: this.taskSecurityGroups,
      chatTopic: this.chatTopic,
      deadLetterQueue,
    });
    this.drill = new DrillWorkflow(this, 'Drill', {
      plan: this.plan,
      vault: this.vault,
      cluster: this.cluster,
      taskSubnets,
      taskSecurityGroups: this.taskSecurityGroups,
      chatTopic: this.chatTopic,
    });
    if (Object.values(this.plan.databases).some((db) => db.logs)) {
      this.logArchive = new LogArchiveWorkflow(this, 'LogArchive', {
        plan: this.plan,
        vault: this.vault,
        cluster: this.cluster,
        taskSubnets,
        taskSecurityGroups: this.taskSecurityGroups,
        backupFunctions: this.backup.functions,
        replicaVault: this.replica,
        replicaKmsKey: imported
          ? config.vault.kms.replicaKeyArn!
          : vaultKeyAliasArn(config.app.name, 'replica', config.vault.replicaRegion),
      });
    }
    if (Object.values(this.plan.databases).some((db) => db.logs?.kind === 'wal')) {
      // Not "BaseBackup": the local runtime also finds machines by logical id, and "backup" names the backup machine.
      this.baseBackup = new BaseBackupWorkflow(this, 'Bases', {
        plan: this.plan,
        vault: this.vault,
        replicaVault: this.replica,
        replicaKmsKey: imported
          ? config.vault.kms.replicaKeyArn!
          : vaultKeyAliasArn(config.app.name, 'replica', config.vault.replicaRegion),
        cluster: this.cluster,
        taskSubnets,
        taskSecurityGroups: this.taskSecurityGroups,
        backupFunctions: this.backup.functions,
      });
    }
    if (Object.keys(this.plan.drPlans ?? {}).length > 0) {
      this.drPlan = new DrPlanWorkflow(this, 'DrPlan', {
        plan: this.plan,
        restoreStateMachine: this.restore.stateMachine,
        drillStateMachine: this.drill.stateMachine,
        chatTopic: this.chatTopic,
      });
    }

    this.watchdog = new Watchdog(this, 'Watchdog', { plan: this.plan, vault: this.vault, deadLetterQueue });

    // One task definition and two roles per database, so a task can reach only its own secret and prefix; the
    // shards find everything above by name, and deploy after it.
    this.shards = shardDatabases(this.plan).map((databases, i) => {
      const shard = new DatabaseShard(this, `Databases${i + 1}`, {
        plan: this.plan,
        databases,
        importedKeyArn: imported ? config.vault.kms.keyArn : undefined,
        description: `Strongbox (${config.app.name}): dump tasks and schedules of ${databases.length} databases (${databases[0]} to ${databases[databases.length - 1]})`,
      });
      shard.node.addDependency(this.vault, this.alerts, this.backup.stateMachine, this.drill.stateMachine, schedules);
      if (this.logArchive) {
        shard.node.addDependency(this.logArchive.stateMachine);
      }
      if (this.baseBackup) {
        shard.node.addDependency(this.baseBackup.stateMachine);
      }
      return shard;
    });
    this.dumpTasks = Object.assign({}, ...this.shards.map((shard) => shard.dumpTasks));
    // --- logs.mode continuous: one always-running streamer per database, in the cluster beside the workflows' tasks ---
    if (Object.values(this.plan.databases).some((db) => db.logs?.mode === 'continuous')) {
      this.logArchiveService = new LogArchiveService(this, 'LogArchiveService', {
        plan: this.plan,
        cluster: this.cluster,
        taskSubnets,
        taskSecurityGroups: this.taskSecurityGroups,
        taskDefinitions: Object.fromEntries(Object.entries(this.dumpTasks).map(([name, task]) => [name, task.taskDefinition])),
        vault: this.vault,
        replicaVault: this.replica,
        replicaKmsKey: imported
          ? config.vault.kms.replicaKeyArn!
          : vaultKeyAliasArn(config.app.name, 'replica', config.vault.replicaRegion),
        deadLetterQueue,
      });
    }
    this.monitoring = new Monitoring(this, 'Monitoring', {
      plan: this.plan,
      topics: { chatTopic: this.chatTopic, pagerTopic: this.pagerTopic, pageOnImportant: config.alerts.pageOnImportant },
      watchdogFunction: this.watchdog.function,
      watchdogInterval: this.watchdog.interval,
      backupStateMachineArn: this.backup.stateMachine.stateMachineArn,
      drillStateMachineArn: this.drill.stateMachine.stateMachineArn,
      restoreStateMachineArn: this.restore.stateMachine.stateMachineArn,
      drPlanStateMachineArn: this.drPlan?.stateMachine.stateMachineArn,
    });
    if (this.drPlan) {
      new RehearsalSchedules(this, 'Rehearsals', {
        plan: this.plan,
        drPlanStateMachine: this.drPlan.stateMachine,
        shared: scheduleShared,
      });
    }

    new Dashboard(this, 'Dashboard', {
      plan: this.plan,
      alarms: this.monitoring.allAlarms,
      watchdogInterval: this.watchdog.interval,
      restoreStateMachineArn: this.restore.stateMachine.stateMachineArn,
    });
  }
}
