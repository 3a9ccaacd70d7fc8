import { readFileSync } from 'node:fs';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { buildApp } from '../../../infra/app';
import { parseConfig } from '../../../infra/config/load';
import { EXISTING_NETWORK_AND_KEYS } from '../full-featured-config';

const EXAMPLE = readFileSync('strongbox.config.yaml', 'utf8');

function configWith(edits: [(string | number)[], unknown][] = []) {
  const doc = parseDocument(EXAMPLE);
  for (const [path, value] of edits) {
    doc.setIn(path, doc.createNode(value));
  }
  return parseConfig(doc.toString());
}

describe('PrimaryStack', () => {
  describe('asynchronous deliveries and concurrency', () => {
    const { primary } = buildApp(configWith(), { bundling: false });
    const template = Template.fromStack(primary);
    const queueId = Object.keys(template.findResources('AWS::SQS::Queue', { Properties: { QueueName: 'strongbox-schedules-dlq' } }))[0];
    const queueArn = { 'Fn::GetAtt': [queueId, 'Arn'] };
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    const byDescription = (start: string) => functions.filter((f) => String(f.Properties.Description).includes(start));

    it('gives the asynchronously invoked functions (watchdog, restore Notify) the app DLQ, and the Step Functions-only ones none', () => {
      // Prepare
      const asynchronous = [...byDescription('recovery-point age'), ...byDescription('Restore: audit record and chat')];

      // Act
      const synchronous = functions.filter((f) => !asynchronous.includes(f));

      // Assess
      expect(asynchronous).toHaveLength(2);
      for (const fn of asynchronous) {
        expect(fn.Properties.DeadLetterConfig).toEqual({ TargetArn: queueArn });
      }
      expect(synchronous.length).toBeGreaterThanOrEqual(11);
      expect(synchronous.filter((f) => f.Properties.DeadLetterConfig !== undefined)).toEqual([]);
      // The app's one queue: no second one was made for the watchdog, the restore or the alerts.
      template.resourceCountIs('AWS::SQS::Queue', 1);
    });

    it('sends what EventBridge rules and SNS subscriptions could not deliver to the app DLQ, which lets them write', () => {
      // Prepare
      const rules = Object.values(template.findResources('AWS::Events::Rule'));
      const subscriptions = Object.values(template.findResources('AWS::SNS::Subscription'));

      // Act
      const policies = JSON.stringify(template.findResources('AWS::SQS::QueuePolicy'));

      // Assess
      expect(rules).toHaveLength(2);
      for (const rule of rules) {
        expect(rule.Properties.Targets).toEqual([expect.objectContaining({ DeadLetterConfig: { Arn: queueArn } })]);
      }
      expect(subscriptions.map((s) => s.Properties.Protocol).sort()).toEqual(['email', 'https']);
      for (const subscription of subscriptions) {
        expect(subscription.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: queueArn });
      }
      expect(policies).toContain('events.amazonaws.com');
      expect(policies).toContain('sns.amazonaws.com');
    });

    it('reserves concurrency for the watchdog (1) and restore Notify (10) only', () => {
      // Prepare / Act
      const reserved = functions
        .filter((f) => f.Properties.ReservedConcurrentExecutions !== undefined)
        .map((f) => [String(f.Properties.Description).slice(0, 30), f.Properties.ReservedConcurrentExecutions]);

      // Assess
      expect(reserved.sort()).toEqual([
        ['Restore: audit record and chat', 10],
        ['Strongbox (strongbox): recover', 1],
      ]);
    });

    it('runs every function on the newest Node.js runtime aws-cdk-lib knows, which the Serverless pack compares against', () => {
      // Prepare
      const newest = lambda.Runtime.ALL.filter((r) => /^nodejs\d/.test(r.name))
        .map((r) => r.name)
        .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
        .pop();

      // Act
      const runtimes = new Set(functions.map((f) => f.Properties.Runtime));

      // Assess
      expect([...runtimes]).toEqual([newest]);
    });
  });

  it('runs ECS tasks in a cluster with Container Insights', () => {
    // Prepare
    const { primary } = buildApp(configWith(), { bundling: false });

    // Act
    const template = Template.fromStack(primary);

    // Assess
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterName: 'strongbox-tasks',
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it('holds the primary vault, the network and the alert topics in the primary region', () => {
    // Prepare
    const { primary } = buildApp(configWith(), { bundling: false });

    // Act
    const template = Template.fromStack(primary);

    // Assess
    expect(primary.region).toBe('eu-west-1');
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: { 'Fn::Join': ['', ['strongbox-vault-', { Ref: 'AWS::AccountId' }, '-eu-west-1']] },
      ObjectLockEnabled: true,
    });
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::SNS::Topic', 2);
    template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 1);
  });

  it('exposes what the workflow constructs need', () => {
    // Prepare
    const { primary } = buildApp(configWith(), { bundling: false });

    // Act
    const replicaBucket = primary.resolve(primary.replica.bucketName);

    // Assess
    expect(Object.keys(primary.plan.databases)).toEqual(['orders', 'billing', 'inventory', 'sessions']);
    expect(primary.plan.databases.orders.rpoSeconds).toBe(900);
    expect(replicaBucket).toEqual({ 'Fn::Join': ['', ['strongbox-vault-replica-', { Ref: 'AWS::AccountId' }, '-eu-central-1']] });
    expect(primary.replica.keyAliasName).toBe('alias/strongbox-vault-replica');
    expect(primary.vaultBucket).toBe(primary.vault.bucket);
    expect(primary.vaultKey).toBe(primary.vault.key);
    expect(primary.cluster.vpc).toBe(primary.vpc);
    expect(primary.taskSecurityGroups).toHaveLength(1);
    expect(primary.chatTopic).toBe(primary.alerts.chatTopic);
    expect(primary.pagerTopic).toBe(primary.alerts.pagerTopic);
  });

  it('uses the given network and imported keys without creating either', () => {
    // Prepare
    const config = configWith(EXISTING_NETWORK_AND_KEYS);

    // Act
    const { primary, replica } = buildApp(config, { bundling: false });

    // Assess
    const template = Template.fromStack(primary);
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    // The only key left besides the logs key (LogsKey, every stack has one) is the alert topics' own.
    const keys = Object.keys(template.findResources('AWS::KMS::Key')).filter((id) => !id.startsWith('StrongboxLogsKey'));
    expect(keys).toHaveLength(1);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: config.vault.kms.keyArn } }),
        ],
      },
    });
    template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    expect(primary.taskSecurityGroups.map((sg) => sg.securityGroupId)).toEqual(['sg-0abc12345def67890']);
    expect(primary.replica.keyArn).toBe(config.vault.kms.replicaKeyArn);
    Template.fromStack(replica).resourceCountIs('AWS::KMS::Key', 0);
  });

  it('wires a DR plan rehearsal: the schedule, the nested drill grant and the rehearsal alarm on the chat topic', () => {
    // Prepare
    const config = configWith([
      [
        ['drPlans'],
        [
          {
            name: 'region-loss',
            groups: [{ databases: ['sessions'] }],
            targets: { sessions: { host: 'sessions.dr.internal' } },
            rto: '1h',
            rehearsal: { expression: 'cron(0 4 ? * SUN *)' },
          },
        ],
      ],
    ]);

    // Act
    const { primary } = buildApp(config, { bundling: false });

    // Assess
    const template = Template.fromStack(primary);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: `${config.app.name}-rehearsal-region-loss`,
      ScheduleExpressionTimezone: 'UTC',
      Target: Match.objectLike({ Input: JSON.stringify({ plan: 'region-loss', rehearsal: true, requestedBy: 'rehearsal schedule' }) }),
    });
    const alarm = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: `${config.app.name}-dr-plan-region-loss-rehearsal` } }),
    );
    expect(alarm).toHaveLength(1);
    expect(alarm[0].Properties.MetricName).toBe('DrPlanRehearsalFailed');
    expect(JSON.stringify(alarm[0].Properties.AlarmActions)).toContain('Chat');
    const definition = JSON.stringify(
      Object.values(template.findResources('AWS::StepFunctions::StateMachine')).find((m) =>
        JSON.stringify(m.Properties.StateMachineName).includes('-dr-plan'),
      )?.Properties.DefinitionString,
    );
    expect(definition).toContain('RehearseDatabase');
    expect(definition).toMatch(/"Ref":"DrillStateMachine[0-9A-F]+"/);
  });
});
