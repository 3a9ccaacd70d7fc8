import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../../contracts/plan';
import { Monitoring, type MonitoringProps } from '../../../infra/constructs/monitoring';
import { monitoringPlan } from './monitoring-plan';

function synth(overrides: Partial<MonitoringProps> = {}, pageOnImportant = false) {
  const stack = new Stack(new App({ autoSynth: false }), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const chatTopic = new sns.Topic(stack, 'Chat');
  const pagerTopic = new sns.Topic(stack, 'Pager');
  const watchdogFunction = new lambda.Function(stack, 'Watchdog', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({})'),
  });
  const monitoring = new Monitoring(stack, 'Monitoring', {
    plan: monitoringPlan(),
    topics: { chatTopic, pagerTopic, pageOnImportant },
    watchdogFunction,
    backupStateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:acme-backup',
    ...overrides,
  });
  const template = Template.fromStack(stack);
  const ref = (topic: sns.Topic) => ({ Ref: stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic) });
  const alarm = (name: string) => Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: name } }))[0];
  return { template, monitoring, alarm, chat: ref(chatTopic), pager: ref(pagerTopic) };
}

const query = (metric: string, tier: string) =>
  `SELECT MAX(${metric}) FROM SCHEMA("Strongbox", Database, Tier) WHERE Tier = '${tier}' GROUP BY Database ORDER BY MAX() DESC`;

describe('Monitoring alarms', () => {
  it('creates one breach alarm per tier, a drill-overdue alarm per tier with drills and the watchdog alarm, none per database', () => {
    // Prepare
    const { template, monitoring } = synth();
    // Act
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName);
    // Assess
    expect(names.sort()).toEqual([
      'acme-critical-breach',
      'acme-critical-drill-overdue',
      'acme-general-breach',
      'acme-important-breach',
      'acme-watchdog-failed',
    ]);
    expect(template.findResources('AWS::CloudWatch::CompositeAlarm')).toEqual({});
    expect(monitoring.allAlarms).toHaveLength(5);
  });

  it.each([
    ['critical', 'orders'],
    ['important', 'billing'],
    ['general', 'cache'],
  ])('alarms on DatabaseBreach of the %s tier, one contributor per database, held one hour, missing data not breaching', (tier) => {
    // Prepare
    const { template, chat } = synth();
    // Act / Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: `acme-${tier}-breach`,
      Metrics: [Match.objectLike({ Expression: query('DatabaseBreach', tier), Period: 300, ReturnData: true })],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 12,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: Match.arrayWith([chat]),
      OKActions: Match.arrayWith([chat]),
    });
  });

  it('alarms in chat, never the pager, when a drill is overdue, only for tiers with a drill schedule', () => {
    // Prepare
    const { template, chat, monitoring } = synth({}, true);
    // Act / Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'acme-critical-drill-overdue',
      Metrics: [Match.objectLike({ Expression: query('DrillOverdue', 'critical'), Period: 300, ReturnData: true })],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      AlarmActions: [chat],
      OKActions: [chat],
    });
    expect(monitoring.tiers.important?.drillOverdue).toBeUndefined();
    expect(monitoring.tiers.general?.drillOverdue).toBeUndefined();
  });

  it('pages and posts to chat when the watchdog fails or stops running (missing data breaching)', () => {
    // Prepare
    const { template, chat, pager } = synth();
    // Act / Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'acme-watchdog-failed',
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      TreatMissingData: 'breaching',
      AlarmActions: [chat, pager],
      OKActions: [chat, pager],
    });
  });

  it('takes the hold and watchdog interval from its props', () => {
    // Prepare
    const { template } = synth({ failureHold: Duration.hours(2), watchdogInterval: Duration.minutes(10) });
    // Act / Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'acme-general-breach',
      Metrics: [Match.objectLike({ Period: 600 })],
      EvaluationPeriods: 12,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'acme-watchdog-failed', Period: 600 });
  });

  it('alarms in chat on a failed or over-RTO rehearsal, one alarm per DR plan, keeping its state between rehearsals', () => {
    // Prepare
    const withPlans: Plan = {
      ...monitoringPlan(),
      drPlans: {
        'region-loss': { groups: [['orders'], ['billing']], targets: {}, rtoSeconds: 3600 },
        'az-loss': { groups: [['orders']], targets: {} },
      },
    };

    // Act
    const { template, chat, monitoring, alarm } = synth({
      plan: withPlans,
      drPlanStateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:acme-dr-plan',
    });

    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'acme-dr-plan-region-loss-rehearsal',
      Namespace: 'Strongbox',
      MetricName: 'DrPlanRehearsalFailed',
      Dimensions: [{ Name: 'Plan', Value: 'region-loss' }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'ignore',
      AlarmActions: [chat],
      OKActions: [chat],
    });
    expect(Object.keys(monitoring.rehearsals).sort()).toEqual(['az-loss', 'region-loss']);
    expect(monitoring.allAlarms).toHaveLength(7);
    expect(alarm('acme-dr-plan-az-loss-rehearsal').Properties.AlarmDescription).toContain(
      'statemachines/view/arn:aws:states:eu-west-1:123456789012:stateMachine:acme-dr-plan',
    );
  });

  it('links the backup state machine in the alarm description', () => {
    // Prepare
    const { alarm } = synth();
    // Act
    const description = alarm('acme-critical-breach').Properties.AlarmDescription;
    // Assess
    expect(description).toContain(
      'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/statemachines/view/arn:aws:states:eu-west-1:123456789012:stateMachine:acme-backup',
    );
  });

  it.each([
    [{ watchdogInterval: Duration.seconds(90) }, 'watchdogInterval must be a whole number of minutes, got 1 minute 30 seconds'],
    [
      { failureHold: Duration.minutes(7) },
      'failureHold must be a multiple of watchdogInterval (5 minutes) of at most 3 hours (the Metrics Insights alarm lookback), got 7 minutes',
    ],
    [{ failureHold: Duration.hours(4) }, 'got 4 hours'],
    [{ failureHold: Duration.days(2) }, 'got 2 days'],
  ] satisfies [Partial<MonitoringProps>, string][])('rejects %o with a message showing the value', (props, message) => {
    // Prepare / Act
    const attempt = () => synth(props);
    // Assess
    expect(attempt).toThrow(message);
  });

  it('refuses a tier of more databases than one Metrics Insights alarm evaluates, naming the limit and the fix', () => {
    // Prepare
    const base = monitoringPlan();
    const plan: Plan = {
      ...base,
      databases: Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`db-${i}`, { ...base.databases.cache, name: `db-${i}` }])),
    };
    // Act
    const attempt = () => synth({ plan });
    // Assess
    expect(attempt).toThrow(
      'databases: 501 databases of tier "general"; one Metrics Insights alarm evaluates at most 500 time series, so the tier alarm would miss some: keep at most 500 databases per tier',
    );
  });
});

describe('Monitoring routing', () => {
  it('pages for the critical tier for ALARM and OK, and sends every alarm ALARM and OK to chat', () => {
    // Prepare
    const { template, chat, pager } = synth();
    // Act
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'acme-critical-breach',
      AlarmActions: [chat, pager],
      OKActions: [chat, pager],
    });
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toContainEqual(chat);
      expect(alarm.Properties.OKActions).toContainEqual(chat);
    }
  });

  it('does not page for the important tier unless pageOnImportant is set', () => {
    // Prepare
    const quiet = synth({}, false);
    const paging = synth({}, true);
    // Act
    const quietAlarm = quiet.alarm('acme-important-breach');
    // Assess
    expect(quietAlarm.Properties.AlarmActions).toEqual([quiet.chat]);
    expect(quietAlarm.Properties.OKActions).toEqual([quiet.chat]);
    paging.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'acme-important-breach',
      AlarmActions: [paging.chat, paging.pager],
      OKActions: [paging.chat, paging.pager],
    });
  });

  it('never pages for the general tier, even with pageOnImportant', () => {
    // Prepare
    const { alarm, chat } = synth({}, true);
    // Act
    const general = alarm('acme-general-breach');
    // Assess
    expect(general.Properties.AlarmActions).toEqual([chat]);
    expect(general.Properties.OKActions).toEqual([chat]);
  });

  it('adds log-chain-broken and an RPO lag alarm per archiving database, routed by its tier, only when one archives its log', () => {
    // Prepare
    const plan = monitoringPlan();
    const billing = plan.databases.billing;
    const withLogs: Plan = {
      ...plan,
      databases: { ...plan.databases, billing: { ...billing, logs: { kind: 'binlog', intervalSeconds: 300, windowDays: 7 } } },
    };

    // Act
    const archiving = synth({ plan: withLogs }, true);
    const without = synth();

    // Assess
    expect(without.monitoring.logArchive).toBeUndefined();
    expect(archiving.monitoring.allAlarms).toContain(archiving.monitoring.logArchive?.chainBroken);
    const chain = archiving.alarm('acme-log-chain-broken');
    expect(chain.Properties.Metrics[0].Expression).toBe(
      'SELECT MAX(LogChainBroken) FROM SCHEMA("Strongbox", Database, Engine) GROUP BY Database ORDER BY MAX() DESC',
    );
    expect(chain.Properties.Metrics[0].Period).toBe(300);
    expect(chain.Properties.AlarmActions).toEqual([archiving.chat, archiving.pager]);
    const lag = archiving.alarm('acme-billing-log-archive-lag');
    expect(lag.Properties).toMatchObject({
      MetricName: 'LogArchiveLagSeconds',
      Namespace: 'Strongbox',
      Dimensions: [
        { Name: 'Database', Value: 'billing' },
        { Name: 'Engine', Value: 'mariadb' },
      ],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: billing.rpoSeconds,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [archiving.chat, archiving.pager],
    });
    expect(Object.keys(archiving.monitoring.logArchive?.lag ?? {})).toEqual(['billing']);
  });

  it('adds a RetainedWalBytes alarm per PostgreSQL archiving database at its threshold, and none for binlog databases', () => {
    // Prepare
    const plan = monitoringPlan();
    const [pgName, pgDb] = Object.entries(plan.databases).find(([, db]) => db.engine === 'postgres') as [string, Plan['databases'][string]];
    const withLogs: Plan = {
      ...plan,
      databases: {
        ...plan.databases,
        [pgName]: { ...pgDb, logs: { kind: 'wal', intervalSeconds: 300, windowDays: 7, retainedWalAlarmBytes: 8 * 2 ** 30 } },
        billing: { ...plan.databases.billing, logs: { kind: 'binlog', intervalSeconds: 300, windowDays: 7 } },
      },
    };

    // Act
    const archiving = synth({ plan: withLogs }, true);

    // Assess
    expect(Object.keys(archiving.monitoring.logArchive?.retainedWal ?? {})).toEqual([pgName]);
    expect(archiving.alarm(`acme-${pgName}-retained-wal`).Properties).toMatchObject({
      MetricName: 'RetainedWalBytes',
      Namespace: 'Strongbox',
      Dimensions: [
        { Name: 'Database', Value: pgName },
        { Name: 'Engine', Value: 'postgres' },
      ],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 8 * 2 ** 30,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('gives each tier alarm exactly the databases of its tier as contributors, and no pager for a fleet that never pages', () => {
    // Prepare
    const base = monitoringPlan();
    const generalOnly: Plan = { ...base, databases: { cache: base.databases.cache } };
    // Act
    const { template, monitoring, alarm, chat } = synth({ plan: generalOnly }, true);
    // Assess
    expect(Object.keys(monitoring.tiers)).toEqual(['general']);
    const expression = alarm('acme-general-breach').Properties.Metrics[0].Expression as string;
    expect(expression).toContain("WHERE Tier = 'general' GROUP BY Database");
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'acme-watchdog-failed',
      AlarmActions: [chat],
      OKActions: [chat],
    });
  });
});

describe('Monitoring and cdk-nag', () => {
  it('has no unacknowledged AwsSolutions findings', () => {
    // Prepare
    const app = new App({ autoSynth: false });
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
    expect(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm')).not.toEqual({});
  });
});
