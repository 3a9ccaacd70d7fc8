import { CfnWaitConditionHandle, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../infra/app';
import { Network, type NetworkConfig } from '../../../infra/constructs/network';

const EXISTING: NetworkConfig = {
  vpcId: 'vpc-0abc12345def67890',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  subnetIds: ['subnet-0abc12345def67890', 'subnet-0abc12345def67891', 'subnet-0abc12345def67892'],
  securityGroupIds: ['sg-0abc12345def67890'],
};

function networkStack(existing?: NetworkConfig) {
  const app = createApp();
  const stack = new Stack(app, 'Test', { env: { region: 'eu-west-1' } });
  const network = new Network(stack, 'Network', { existing });
  return { app, stack, network };
}

describe('Network', () => {
  it('creates a VPC with private-with-egress subnets in two AZs behind one NAT gateway', () => {
    // Prepare
    const { stack, network } = networkStack();

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.resourceCountIs('AWS::EC2::Subnet', 4);
    const privateSubnets = stack.resolve(network.vpc.selectSubnets(network.taskSubnets).subnetIds);
    expect(privateSubnets).toHaveLength(2);
    template.hasResourceProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false, CidrBlock: Match.stringLikeRegexp('/22$') });
    expect(network.created).toBe(true);
  });

  it('routes S3 traffic through a gateway endpoint on the task subnets', () => {
    // Prepare
    const { stack } = networkStack();

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.s3']] },
      RouteTableIds: Match.arrayWith([{ Ref: Match.stringLikeRegexp('tasksSubnet1RouteTable') }]),
    });
  });

  it('records all VPC traffic in flow logs kept for a year and retained', () => {
    // Prepare
    const { stack } = networkStack();

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
      LogGroupName: { Ref: Match.stringLikeRegexp('^NetworkFlowLogs') },
    });
    template.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 365 }, DeletionPolicy: 'Retain' });
  });

  it('gives the tasks a security group with no inbound rule', () => {
    // Prepare
    const { stack, network } = networkStack();

    // Act
    const template = Template.fromStack(stack);

    // Assess
    expect(network.taskSecurityGroups).toHaveLength(1);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupEgress: [{ CidrIp: '0.0.0.0/0', IpProtocol: '-1' }],
      SecurityGroupIngress: Match.absent(),
    });
  });

  it('imports an existing network from its ids, without lookups or new resources', () => {
    // Prepare
    const { app, stack, network } = networkStack(EXISTING);
    // CloudFormation refuses a template without resources (and synth warns about it), so one inert resource stands in.
    new CfnWaitConditionHandle(stack, 'Witness');

    // Act
    const template = Template.fromStack(stack);
    const assembly = app.synth();

    // Assess
    expect(Object.keys(template.toJSON().Resources ?? {})).toEqual(['Witness']);
    expect(assembly.manifest.missing ?? []).toEqual([]);
    expect(network.created).toBe(false);
    expect(network.vpc.vpcId).toBe('vpc-0abc12345def67890');
    expect(network.taskSubnets.subnets?.map((s) => s.subnetId)).toEqual(EXISTING.subnetIds);
    expect(network.taskSecurityGroups.map((sg) => sg.securityGroupId)).toEqual(EXISTING.securityGroupIds);
  });

  it('has no unacknowledged cdk-nag findings for a created VPC', () => {
    // Prepare
    const { app } = networkStack();

    // Act
    const report = new AwsSolutionsChecks(app).validateScope(app);

    // Assess
    expect(report.violations).toEqual([]);
  });
});
