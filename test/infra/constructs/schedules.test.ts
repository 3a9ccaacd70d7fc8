import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { buildDeploymentPlan } from '../../../infra/config/plan';
import { Schedules } from '../../../infra/constructs/schedules';
import { testConfig } from '../../lambdas/fixtures';

const plan = buildDeploymentPlan(testConfig());

function build(withDrill: boolean) {
  const stack = new Stack(new App({ autoSynth: false }), 'Test');
  const machine = (id: string) =>
    new sfn.StateMachine(stack, id, { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, `${id}Pass`)) });
  new Schedules(stack, 'Schedules', {
    plan,
    backupStateMachine: machine('Backup'),
    drillStateMachine: withDrill ? machine('Drill') : undefined,
  });
  return Template.fromStack(stack);
}

describe('Schedules', () => {
  const template = build(true);

  it('creates one group and one backup schedule per database with its time zone, window and input', () => {
    // Assess
    template.resourceCountIs('AWS::Scheduler::ScheduleGroup', 1);
    template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: 'sbx' });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'sbx-backup-billing',
      ScheduleExpression: 'cron(0 * * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: Match.objectLike({ Input: JSON.stringify({ database: 'billing', kind: 'full', trigger: 'schedule' }) }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'sbx-backup-cache',
      ScheduleExpressionTimezone: 'America/New_York',
      FlexibleTimeWindow: { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 30 },
    });
  });

  it('gives every target a retry policy and the encrypted DLQ', () => {
    // Prepare
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule'));
    const queues = template.findResources('AWS::SQS::Queue');

    // Assess: three backups and one drill (only orders has a drill schedule).
    expect(schedules).toHaveLength(4);
    const dlq = Object.keys(queues)[0];
    for (const schedule of schedules) {
      expect(schedule.Properties.Target.RetryPolicy).toEqual({ MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 });
      expect(schedule.Properties.Target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } });
    }
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  it('prepares drill schedules only when a drill state machine is given', () => {
    // Act
    const withoutDrill = build(false);

    // Assess
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'sbx-drill-orders',
      ScheduleExpression: 'cron(30 4 ? * SUN *)',
      Target: Match.objectLike({ Input: JSON.stringify({ database: 'orders', trigger: 'schedule' }) }),
    });
    withoutDrill.resourceCountIs('AWS::Scheduler::Schedule', 3);
  });

  it('starts the log-archive machine every logs interval, only for the databases that archive their log', () => {
    // Prepare
    const withLogs = (intervalSeconds: number) => ({
      ...plan,
      databases: {
        ...plan.databases,
        billing: { ...plan.databases.billing, logs: { kind: 'binlog' as const, intervalSeconds, windowDays: 7 } },
      },
    });
    const synth = (intervalSeconds: number) => {
      const stack = new Stack(new App(), 'Test');
      const machine = (id: string) =>
        new sfn.StateMachine(stack, id, { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, `${id}Pass`)) });
      const schedules = new Schedules(stack, 'Schedules', {
        plan: withLogs(intervalSeconds),
        backupStateMachine: machine('Backup'),
        logArchiveStateMachine: machine('LogArchive'),
      });
      return { schedules, template: Template.fromStack(stack) };
    };

    // Act
    const five = synth(300);
    const one = synth(60);

    // Assess
    expect(Object.keys(five.schedules.logArchiveSchedules)).toEqual(['billing']);
    five.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'sbx-logs-billing',
      ScheduleExpression: 'rate(5 minutes)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: Match.objectLike({ Input: JSON.stringify({ database: 'billing', trigger: 'schedule' }), RetryPolicy: Match.anyValue() }),
    });
    one.template.hasResourceProperties('AWS::Scheduler::Schedule', { Name: 'sbx-logs-billing', ScheduleExpression: 'rate(1 minute)' });
    expect(Object.keys(build(true).findResources('AWS::Scheduler::Schedule', { Properties: { Name: 'sbx-logs-billing' } }))).toEqual([]);
  });

  it('starts the base-backup machine on logs.baseBackup in its time zone, only for PostgreSQL databases with WAL archiving', () => {
    // Prepare
    const withBases = {
      ...plan,
      databases: {
        ...plan.databases,
        orders: { ...plan.databases.orders, logs: { kind: 'wal' as const, intervalSeconds: 300, windowDays: 7 } },
      },
      deployment: {
        ...plan.deployment,
        orders: { ...plan.deployment.orders, baseBackup: { expression: 'cron(0 2 ? * * *)', timezone: 'Europe/Berlin' } },
      },
    };
    const stack = new Stack(new App(), 'Test');
    const machine = (id: string) =>
      new sfn.StateMachine(stack, id, { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, `${id}Pass`)) });

    // Act
    const schedules = new Schedules(stack, 'Schedules', {
      plan: withBases,
      backupStateMachine: machine('Backup'),
      baseBackupStateMachine: machine('Bases'),
    });
    const synthesized = Template.fromStack(stack);

    // Assess
    expect(Object.keys(schedules.baseBackupSchedules)).toEqual(['orders']);
    synthesized.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'sbx-base-orders',
      ScheduleExpression: 'cron(0 2 ? * * *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: Match.objectLike({
        Input: JSON.stringify({ database: 'orders', trigger: 'schedule' }),
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: Match.anyValue(),
      }),
    });
    expect(Object.keys(build(true).findResources('AWS::Scheduler::Schedule', { Properties: { Name: 'sbx-base-orders' } }))).toEqual([]);
  });

  it('rejects a retry count Scheduler would refuse, showing the value', () => {
    // Act
    const act = () =>
      new Schedules(new Stack(new App({ autoSynth: false }), 'Bad'), 'S', {
        plan,
        backupStateMachine: sfn.StateMachine.fromStateMachineArn(new Stack(), 'M', 'arn:aws:states:eu-west-1:123456789012:stateMachine:m'),
        retryAttempts: 500,
      });

    // Assess
    expect(act).toThrow('Bad/S: retryAttempts must be a whole number 0-185 (Scheduler limit), got 500');
  });
});
