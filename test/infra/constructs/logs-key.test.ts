import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../../infra/app';
import { LogsKey, logsKeyParameterName } from '../../../infra/constructs/logs-key';
import { fullFeaturedConfig } from '../full-featured-config';

describe('LogsKey', () => {
  let built: ReturnType<typeof buildApp>;
  let primary: Template;
  let keyId: string;
  beforeAll(() => {
    built = buildApp(fullFeaturedConfig(), { bundling: false });
    primary = Template.fromStack(built.primary);
    keyId = built.primary.getLogicalId(LogsKey.of(built.primary, 'strongbox').key.node.defaultChild as never);
  });

  it('is one rotating key whose policy lets only CloudWatch Logs of the region use it, for log groups of the account and region', () => {
    // Prepare
    const key = primary.findResources('AWS::KMS::Key')[keyId];

    // Act
    const statements = (key.Properties.KeyPolicy.Statement as { Sid?: string }[]).filter((s) => s.Sid !== undefined);

    // Assess
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
    expect(statements).toEqual([
      {
        Sid: 'AllowCloudWatchLogsOfThisAccountAndRegion',
        Effect: 'Allow',
        Principal: { Service: 'logs.eu-west-1.amazonaws.com' },
        Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        Resource: '*',
        Condition: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': {
              'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:eu-west-1:', { Ref: 'AWS::AccountId' }, ':log-group:*']],
            },
          },
        },
      },
    ]);
  });

  it('encrypts every log group of the primary stack (Lambda, Step Functions, flow logs) with the key', () => {
    // Prepare
    const groups = Object.entries(primary.findResources('AWS::Logs::LogGroup'));

    // Act
    const keys = new Set(groups.map(([, group]) => JSON.stringify(group.Properties.KmsKeyId)));

    // Assess: 15 functions, 5 state machines (backup, restore, drill, DR plan, log archive) and the flow logs.
    expect(groups.length).toBeGreaterThanOrEqual(21);
    expect([...keys]).toEqual([JSON.stringify({ 'Fn::GetAtt': [keyId, 'Arn'] })]);
    expect(groups.map(([id]) => id).some((id) => id.startsWith('NetworkFlowLogs'))).toBe(true);
    expect(groups.map(([id]) => id).some((id) => id.startsWith('BackupStateMachineLogs'))).toBe(true);
    expect(groups.map(([id]) => id).some((id) => id.startsWith('LogArchiveStateMachineLogs'))).toBe(true);
  });

  it('encrypts the dump task log groups of every shard through the SSM parameter, which the shard deploys after', () => {
    // Prepare
    const parameterId = built.primary.getLogicalId(LogsKey.of(built.primary, 'strongbox').parameter.node.defaultChild as never);

    // Act
    const shardGroups = built.primary.shards.map((shard) => Object.values(Template.fromStack(shard).findResources('AWS::Logs::LogGroup')));
    const shardResources = primary.findResources('AWS::CloudFormation::Stack');

    // Assess
    primary.hasResourceProperties('AWS::SSM::Parameter', {
      Name: logsKeyParameterName('strongbox'),
      Type: 'String',
      Value: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
    expect(shardGroups.map((groups) => groups.length)).toEqual([16, 5]);
    for (const group of shardGroups.flat()) {
      expect(group.Properties.KmsKeyId).toBe('{{resolve:ssm:/strongbox/strongbox/logs-key-arn}}');
    }
    for (const shard of Object.values(shardResources)) {
      expect(shard.DependsOn).toContain(parameterId);
    }
  });

  it('is made once per top-level stack, and found from inside its constructs', () => {
    // Prepare
    const stack = new Stack(new App({ autoSynth: false }), 'Test', { env: { account: '123456789012', region: 'eu-central-1' } });
    const group = new logs.LogGroup(stack, 'Group');

    // Act
    LogsKey.encrypt(group, 'acme');
    const again = LogsKey.of(group, 'acme');

    // Assess
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::KMS::Key', 1);
    expect(again).toBe(LogsKey.of(stack, 'acme'));
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StrongboxLogsKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'logs.eu-central-1.amazonaws.com' } })]) },
    });
  });
});
