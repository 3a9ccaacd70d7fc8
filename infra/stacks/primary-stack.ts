import { Stack, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { Plan } from '../../contracts/plan';
import { buildPlan } from '../config/plan';
import type { StrongboxConfig } from '../config/schema';
import { Alerts } from '../constructs/alerts';
import { BackupWorkflow } from '../constructs/backup-workflow';
import { Dashboard } from '../constructs/dashboard';
import { DrPlanWorkflow } from '../constructs/dr-plan-workflow';
import { DrillWorkflow } from '../constructs/drill-workflow';
import { DumpTask } from '../constructs/dump-task';
import { Monitoring } from '../constructs/monitoring';
import { Network } from '../constructs/network';
import { RestoreWorkflow } from '../constructs/restore-workflow';
import { Schedules } from '../constructs/schedules';
import { replicaVaultLocation, Vault, type VaultLocation, vaultKeyAliasArn } from '../constructs/vault';
import { Watchdog } from '../constructs/watchdog';

export interface PrimaryStackProps extends StackProps {
  readonly config: StrongboxConfig;
}

/**
 * The primary-region stack: the vault, the network and ECS cluster the dump tasks run in, the alert topics,
 * and (wired below) the workflows and monitoring. Wiring only: every piece is a construct of its own.
 */
export class PrimaryStack extends Stack {
  public readonly config: StrongboxConfig;
  /** Defaults and tier presets resolved; what the Lambdas and tasks read at run time. */
  public readonly plan: Plan;
  public readonly vault: Vault;
  public readonly vaultBucket: s3.IBucket;
  public readonly vaultKey: kms.IKey;
  /** The replica vault in `vault.replicaRegion`, by name (another stack, another region). */
  public readonly replica: VaultLocation;
  public readonly network: Network;
  public readonly vpc: ec2.IVpc;
  public readonly taskSubnets: ec2.SubnetSelection;
  public readonly taskSecurityGroups: ec2.ISecurityGroup[];
  public readonly cluster: ecs.Cluster;
  public readonly alerts: Alerts;
  public readonly chatTopic: sns.ITopic;
  public readonly pagerTopic: sns.ITopic;
  public readonly dumpTasks: Readonly<Record<string, DumpTask>>;
  public readonly backup: BackupWorkflow;
  public readonly schedules: Schedules;
  public readonly restore: RestoreWorkflow;
  public readonly drill: DrillWorkflow;
  /** Only when the config has `drPlans`. */
  public readonly drPlan?: DrPlanWorkflow;
  public readonly watchdog: Watchdog;
  public readonly monitoring: Monitoring;

  public constructor(scope: Construct, id: string, props: PrimaryStackProps) {
    super(scope, id, props);
    const { config } = props;
    const imported = config.vault.kms.mode === 'import';
    this.config = config;
    this.plan = buildPlan(config);

    this.vault = new Vault(this, 'Vault', {
      appName: config.app.name,
      role: 'primary',
      objectLock: config.vault.objectLock,
      importedKeyArn: imported ? config.vault.kms.keyArn : undefined,
    });
    this.vaultBucket = this.vault.bucket;
    this.vaultKey = this.vault.key;
    this.replica = replicaVaultLocation(config.app.name, config.vault.replicaRegion, imported ? config.vault.kms.replicaKeyArn : undefined);

    this.network = new Network(this, 'Network', { existing: config.network });
    this.vpc = this.network.vpc;
    this.taskSubnets = this.network.taskSubnets;
    this.taskSecurityGroups = this.network.taskSecurityGroups;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: `${config.app.name}-tasks`,
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.alerts = new Alerts(this, 'Alerts', { appName: config.app.name, alerts: config.alerts });
    this.chatTopic = this.alerts.chatTopic;
    this.pagerTopic = this.alerts.pagerTopic;

    // One task definition per database, so a task can reach only its own secret and prefix.
    this.dumpTasks = Object.fromEntries(
      config.databases.map((database) => [
        database.name,
        new DumpTask(this, `DumpTask-${database.name}`, { appName: config.app.name, database, vault: this.vault.location }),
      ]),
    );

    this.backup = new BackupWorkflow(this, 'Backup', {
      plan: this.plan,
      vault: this.vault.location,
      replicaVault: this.replica,
      replicaKmsKey: imported ? config.vault.kms.replicaKeyArn! : vaultKeyAliasArn(config.app.name, 'replica', config.vault.replicaRegion),
      cluster: this.cluster,
      taskSubnets: this.vpc.selectSubnets(this.taskSubnets).subnets,
      taskSecurityGroups: this.taskSecurityGroups,
      chatTopic: this.chatTopic,
      // Paging is left to the per-database composite alarm (Monitoring), so a run of failures pages once.
      dumpTasks: this.dumpTasks,
    });

    const taskDefinitions = Object.values(this.dumpTasks).map((task) => task.taskDefinition);
    const restoreRoles = Object.fromEntries(Object.entries(this.dumpTasks).map(([name, task]) => [name, task.restoreRole]));
    const taskSubnets = this.vpc.selectSubnets(this.taskSubnets).subnets;
    this.restore = new RestoreWorkflow(this, 'Restore', {
      plan: this.plan,
      vault: this.vault.location,
      cluster: this.cluster,
      vpc: this.vpc,
      taskSubnets,
      taskSecurityGroups: this.taskSecurityGroups,
      chatTopic: this.chatTopic,
      taskDefinitions,
      restoreRoles,
    });
    this.drill = new DrillWorkflow(this, 'Drill', {
      plan: this.plan,
      vault: this.vault.location,
      cluster: this.cluster,
      taskSubnets,
      taskSecurityGroups: this.taskSecurityGroups,
      chatTopic: this.chatTopic,
      taskDefinitions,
      restoreRoles,
    });
    if (Object.keys(this.plan.drPlans ?? {}).length > 0) {
      this.drPlan = new DrPlanWorkflow(this, 'DrPlan', {
        plan: this.plan,
        restoreStateMachine: this.restore.stateMachine,
        chatTopic: this.chatTopic,
      });
    }

    this.watchdog = new Watchdog(this, 'Watchdog', { plan: this.plan, vault: this.vault.location });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      plan: this.plan,
      topics: { chatTopic: this.chatTopic, pagerTopic: this.pagerTopic, pageOnImportant: config.alerts.pageOnImportant },
      watchdogInterval: this.watchdog.interval,
      backupStateMachineArn: this.backup.stateMachine.stateMachineArn,
      drillStateMachineArn: this.drill.stateMachine.stateMachineArn,
      restoreStateMachineArn: this.restore.stateMachine.stateMachineArn,
    });
    new Dashboard(this, 'Dashboard', {
      plan: this.plan,
      alarms: this.monitoring.allAlarms,
      watchdogInterval: this.watchdog.interval,
      restoreStateMachineArn: this.restore.stateMachine.stateMachineArn,
    });

    this.schedules = new Schedules(this, 'Schedules', {
      app: config.app.name,
      databases: config.databases,
      backupStateMachine: this.backup.stateMachine,
      drillStateMachine: this.drill.stateMachine,
    });
  }
}
