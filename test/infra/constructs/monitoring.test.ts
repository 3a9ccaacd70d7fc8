import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { NO_BACKUP_AGE_SECONDS } from '../../../contracts/metrics';
import { Monitoring, type MonitoringProps } from '../../../infra/constructs/monitoring';
import { monitoringPlan } from './monitoring-plan';

function synth(overrides: Partial<MonitoringProps> = {}, pageOnImportant = false) {
  const stack = new Stack(new App(), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const chatTopic = new sns.Topic(stack, 'Chat');
  const pagerTopic = new sns.Topic(stack, 'Pager');
  const monitoring = new Monitoring(stack, 'Monitoring', {
    plan: monitoringPlan(),
    topics: { chatTopic, pagerTopic, pageOnImportant },
    backupStateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:acme-backup',
    ...overrides,
  });
  const template = Template.fromStack(stack);
  const ref = (topic: sns.Topic) => ({ Ref: stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic) });
  return { template, monitoring, chat: ref(chatTopic), pager: ref(pagerTopic) };
}

const dimensions = (database: string, engine: string) => [
  { Name: 'Database', Value: database },
  { Name: 'Engine', Value: engine },
];

describe('Monitoring alarms', () => {
  it('creates eight alarms and one composite per database, and a drill-overdue alarm where drills are scheduled', () => {
    // Prepare
    const { template } = synth();
    // Act
    const alarms = template.findResources('AWS::CloudWatch::Alarm');
    const composites = template.findResources('AWS::CloudWatch::CompositeAlarm');
    // Assess
    expect(Object.keys(alarms)).toHaveLength(25);
    expect(Object.keys(composites)).toHaveLength(3);
  });

  it('alarms in chat, never the pager, when no drill completed within the drill schedule plus the task timeout', () => {
    // Prepare
    const { template, chat, monitoring } = synth();
    // Act
    const composite = Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm')).find((c) =>
      String(c.Properties.AlarmName).startsWith('acme-orders'),
    );
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'acme-orders-drill-overdue',
      MetricName: 'DrillAgeSeconds',
      Dimensions: dimensions('orders', 'postgres'),
      Statistic: 'Maximum',
      // Weekly drills: 7 days, plus the 2 h task timeout, plus an hour.
      Threshold: 7 * 86_400 + 7200 + 3600,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      TreatMissingData: 'breaching',
      AlarmActions: [chat],
      OKActions: [chat],
    });
    expect(monitoring.alarms.billing.drillOverdue).toBeUndefined();
    expect(JSON.stringify(composite?.Properties.AlarmRule)).not.toContain('DrillOverdue');
  });

  it('alarms on recovery-point age above the tier RPO, with missing data as breaching', () => {
    // Prepare
    const { template, chat } = synth();
    // Act / Assess
    for (const [name, engine, rpo] of [
      ['orders', 'postgres', 900],
      ['billing', 'mariadb', 3600],
      ['cache', 'redis', 86_400],
    ] as const) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `acme-${name}-rpo`,
        Namespace: 'Strongbox',
        MetricName: 'RecoveryPointAgeSeconds',
        Dimensions: dimensions(name, engine),
        Statistic: 'Maximum',
        Period: 300,
        Threshold: rpo,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: 'breaching',
        AlarmActions: [chat],
        OKActions: [chat],
      });
    }
    expect(NO_BACKUP_AGE_SECONDS).toBeGreaterThan(86_400);
  });

  it.each([
    ['backup-failed', 'BackupFailed', 'Sum', 1, 'GreaterThanOrEqualToThreshold'],
    ['verification-failed', 'VerificationFailed', 'Sum', 1, 'GreaterThanOrEqualToThreshold'],
    ['replication-failed', 'ReplicationFailed', 'Sum', 1, 'GreaterThanOrEqualToThreshold'],
    ['replication-lag', 'ReplicationLagSeconds', 'Maximum', 900, 'GreaterThanThreshold'],
    ['drill-failed', 'DrillPassed', 'Minimum', 1, 'LessThanThreshold'],
    ['rto', 'MeasuredRTOSeconds', 'Maximum', 3600, 'GreaterThanThreshold'],
  ])(
    'alarms on %s from %s (%s) for the critical database, held one hour, missing data not breaching',
    (suffix, metric, statistic, threshold, operator) => {
      // Prepare
      const { template, chat } = synth();
      // Act / Assess
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `acme-orders-${suffix}`,
        Namespace: 'Strongbox',
        MetricName: metric,
        Dimensions: dimensions('orders', 'postgres'),
        Statistic: statistic,
        Period: 300,
        Threshold: threshold,
        ComparisonOperator: operator,
        EvaluationPeriods: 12,
        DatapointsToAlarm: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [chat],
        OKActions: [chat],
      });
    },
  );

  it('uses each database its own RPO as replication-lag threshold and its own RTO, overrides included', () => {
    // Prepare
    const { template } = synth();
    // Act / Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'acme-billing-rto', Threshold: 7200 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'acme-billing-replication-lag', Threshold: 3600 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'acme-cache-rto', Threshold: 86_400 });
  });

  it('alarms when the newest verified backup shrank by more than the default 50% against the previous one', () => {
    // Prepare
    const { template, chat } = synth();
    // Act / Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'acme-orders-size-drop',
      Threshold: 50,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 12,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [chat],
      OKActions: [chat],
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: '100 * (0 - DIFF(bytes)) / (bytes - DIFF(bytes))', ReturnData: true }),
        Match.objectLike({
          Id: 'bytes',
          ReturnData: false,
          MetricStat: {
            Metric: { Namespace: 'Strongbox', MetricName: 'LatestVerifiedBackupBytes', Dimensions: dimensions('orders', 'postgres') },
            Period: 300,
            Stat: 'Maximum',
          },
        }),
      ]),
    });
  });

  it('takes the size-drop percentage, hold and watchdog interval from its props', () => {
    // Prepare
    const { template } = synth({ sizeDropPercent: 30, failureHold: Duration.hours(6), watchdogInterval: Duration.minutes(10) });
    // Act / Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'acme-cache-size-drop', Threshold: 30, EvaluationPeriods: 36 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'acme-cache-backup-failed', Period: 600, EvaluationPeriods: 36 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'acme-cache-rpo', Period: 600 });
  });

  it('links the backup state machine in the alarm description', () => {
    // Prepare
    const { template } = synth();
    // Act
    const alarm = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: 'acme-orders-backup-failed' } }),
    )[0];
    // Assess
    expect(alarm.Properties.AlarmDescription).toContain(
      'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/statemachines/view/arn:aws:states:eu-west-1:123456789012:stateMachine:acme-backup',
    );
  });

  it.each([
    [{ sizeDropPercent: 0 }, 'sizeDropPercent must be above 0 and at most 100, got 0'],
    [{ sizeDropPercent: 150 }, 'got 150'],
    [{ watchdogInterval: Duration.seconds(90) }, 'watchdogInterval must be a whole number of minutes, got 1 minute 30 seconds'],
    [
      { failureHold: Duration.minutes(7) },
      'failureHold must be a multiple of watchdogInterval (5 minutes) of at most one day, got 7 minutes',
    ],
    [{ failureHold: Duration.days(2) }, 'got 2 days'],
  ] satisfies [Partial<MonitoringProps>, string][])('rejects %o with a message showing the value', (props, message) => {
    // Prepare / Act
    const attempt = () => synth(props);
    // Assess
    expect(attempt).toThrow(message);
  });
});

describe('Monitoring routing', () => {
  it('pages for a critical database through its composite alarm only, for ALARM and OK', () => {
    // Prepare
    const { template, chat, pager } = synth();
    // Act
    const individual = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
      AlarmName: 'acme-orders-any',
      AlarmActions: [pager],
      OKActions: [pager],
    });
    for (const alarm of individual) {
      expect(alarm.Properties.AlarmActions).toEqual([chat]);
      expect(alarm.Properties.OKActions).toEqual([chat]);
    }
  });

  it('does not page for an important database unless pageOnImportant is set', () => {
    // Prepare
    const quiet = synth({}, false);
    const paging = synth({}, true);
    // Act
    const quietComposite = Object.values(
      quiet.template.findResources('AWS::CloudWatch::CompositeAlarm', { Properties: { AlarmName: 'acme-billing-any' } }),
    )[0];
    // Assess
    expect(quietComposite.Properties.AlarmActions).toBeUndefined();
    expect(quietComposite.Properties.OKActions).toBeUndefined();
    paging.template.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
      AlarmName: 'acme-billing-any',
      AlarmActions: [paging.pager],
      OKActions: [paging.pager],
    });
  });

  it('never pages for a general database, even with pageOnImportant', () => {
    // Prepare
    const { template } = synth({}, true);
    // Act
    const composite = Object.values(
      template.findResources('AWS::CloudWatch::CompositeAlarm', { Properties: { AlarmName: 'acme-cache-any' } }),
    )[0];
    // Assess
    expect(composite.Properties.AlarmActions).toBeUndefined();
    expect(composite.Properties.OKActions).toBeUndefined();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'acme-cache-rpo', AlarmActions: [Match.anyValue()] });
  });

  it('builds each composite from all eight alarms of its own database', () => {
    // Prepare
    const { template, monitoring } = synth();
    // Act
    const composite = Object.values(
      template.findResources('AWS::CloudWatch::CompositeAlarm', { Properties: { AlarmName: 'acme-orders-any' } }),
    )[0];
    const rule = JSON.stringify(composite.Properties.AlarmRule);
    // Assess
    const stack = Stack.of(monitoring);
    const ordersAlarms = Object.entries(monitoring.alarms.orders).filter(([key]) => key !== 'any' && key !== 'drillOverdue');
    expect(ordersAlarms).toHaveLength(8);
    for (const [, alarm] of ordersAlarms) {
      expect(rule).toContain(stack.getLogicalId(alarm.node.defaultChild as never));
    }
    expect(rule).not.toContain(stack.getLogicalId(monitoring.alarms.billing.rpoBreach.node.defaultChild as never));
    expect(rule.match(/ALARM\(/g)).toHaveLength(8);
    expect(rule).toContain(' OR ');
  });
});

describe('Monitoring and cdk-nag', () => {
  it('has no unacknowledged AwsSolutions findings', () => {
    // Prepare
    const app = new App();
    const stack = new Stack(app, 'Nag', { env: { account: '123456789012', region: 'eu-west-1' } });
    const topic = (name: string) => sns.Topic.fromTopicArn(stack, name, `arn:aws:sns:eu-west-1:123456789012:acme-${name.toLowerCase()}`);
    new Monitoring(stack, 'Monitoring', {
      plan: monitoringPlan(),
      topics: { chatTopic: topic('Chat'), pagerTopic: topic('Pager'), pageOnImportant: true },
    });
    // Act
    const report = new AwsSolutionsChecks(app).validateScope(app);
    // Assess
    expect(report.violations).toEqual([]);
    expect(Template.fromStack(stack).findResources('AWS::CloudWatch::CompositeAlarm')).not.toEqual({});
  });
});
