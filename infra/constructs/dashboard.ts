import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE } from '../../contracts/metrics';
import { restoreInputJsonSchema } from '../../contracts/payloads/restore';
import type { DatabasePlan, Plan } from '../../contracts/plan';
import { formatDuration } from '../config/tiers';
import { DEFAULT_WATCHDOG_INTERVAL, databaseMetric, stateMachineConsoleUrl } from './monitoring';
import { ValidationError } from './validation-error';

export interface DashboardProps {
  /** The deployment plan: one row of graphs per database, with its RPO and RTO as lines. */
  readonly plan: Plan;
  /**
   * Dashboard name.
   * @default `<app>-strongbox`
   */
  readonly dashboardName?: string;
  /**
   * Restore state machine ARN, linked from the text widget that explains the console input.
   * @default the text widget explains the input without a link
   */
  readonly restoreStateMachineArn?: string;
  /**
   * Alarms to show in an alarm-status widget, typically `Monitoring.allAlarms`.
   * @default no alarm-status widget
   */
  readonly alarms?: readonly cloudwatch.IAlarm[];
  /**
   * Period of the recovery-point age graphs; the watchdog's interval.
   * @default Duration.minutes(5)
   */
  readonly watchdogInterval?: Duration;
}

/** Databases shown one row each; a larger fleet gets the same graphs as Metrics Insights top lists. */
export const DASHBOARD_DATABASE_ROWS = 20;
/** CloudWatch's limit of alarms in one alarm-status widget. */
const ALARMS_PER_WIDGET = 100;
/** Entries in a fleet top list: the worst databases, which is what an on-call engineer looks for. */
const TOP_LIST = 25;

/**
 * One CloudWatch dashboard for the service levels: how to restore (text), alarm status, then per database its
 * recovery-point age against the RPO, drill results and measured RTO against the RTO, then fleet-wide backup
 * duration, size and replication lag.
 */
export class Dashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  public constructor(scope: Construct, id: string, props: DashboardProps) {
    super(scope, id);
    const databases = Object.values(props.plan.databases);
    if (databases.length === 0) {
      throw new ValidationError(`the plan of "${props.plan.app}" has no databases; add at least one to strongbox.config.yaml`, this);
    }
    const interval = props.watchdogInterval ?? DEFAULT_WATCHDOG_INTERVAL;

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? `${props.plan.app}-strongbox`,
      defaultInterval: Duration.days(7),
    });

    this.dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: this.restoreHelp(props, databases[0]), width: 24, height: 9 }));
    const alarms = props.alarms ?? [];
    for (let i = 0; i < alarms.length; i += ALARMS_PER_WIDGET) {
      const part = alarms.length > ALARMS_PER_WIDGET ? ` (${i + 1}-${Math.min(i + ALARMS_PER_WIDGET, alarms.length)})` : '';
      this.dashboard.addWidgets(
        new cloudwatch.AlarmStatusWidget({ title: `Alarms${part}`, alarms: alarms.slice(i, i + ALARMS_PER_WIDGET), width: 24, height: 4 }),
      );
    }
    const fleet = databases.length > DASHBOARD_DATABASE_ROWS;
    if (fleet) {
      this.dashboard.addWidgets(...this.fleetRow(interval));
    } else {
      for (const db of databases) {
        this.dashboard.addWidgets(...this.databaseRow(db, interval));
      }
    }
    // A graph of every database's metric grows the body with the fleet; past the row limit it is a top list.
    const everyDatabase = (metricName: string, statistic: string): cloudwatch.IMetric[] =>
      fleet
        ? [topList(metricName, statistic, Duration.hours(1))]
        : databases.map((db) => databaseMetric(db, metricName, { statistic, period: Duration.hours(1), label: db.name }));
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Backup duration (s)',
        left: everyDatabase(METRIC.backupDurationSeconds, cloudwatch.Stats.MAXIMUM),
        leftYAxis: { min: 0, showUnits: false },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Backup size (bytes, compressed)',
        left: everyDatabase(METRIC.backupBytes, cloudwatch.Stats.MAXIMUM),
        leftYAxis: { min: 0 },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Replication lag (s)',
        left: everyDatabase(METRIC.replicationLagSeconds, cloudwatch.Stats.MAXIMUM),
        leftYAxis: { min: 0, showUnits: false },
        width: 8,
      }),
    );
  }

  /** The per-database row's three graphs for a whole fleet: the databases furthest from their targets. */
  private fleetRow(interval: Duration): cloudwatch.IWidget[] {
    return [
      new cloudwatch.GraphWidget({
        title: `Recovery-point age (s), oldest ${TOP_LIST}`,
        left: [topList(METRIC.recoveryPointAgeSeconds, cloudwatch.Stats.MAXIMUM, interval)],
        leftYAxis: { min: 0, showUnits: false },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `Measured RTO in drills (s), slowest ${TOP_LIST}`,
        left: [topList(METRIC.measuredRtoSeconds, cloudwatch.Stats.MAXIMUM, Duration.days(1))],
        leftYAxis: { min: 0, showUnits: false },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `Drill passed (1) / failed (0), lowest ${TOP_LIST}`,
        left: [topList(METRIC.drillPassed, cloudwatch.Stats.MINIMUM, Duration.days(1), 'ASC')],
        leftYAxis: { min: 0, max: 1, showUnits: false },
        width: 8,
      }),
    ];
  }

  private databaseRow(db: DatabasePlan, interval: Duration): cloudwatch.IWidget[] {
    return [
      new cloudwatch.GraphWidget({
        title: `${db.name}: recovery-point age (s)`,
        left: [databaseMetric(db, METRIC.recoveryPointAgeSeconds, { statistic: cloudwatch.Stats.MAXIMUM, period: interval, label: 'age' })],
        leftAnnotations: [{ value: db.rpoSeconds, label: `RPO ${formatDuration(db.rpoSeconds)}`, color: cloudwatch.Color.RED }],
        // A database without a backup reports ten years; the clip keeps the RPO line readable.
        leftYAxis: { min: 0, max: db.rpoSeconds * 3, showUnits: false },
        period: interval,
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `${db.name}: measured RTO in drills (s)`,
        left: [
          databaseMetric(db, METRIC.measuredRtoSeconds, {
            statistic: cloudwatch.Stats.MAXIMUM,
            period: Duration.days(1),
            label: 'restore time',
          }),
        ],
        leftAnnotations: [{ value: db.rtoSeconds, label: `RTO ${formatDuration(db.rtoSeconds)}`, color: cloudwatch.Color.RED }],
        leftYAxis: { min: 0, showUnits: false },
        view: cloudwatch.GraphWidgetView.TIME_SERIES,
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `${db.name}: drill passed (1) / failed (0)`,
        left: [databaseMetric(db, METRIC.drillPassed, { statistic: cloudwatch.Stats.MINIMUM, period: Duration.days(1), label: 'drill' })],
        leftYAxis: { min: 0, max: 1, showUnits: false },
        width: 8,
      }),
    ];
  }

  /** The restore how-to, built from the restore input's own JSON Schema so it cannot drift from the contract. */
  private restoreHelp(props: DashboardProps, example: DatabasePlan): string {
    const schema = restoreInputJsonSchema() as { properties?: Record<string, { description?: string }>; required?: string[] };
    const required = new Set(schema.required ?? []);
    const fields = Object.entries(schema.properties ?? {})
      .map(([name, field]) => `* \`${name}\`${required.has(name) ? ' (required)' : ''}: ${field.description ?? ''}`)
      .join('\n');
    const link = props.restoreStateMachineArn
      ? `[Open the restore state machine](${stateMachineConsoleUrl(this, props.restoreStateMachineArn)}) and choose **Start execution** with an input such as:`
      : 'Start an execution of the restore state machine (Step Functions console) with an input such as:';
    const input = JSON.stringify({
      database: example.name,
      latest: true,
      target: { host: 'restore-target.internal', ...(example.connection.database ? { database: example.connection.database } : {}) },
      requestedBy: 'your name, INC-1234',
    });
    return [
      '## Restore a backup',
      link,
      '',
      `\`${input}\``,
      '',
      'Give exactly one recovery point: `backupId`, `pointInTime` or `"latest": true`. A bad input fails at the first state with the field and the fix; restoring onto the source needs `"overwrite": true` and `"confirm": "<database>"`.',
      '',
      fields,
    ].join('\n');
  }
}

/**
 * A Metrics Insights query over the whole fleet, one line per database, the worst first: the widget stays the
 * same size at any fleet size (a query returns at most 500 time series; the list keeps the first 25).
 */
function topList(metricName: string, statistic: string, period: Duration, order: 'ASC' | 'DESC' = 'DESC'): cloudwatch.MathExpression {
  const fn = statistic === cloudwatch.Stats.MINIMUM ? 'MIN' : statistic === cloudwatch.Stats.SUM ? 'SUM' : 'MAX';
  return new cloudwatch.MathExpression({
    expression: `SELECT ${fn}(${metricName}) FROM SCHEMA("${METRICS_NAMESPACE}", Database, Engine) GROUP BY Database ORDER BY ${fn}() ${order} LIMIT ${TOP_LIST}`,
    period,
    label: '',
  });
}
