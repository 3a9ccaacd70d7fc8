import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { StrongboxConfig } from '../config/schema';
import { acknowledgeRule } from './nag';
import { ValidationError } from './validation-error';

export type NetworkConfig = NonNullable<StrongboxConfig['network']>;

export interface NetworkProps {
  /**
   * An existing VPC, its subnets and security groups for the tasks (`network` in the config). Imported from
   * the given ids alone: no context lookup, so synth needs no AWS account.
   * @default a new VPC: two AZs, public and private-with-egress subnets, one NAT gateway, an S3 gateway endpoint and flow logs
   */
  readonly existing?: NetworkConfig;
  /**
   * Days the VPC flow logs of a created VPC are kept.
   * @default 365
   */
  readonly flowLogRetention?: logs.RetentionDays;
  /**
   * Key of the flow log group of a created VPC (the stack's logs key, LogsKey).
   * @default CloudWatch Logs' own encryption
   */
  readonly flowLogKey?: kms.IKey;
}

/**
 * Where the Fargate dump/restore tasks run. Strongbox's tasks only open connections (to the databases and
 * to S3), so the created security group allows no inbound traffic at all.
 */
export class Network extends Construct {
  public readonly vpc: ec2.IVpc;
  public readonly taskSubnets: ec2.SubnetSelection;
  public readonly taskSecurityGroups: ec2.ISecurityGroup[];
  /** True when Strongbox created the VPC (and therefore also its S3 endpoint and flow logs). */
  public readonly created: boolean;

  public constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    const existing = props.existing;
    if (existing) {
      if (existing.subnetIds.length === 0 || existing.securityGroupIds.length === 0) {
        throw new ValidationError(
          `an existing network needs at least one subnet and one security group, got subnets ${JSON.stringify(existing.subnetIds)} and security groups ${JSON.stringify(existing.securityGroupIds)}`,
          this,
        );
      }
      this.created = false;
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: existing.vpcId, availabilityZones: existing.availabilityZones });
      // Subnets are passed as a list rather than through fromVpcAttributes, which insists on one subnet per AZ.
      this.taskSubnets = { subnets: existing.subnetIds.map((subnetId, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId)) };
      this.taskSecurityGroups = existing.securityGroupIds.map((sg, i) =>
        ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, sg, { mutable: false }),
      );
      return;
    }

    this.created = true;
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
      encryptionKey: props.flowLogKey,
    });
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        // Only the NAT gateway lives here, on its Elastic IP: nothing launched in them gets a public address.
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'tasks', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      // Dumps go to S3 through the gateway endpoint: no NAT data charge for terabytes of backups.
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      flowLogs: {
        all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup), trafficType: ec2.FlowLogTrafficType.ALL },
      },
      // Restricting the default security group needs a custom-resource Lambda; nothing here uses that group.
      restrictDefaultSecurityGroup: false,
    });
    acknowledgeRule(
      vpc,
      'VPCDefaultSecurityGroupClosed',
      ['nist', 'hipaa'],
      'Nothing uses the default security group (the tasks and the VPC functions have their own, with no inbound rules); closing it takes a custom-resource Lambda that would itself be a finding.',
    );
    acknowledgeRule(
      vpc,
      'VPCNoUnrestrictedRouteToIGW',
      ['nist', 'hipaa'],
      "The default route to the internet gateway is the public subnets' only, where just the NAT gateway lives; the task subnets route out through NAT and reach S3 through the gateway endpoint.",
    );
    acknowledgeRule(
      vpc,
      'IAMNoInlinePolicy',
      ['nist', 'hipaa'],
      "The flow log role's one statement (write to its log group) is CDK's inline policy on that role, deleted with it and attachable to nothing else.",
    );
    this.vpc = vpc;
    this.taskSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    const sg = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc,
      description: 'Strongbox dump and restore tasks: outbound to databases and S3 only, no inbound',
      allowAllOutbound: true,
    });
    this.taskSecurityGroups = [sg];
  }
}
