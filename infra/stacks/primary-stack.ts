import { Stack, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { Plan } from '../../lambdas/shared/plan';
import { buildPlan } from '../config/plan';
import type { StrongboxConfig } from '../config/schema';
import { Alerts } from '../constructs/alerts';
import { Network } from '../constructs/network';
import { replicaVaultLocation, Vault, type VaultLocation } from '../constructs/vault';

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

    // ---------------------------------------------------------------------------------------------------
    // Lead wiring point. The constructs below are built in parallel by other issues; wire them here, in
    // this order, from the public fields above:
    //   1. dump tasks        one task definition per database (this.plan.databases, this.cluster,
    //                        this.vault.grantWriteUnder(taskRole, databasePrefix(db)), secrets from connection.secretArn)
    //   2. backup workflow   Prepare -> Dump -> Verify -> Replicate (this.replica) -> Retain -> Notify (this.chatTopic)
    //   3. schedules         EventBridge Scheduler per database (full backup, drill)
    //   4. restore / drill   state machines (this.vault.grantReadUnder: restore never writes to the vault)
    //   5. monitoring        RPO/RTO alarms routed with this.alerts.topicsForTier(tier)
    // ---------------------------------------------------------------------------------------------------
  }
}
