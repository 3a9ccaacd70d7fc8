import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { Dashboard, type DashboardProps } from '../../../infra/constructs/dashboard';
import { Monitoring } from '../../../infra/constructs/monitoring';
import { monitoringPlan } from './monitoring-plan';

interface Widget {
  type: string;
  width: number;
  properties: {
    title?: string;
    period?: number;
    markdown?: string;
    alarms?: string[];
    metrics?: unknown[][];
    annotations?: { horizontal?: { value: number; label: string }[] };
    yAxis?: { left?: { min?: number; max?: number } };
  };
}

const RESTORE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:acme-restore';

/** Synthesizes the dashboard and returns its widgets, with the ARN tokens of the test stack resolved to text. */
function widgets(overrides: Partial<DashboardProps> = {}, withAlarms = false) {
  const stack = new Stack(new App({ autoSynth: false }), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const plan = monitoringPlan();
  const alarms = withAlarms
    ? new Monitoring(stack, 'Monitoring', {
        plan,
        topics: { chatTopic: new sns.Topic(stack, 'Chat'), pagerTopic: new sns.Topic(stack, 'Pager'), pageOnImportant: false },
      }).allAlarms
    : undefined;
  new Dashboard(stack, 'Dashboard', { plan, restoreStateMachineArn: RESTORE_ARN, alarms, ...overrides });
  const template = Template.fromStack(stack);
  const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0];
  const body = dashboard.Properties.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : JSON.stringify(part).replace(/"/g, '\\"'))).join('');
  return { template, dashboard, widgets: (JSON.parse(text) as { widgets: Widget[] }).widgets };
}

const byTitle = (all: Widget[], title: string) => all.find((w) => w.properties.title === title);

describe('Dashboard', () => {
  it('is named after the app', () => {
    // Prepare / Act
    const { dashboard } = widgets();
    // Assess
    expect(dashboard.Properties.DashboardName).toBe('acme-strongbox');
  });

  it('plots each database its recovery-point age against its RPO line', () => {
    // Prepare / Act
    const { widgets: all } = widgets();
    // Assess
    for (const [name, engine, rpo, label] of [
      ['orders', 'postgres', 900, 'RPO 15m'],
      ['billing', 'mariadb', 3600, 'RPO 1h'],
      ['cache', 'redis', 86_400, 'RPO 1d'],
    ] as const) {
      const widget = byTitle(all, `${name}: recovery-point age (s)`);
      expect(widget?.properties.metrics).toEqual([
        ['Strongbox', 'RecoveryPointAgeSeconds', 'Database', name, 'Engine', engine, expect.objectContaining({ stat: 'Maximum' })],
      ]);
      expect(widget?.properties.annotations?.horizontal).toEqual([expect.objectContaining({ value: rpo, label })]);
      expect(widget?.properties.yAxis?.left).toMatchObject({ min: 0, max: rpo * 3 });
      expect(widget?.properties.period).toBe(300);
    }
  });

  it('shows drill results and measured RTO against each database its RTO target', () => {
    // Prepare / Act
    const { widgets: all } = widgets();
    // Assess
    const rto = byTitle(all, 'billing: measured RTO in drills (s)');
    expect(rto?.properties.metrics?.[0].slice(0, 6)).toEqual([
      'Strongbox',
      'MeasuredRTOSeconds',
      'Database',
      'billing',
      'Engine',
      'mariadb',
    ]);
    expect(rto?.properties.annotations?.horizontal).toEqual([expect.objectContaining({ value: 7200, label: 'RTO 2h' })]);
    const drill = byTitle(all, 'billing: drill passed (1) / failed (0)');
    expect(drill?.properties.metrics?.[0].slice(0, 6)).toEqual(['Strongbox', 'DrillPassed', 'Database', 'billing', 'Engine', 'mariadb']);
  });

  it.each([
    ['Backup duration (s)', 'BackupDurationSeconds'],
    ['Backup size (bytes, compressed)', 'BackupBytes'],
    ['Replication lag (s)', 'ReplicationLagSeconds'],
  ])('has a fleet-wide "%s" trend of %s for every database', (title, metric) => {
    // Prepare / Act
    const { widgets: all } = widgets();
    // Assess
    const widget = byTitle(all, title);
    expect(widget?.properties.metrics?.map((m) => [m[1], m[3]])).toEqual([
      [metric, 'orders'],
      [metric, 'billing'],
      [metric, 'cache'],
    ]);
  });

  it('explains the restore input and links the restore state machine in the console', () => {
    // Prepare / Act
    const { widgets: all } = widgets();
    // Assess
    const text = all.find((w) => w.type === 'text')?.properties.markdown ?? '';
    expect(text).toContain(`(https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/statemachines/view/${RESTORE_ARN})`);
    expect(text).toContain('"database":"orders","latest":true');
    for (const field of ['database', 'backupId', 'pointInTime', 'latest', 'target', 'include', 'overwrite', 'confirm', 'requestedBy']) {
      expect(text).toContain(`* \`${field}\``);
    }
    expect(text).toContain('* `target` (required)');
  });

  it('explains the restore input without a link when no restore state machine is given', () => {
    // Prepare / Act
    const { widgets: all } = widgets({ restoreStateMachineArn: undefined });
    // Assess
    const text = all.find((w) => w.type === 'text')?.properties.markdown ?? '';
    expect(text).toContain('Start an execution of the restore state machine');
    expect(text).not.toContain('console.aws.amazon.com');
  });

  it('shows the status of the given alarms, and no status widget without them', () => {
    // Prepare / Act
    const withAlarms = widgets({}, true);
    const without = widgets();
    // Assess
    const status = withAlarms.widgets.find((w) => w.type === 'alarm');
    // One breach alarm per tier, and the critical tier's drill-overdue alarm (orders has a drill).
    expect(status?.properties.alarms).toHaveLength(4);
    expect(without.widgets.find((w) => w.type === 'alarm')).toBeUndefined();
  });

  it('refuses a plan without databases', () => {
    // Prepare
    const plan = { ...monitoringPlan(), databases: {} };
    // Act
    const attempt = () => new Dashboard(new Stack(new App({ autoSynth: false }), 'Empty'), 'Dashboard', { plan });
    // Assess
    expect(attempt).toThrow('the plan of "acme" has no databases');
  });
});
