import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../infra/app';
import { Alerts, type AlertsConfig, teamsChannelId } from '../../../infra/constructs/alerts';

const PAGER_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sb/pagerduty-AbCdEf';

const SLACK: AlertsConfig = {
  chat: { slack: { workspaceId: 'T0123456789', channelId: 'C0123456789' } },
  pager: { provider: 'pagerduty', endpointSecretArn: PAGER_SECRET },
  email: ['dba@example.com', 'oncall@example.com'],
  pageOnImportant: false,
};

function alertsStack(alerts: AlertsConfig) {
  const app = createApp();
  const stack = new Stack(app, 'Test', { env: { region: 'eu-west-1' } });
  const construct = new Alerts(stack, 'Alerts', { appName: 'sb', alerts });
  return { app, stack, alerts: construct };
}

describe('Alerts', () => {
  it('creates chat and pager topics encrypted with a rotated key and TLS-only policies', () => {
    // Prepare
    const { stack } = alertsStack(SLACK);

    // Act
    const template = Template.fromStack(stack);

    // Assess
    for (const name of ['sb-chat', 'sb-pager']) {
      template.hasResourceProperties('AWS::SNS::Topic', {
        TopicName: name,
        KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlertsKey'), 'Arn'] },
      });
    }
    template.hasResource('AWS::KMS::Key', { Properties: { EnableKeyRotation: true }, DeletionPolicy: 'Retain' });
    const policies = template.findResources('AWS::SNS::TopicPolicy');
    expect(Object.keys(policies)).toHaveLength(2);
    for (const policy of Object.values(policies)) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('lets CloudWatch alarms and AWS Chatbot use the topic key, from this account only', () => {
    // Prepare
    const { stack } = alertsStack(SLACK);

    // Act
    const template = Template.fromStack(stack);

    // Assess
    for (const service of ['cloudwatch.amazonaws.com', 'chatbot.amazonaws.com']) {
      template.hasResourceProperties('AWS::KMS::Key', {
        KeyPolicy: {
          Statement: Match.arrayWith([
            {
              Sid: Match.anyValue(),
              Effect: 'Allow',
              Principal: { Service: service },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
              Resource: '*',
              Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
            },
          ]),
        },
      });
    }
  });

  it('subscribes the pager over HTTPS with the endpoint as a Secrets Manager dynamic reference, never plain text', () => {
    // Prepare
    const { stack } = alertsStack(SLACK);

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      TopicArn: { Ref: Match.stringLikeRegexp('^AlertsPager') },
      Endpoint: `{{resolve:secretsmanager:${PAGER_SECRET}:SecretString:::}}`,
    });
    expect(JSON.stringify(template.toJSON())).not.toMatch(/https:\/\/events\.pagerduty|https:\/\/api\.opsgenie/);
  });

  it('subscribes each configured e-mail address to the chat topic', () => {
    // Prepare
    const { stack } = alertsStack(SLACK);

    // Act
    const template = Template.fromStack(stack);

    // Assess
    for (const address of SLACK.email) {
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: address,
        TopicArn: { Ref: Match.stringLikeRegexp('^AlertsChat') },
      });
    }
    template.resourceCountIs('AWS::SNS::Subscription', 3);
  });

  it('configures a Slack channel on the chat topic with a read-only guardrail role', () => {
    // Prepare
    const { stack } = alertsStack(SLACK);

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      ConfigurationName: 'sb-alerts',
      SlackWorkspaceId: 'T0123456789',
      SlackChannelId: 'C0123456789',
      SnsTopicArns: [{ Ref: Match.stringLikeRegexp('^AlertsChat') }],
      IamRoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlertsChatbotRole'), 'Arn'] },
      GuardrailPolicies: [{ Ref: Match.stringLikeRegexp('^AlertsChatbotGuardrail') }],
      LoggingLevel: 'ERROR',
    });
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: ['cloudwatch:DescribeAlarms', 'cloudwatch:GetMetricData', 'cloudwatch:GetMetricWidgetImage'],
            Resource: '*',
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'chatbot.amazonaws.com' } })] },
      ManagedPolicyArns: [{ Ref: Match.stringLikeRegexp('^AlertsChatbotGuardrail') }],
    });
    template.resourceCountIs('AWS::IAM::Policy', 0);
  });

  it('configures a Microsoft Teams channel when teams is given', () => {
    // Prepare
    const teams = {
      teamId: '0a1b2c3d-0000-4000-8000-000000000001',
      channelId: '19:abc@thread.tacv2',
      tenantId: '0a1b2c3d-0000-4000-8000-000000000002',
    };

    // Act
    const { stack } = alertsStack({ ...SLACK, chat: { teams } });

    // Assess
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 0);
    template.hasResourceProperties('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', {
      ConfigurationName: 'sb-alerts',
      TeamId: teams.teamId,
      TeamsChannelId: '19%3Aabc%40thread.tacv2',
      TeamsTenantId: teams.tenantId,
      SnsTopicArns: [{ Ref: Match.stringLikeRegexp('^AlertsChat') }],
      GuardrailPolicies: [{ Ref: Match.stringLikeRegexp('^AlertsChatbotGuardrail') }],
    });
  });

  it('passes a Teams channel id given URL-encoded, as copied from its link, unchanged', () => {
    // Act
    const encoded = teamsChannelId('19%3Aabc%40thread.tacv2');
    const decoded = teamsChannelId('19:abc@thread.tacv2');

    // Assess
    expect(encoded).toBe('19%3Aabc%40thread.tacv2');
    expect(decoded).toBe(encoded);
  });

  it('creates no chat channel, pager subscription or e-mail when none is configured', () => {
    // Prepare
    const bare: AlertsConfig = { email: [], pageOnImportant: false };

    // Act
    const { stack } = alertsStack(bare);

    // Assess
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SNS::Topic', 2);
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 0);
    template.resourceCountIs('AWS::IAM::Role', 0);
  });

  it('routes by tier: critical pages, important pages only when asked, general chats', () => {
    // Prepare
    const quiet = alertsStack(SLACK).alerts;
    const loud = alertsStack({ ...SLACK, pageOnImportant: true }).alerts;

    // Act
    const routes = {
      critical: quiet.topicsForTier('critical'),
      important: quiet.topicsForTier('important'),
      importantPaged: loud.topicsForTier('important'),
      general: loud.topicsForTier('general'),
    };

    // Assess
    expect(routes.critical).toEqual([quiet.chatTopic, quiet.pagerTopic]);
    expect(routes.important).toEqual([quiet.chatTopic]);
    expect(routes.importantPaged).toEqual([loud.chatTopic, loud.pagerTopic]);
    expect(routes.general).toEqual([loud.chatTopic]);
    expect(() => quiet.topicsForTier('urgent' as never)).toThrow(
      'Alerts: topicsForTier: unknown tier "urgent"; expected critical, important or general',
    );
  });

  it('refuses a chat section with both Slack and Teams, naming what it got', () => {
    // Prepare
    const both = { ...SLACK, chat: { slack: SLACK.chat!.slack, teams: { teamId: 'a', channelId: 'b', tenantId: 'c' } } };

    // Act
    const build = () => alertsStack(both);

    // Assess
    expect(build).toThrow('Alerts: alerts.chat needs exactly one of slack or teams, got ["slack","teams"]');
  });

  it('has no unacknowledged cdk-nag findings', () => {
    // Prepare
    const { app } = alertsStack(SLACK);

    // Act
    const report = new AwsSolutionsChecks(app).validateScope(app);

    // Assess
    expect(report.violations).toEqual([]);
  });
});
