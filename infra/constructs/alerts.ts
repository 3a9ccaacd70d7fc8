import { RemovalPolicy, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { StrongboxConfig } from '../config/schema';
import type { Tier } from '../config/tiers';
import { deadLetterQueue } from './dead-letter-queue';
import { ValidationError } from './validation-error';

export type AlertsConfig = StrongboxConfig['alerts'];

export interface AlertsProps {
  /** Application name (`app.name`); prefixes the topic and chat channel names. */
  readonly appName: string;
  /** The `alerts` section of the config. */
  readonly alerts: AlertsConfig;
  /**
   * Where SNS keeps a notification it could not deliver to an e-mail or pager subscription after its retries
   * (the app's queue, {@link scheduleGroupAndQueue}).
   * @default a queue of this construct's own
   */
  readonly deadLetterQueue?: sqs.IQueue;
}

/**
 * Where alarms and notifications go: a `chat` topic wired to AWS Chatbot (Slack or Microsoft Teams) and
 * e-mail, and a `pager` topic with an HTTPS subscription to PagerDuty or Opsgenie. Both topics are encrypted
 * with one customer-managed key that CloudWatch alarms and Chatbot may use.
 */
export class Alerts extends Construct {
  public readonly key: kms.Key;
  public readonly chatTopic: sns.Topic;
  public readonly pagerTopic: sns.Topic;
  /** The Chatbot channel's role; its only permissions are the read-only guardrail below. */
  public readonly chatbotRole?: iam.Role;
  private readonly pageOnImportant: boolean;

  public constructor(scope: Construct, id: string, props: AlertsProps) {
    super(scope, id);
    const { alerts, appName } = props;
    const chat = alerts.chat;
    if (chat && Boolean(chat.slack) === Boolean(chat.teams)) {
      throw new ValidationError(`alerts.chat needs exactly one of slack or teams, got ${JSON.stringify(Object.keys(chat))}`, this);
    }
    this.pageOnImportant = alerts.pageOnImportant;
    const account = Stack.of(this).account;

    this.key = new kms.Key(this, 'Key', {
      description: `Strongbox alert topics (${appName})`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the topics; SNS must decrypt to deliver to Chatbot's endpoint.
    for (const [sid, service] of [
      ['AllowCloudWatchAlarms', 'cloudwatch.amazonaws.com'],
      ['AllowChatbot', 'chatbot.amazonaws.com'],
    ] as const) {
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          principals: [new iam.ServicePrincipal(service)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': account } },
        }),
      );
    }

    this.chatTopic = new sns.Topic(this, 'Chat', {
      topicName: `${appName}-chat`,
      displayName: `Strongbox (${appName}) notifications`,
      masterKey: this.key,
      enforceSSL: true,
    });
    this.pagerTopic = new sns.Topic(this, 'Pager', {
      topicName: `${appName}-pager`,
      displayName: `Strongbox (${appName}) pages`,
      masterKey: this.key,
      enforceSSL: true,
    });

    if (chat) {
      this.chatbotRole = this.addChatbot(appName, chat);
    }

    const subscribed = alerts.pager !== undefined || alerts.email.length > 0;
    const dlq = subscribed ? (props.deadLetterQueue ?? deadLetterQueue(this, 'DeadLetterQueue')) : undefined;
    if (alerts.pager) {
      // The integration URL carries the routing key, so it stays in Secrets Manager: the template holds a
      // `{{resolve:secretsmanager:...}}` dynamic reference that CloudFormation resolves at deploy time.
      const endpoint = SecretValue.secretsManager(alerts.pager.endpointSecretArn).unsafeUnwrap();
      this.pagerTopic.addSubscription(
        new subscriptions.UrlSubscription(endpoint, { protocol: sns.SubscriptionProtocol.HTTPS, deadLetterQueue: dlq }),
      );
    }

    for (const address of alerts.email) {
      this.chatTopic.addSubscription(new subscriptions.EmailSubscription(address, { deadLetterQueue: dlq }));
    }
  }

  /**
   * The topics an alarm of a database tier goes to: critical pages and chats; important chats, and pages
   * when `alerts.pageOnImportant`; general only chats.
   */
  public topicsForTier(tier: Tier): sns.ITopic[] {
    switch (tier) {
      case 'critical':
        return [this.chatTopic, this.pagerTopic];
      case 'important':
        return this.pageOnImportant ? [this.chatTopic, this.pagerTopic] : [this.chatTopic];
      case 'general':
        return [this.chatTopic];
      default:
        throw new ValidationError(`topicsForTier: unknown tier ${JSON.stringify(tier)}; expected critical, important or general`, this);
    }
  }

  private addChatbot(appName: string, chat: NonNullable<AlertsConfig['chat']>): iam.Role {
    // Chatbot renders alarm notifications with this role; nobody should run commands from the channel, so the
    // guardrail (the ceiling for every channel member) is the same read-only alarm view.
    const guardrail = new iam.ManagedPolicy(this, 'ChatbotGuardrail', {
      description: 'Strongbox chat channel: read CloudWatch alarms and metric graphs only',
      statements: [
        new iam.PolicyStatement({
          actions: ['cloudwatch:DescribeAlarms', 'cloudwatch:GetMetricData', 'cloudwatch:GetMetricWidgetImage'],
          resources: ['*'],
        }),
      ],
    });
    Validations.of(guardrail).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:GetMetricData and GetMetricWidgetImage support no resource-level permissions; the actions are read-only alarm and graph views for the chat channel.',
    });
    const role = new iam.Role(this, 'ChatbotRole', {
      assumedBy: new iam.ServicePrincipal('chatbot.amazonaws.com'),
      description: 'AWS Chatbot channel role for Strongbox notifications (read-only)',
    });
    role.addManagedPolicy(guardrail);
    const name = `${appName}-alerts`;
    if (chat.slack) {
      new chatbot.SlackChannelConfiguration(this, 'Slack', {
        slackChannelConfigurationName: name,
        slackWorkspaceId: chat.slack.workspaceId,
        slackChannelId: chat.slack.channelId,
        notificationTopics: [this.chatTopic],
        role,
        guardrailPolicies: [guardrail],
        loggingLevel: chatbot.LoggingLevel.ERROR,
      });
    } else if (chat.teams) {
      new chatbot.CfnMicrosoftTeamsChannelConfiguration(this, 'Teams', {
        configurationName: name,
        iamRoleArn: role.roleArn,
        teamId: chat.teams.teamId,
        teamsChannelId: teamsChannelId(chat.teams.channelId),
        teamsTenantId: chat.teams.tenantId,
        snsTopicArns: [this.chatTopic.topicArn],
        guardrailPolicies: [guardrail.managedPolicyArn],
        loggingLevel: 'ERROR',
      });
    }
    return role;
  }
}

/**
 * AWS Chatbot takes the Teams channel id URL-encoded, as it appears in the channel's link (`19%3A…%40thread.tacv2`);
 * CloudFormation rejects the decoded form Teams shows elsewhere (`19:…@thread.tacv2`). Both are accepted in the
 * config; only `:` and `@` are encoded, so an id given already encoded passes unchanged.
 */
export function teamsChannelId(channelId: string): string {
  return channelId.replaceAll(':', '%3A').replaceAll('@', '%40');
}
