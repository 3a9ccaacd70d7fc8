import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE } from '../../contracts/metrics';
import type { DatabasePlan, Plan } from '../../contracts/plan';
import { formatDuration } from '../config/tiers';
import { ValidationError } from './validation-error';

/** How often the watchdog samples RecoveryPointAgeSeconds; the RPO and size-drop alarms use it as their period. */
export const DEFAULT_WATCHDOG_INTERVAL = Duration.minutes(5);

/** Where alarms go. `Alerts` (infra/constructs/alerts.ts) provides the topics; the flag is `alerts.pageOnImportant`. */
export interface AlarmTopics {
  readonly chatTopic: sns.ITopic;
  readonly pagerTopic: sns.ITopic;
  /** Page for important-tier databases too, not only critical ones. */
  readonly pageOnImportant: boolean;
}

export interface MonitoringProps {
  /** The deployment plan: one set of alarms per database, with its tier, RPO, RTO and engine. */
  readonly plan: Plan;
  /** The chat and pager topics, and whether important-tier databases page. */
  readonly topics: AlarmTopics;
  /**
   * A backup smaller than the previous verified one by more than this percentage alarms: it catches an empty
   * or truncated dump that still verifies (verification checks the artifact against its own manifest).
   * @default 50
   */
  readonly sizeDropPercent?: number;
  /**
   * How often the watchdog runs. Must match the `Watchdog` construct's `interval`, because the RPO alarm treats
   * a period without a sample as breaching.
   * @default Duration.minutes(5)
   */
  readonly watchdogInterval?: Duration;
  /**
   * How long an event alarm (a failed backup, verification, replication or drill, an RTO or size finding)
   * stays in ALARM after its last bad data point. Within this window repeated failures are one incident.
   * A multiple of `watchdogInterval`, at most one day.
   * @default Duration.hours(1)
   */
  readonly failureHold?: Duration;
  /**
   * Replication lag above which the replica copy counts as late, per database.
   * @default the database's RPO: a replica older than that cannot meet the RPO after a regional loss
   */
  readonly replicationLagThreshold?: Duration;
  /**
   * Backup state machine ARN, for a console link in each alarm's description.
   * @default no link
   */
  readonly backupStateMachineArn?: string;
  /**
   * Drill state machine ARN, for a console link in the drill and RTO alarms' descriptions.
   * @default no link
   */
  readonly drillStateMachineArn?: string;
  /**
   * Restore state machine ARN, for a console link in the RPO and composite alarms' descriptions.
   * @default no link
   */
  readonly restoreStateMachineArn?: string;
}

/** The alarms of one database. `any` is the composite the pager subscribes to. */
export interface DatabaseAlarms {
  readonly rpoBreach: cloudwatch.Alarm;
  readonly backupFailed: cloudwatch.Alarm;
  readonly verificationFailed: cloudwatch.Alarm;
  readonly replicationFailed: cloudwatch.Alarm;
  readonly replicationLag: cloudwatch.Alarm;
  readonly drillFailed: cloudwatch.Alarm;
  readonly rtoAboveTarget: cloudwatch.Alarm;
  readonly sizeDrop: cloudwatch.Alarm;
  /** Only for databases with a drill schedule; chat only, outside `any` (see below). */
  readonly drillOverdue?: cloudwatch.Alarm;
  readonly any: cloudwatch.CompositeAlarm;
}

/** A Strongbox metric of one database: namespace `Strongbox`, dimensions exactly `Database` and `Engine`. */
export function databaseMetric(db: Pick<DatabasePlan, 'name' | 'engine'>, metricName: string, options: cloudwatch.MetricOptions = {}) {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { Database: db.name, Engine: db.engine },
    ...options,
  });
}

/** The Step Functions console page of a state machine (its executions, and "Start execution"). */
export function stateMachineConsoleUrl(scope: Construct, stateMachineArn: string): string {
  const region = Stack.of(scope).region;
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/statemachines/view/${stateMachineArn}`;
}

/**
 * RPO and RTO as alarmed service levels, per database:
 *
 * | alarm              | metric (statistic)                   | fires when                                   | missing data |
 * |--------------------|--------------------------------------|----------------------------------------------|--------------|
 * | rpo                | RecoveryPointAgeSeconds (Maximum)    | > RPO in 2 of the last 3 watchdog periods    | breaching    |
 * | backup-failed      | BackupFailed (Sum)                   | >= 1 within the failure hold                 | not breaching|
 * | verification-failed| VerificationFailed (Sum)             | >= 1 within the failure hold                 | not breaching|
 * | replication-failed | ReplicationFailed (Sum)              | >= 1 within the failure hold                 | not breaching|
 * | replication-lag    | ReplicationLagSeconds (Maximum)      | > lag threshold within the failure hold      | not breaching|
 * | drill-failed       | DrillPassed (Minimum)                | < 1 within the failure hold                  | not breaching|
 * | rto                | MeasuredRTOSeconds (Maximum)         | > RTO within the failure hold                | not breaching|
 * | size-drop          | LatestVerifiedBackupBytes, math      | shrank > sizeDropPercent within the hold     | not breaching|
 * | drill-overdue      | DrillAgeSeconds (Maximum)            | > drill gap + task timeout + 1 h, 2 of 3     | breaching    |
 *
 * drill-overdue exists only for databases with a drill schedule. It goes to chat but not into the composite
 * alarm: a drill that did not run is a broken process to fix in working hours, not a page; a drill that ran
 * and failed is drill-failed, which does page.
 *
 * Routing: every alarm sends ALARM and OK to the chat topic, so the channel says which check failed and when it
 * recovered. The pager subscribes only to the database's composite alarm (any of the above), for ALARM and OK,
 * so one database's burst of failures is one page that resolves itself when all its alarms are OK again.
 */
export class Monitoring extends Construct {
  public readonly alarms: Readonly<Record<string, DatabaseAlarms>>;
  public readonly sizeDropPercent: number;

  public constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const interval = props.watchdogInterval ?? DEFAULT_WATCHDOG_INTERVAL;
    const hold = props.failureHold ?? Duration.hours(1);
    this.sizeDropPercent = props.sizeDropPercent ?? 50;

    if (!Number.isFinite(this.sizeDropPercent) || this.sizeDropPercent <= 0 || this.sizeDropPercent > 100) {
      throw new ValidationError(`sizeDropPercent must be above 0 and at most 100, got ${props.sizeDropPercent}`, this);
    }
    const intervalSeconds = interval.toSeconds();
    if (intervalSeconds < 60 || intervalSeconds % 60 !== 0) {
      throw new ValidationError(`watchdogInterval must be a whole number of minutes, got ${interval.toHumanString()}`, this);
    }
    const holdSeconds = hold.toSeconds();
    if (holdSeconds % intervalSeconds !== 0 || holdSeconds > 86_400 || holdSeconds < intervalSeconds) {
      throw new ValidationError(
        `failureHold must be a multiple of watchdogInterval (${interval.toHumanString()}) of at most one day, got ${hold.toHumanString()}`,
        this,
      );
    }

    const alarms: Record<string, DatabaseAlarms> = {};
    for (const db of Object.values(props.plan.databases)) {
      alarms[db.name] = this.databaseAlarms(db, props, interval, holdSeconds / intervalSeconds);
    }
    this.alarms = alarms;
  }

  /** Every alarm of every database, composites included, for an alarm-status widget. */
  public get allAlarms(): cloudwatch.IAlarm[] {
    return Object.values(this.alarms).flatMap((a) => Object.values(a) as cloudwatch.IAlarm[]);
  }

  /** One database's alarms: the service-level alarms, the chat routing, the drill-overdue alarm and the composite. */
  private databaseAlarms(db: DatabasePlan, props: MonitoringProps, interval: Duration, holdPeriods: number): DatabaseAlarms {
    const context = this.alarmContext(db, props, interval, holdPeriods);
    const members = { rpoBreach: this.rpoAlarm(context), ...this.eventAlarms(context) };
    const drillOverdue = this.drillOverdueAlarm(context);
    const chat = new actions.SnsAction(props.topics.chatTopic);
    for (const alarm of [...Object.values(members), ...(drillOverdue ? [drillOverdue] : [])]) {
      alarm.addAlarmAction(chat);
      alarm.addOkAction(chat);
    }
    const any = this.compositeAlarm(context, Object.values(members), props.topics);
    return { ...members, ...(drillOverdue && { drillOverdue }), any };
  }

  private alarmContext(db: DatabasePlan, props: MonitoringProps, interval: Duration, holdPeriods: number): AlarmContext {
    const links = (arn: string | undefined, what: string) => (arn ? ` ${what}: ${stateMachineConsoleUrl(this, arn)}` : '');
    return {
      db,
      scope: new Construct(this, db.name),
      prefix: `${props.plan.app}-${db.name}`,
      where: `${db.name} (${db.engine}, ${db.tier} tier)`,
      interval,
      holdPeriods,
      lagThreshold: props.replicationLagThreshold?.toSeconds() ?? db.rpoSeconds,
      links: {
        backup: links(props.backupStateMachineArn, 'Backup executions'),
        drill: links(props.drillStateMachineArn, 'Drill executions'),
        restore: links(props.restoreStateMachineArn, 'Restore'),
      },
    };
  }

  private rpoAlarm({ db, scope, prefix, where, interval, links }: AlarmContext): cloudwatch.Alarm {
    return new cloudwatch.Alarm(scope, 'Rpo', {
      alarmName: `${prefix}-rpo`,
      alarmDescription:
        `${where}: the newest verified backup is older than the RPO of ${formatDuration(db.rpoSeconds)}, or the watchdog stopped reporting. ` +
        `Data written since then would be lost.${links.backup}${links.restore}`,
      metric: databaseMetric(db, METRIC.recoveryPointAgeSeconds, { statistic: cloudwatch.Stats.MAXIMUM, period: interval }),
      threshold: db.rpoSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      // Two of three, so one late watchdog sample (missing = breaching) does not page on its own.
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }

  /**
   * Event metrics arrive once per backup or drill. "1 of N" over the hold keeps an incident open across
   * consecutive failures and closes it after a quiet hold; the RPO alarm is what stays open while backups keep
   * failing.
   */
  private eventAlarms(context: AlarmContext): Omit<DatabaseAlarms, 'rpoBreach' | 'drillOverdue' | 'any'> {
    const { db, scope, prefix, where, interval, holdPeriods, lagThreshold, links } = context;
    const metric = (name: string, statistic: string) => databaseMetric(db, name, { statistic, period: interval });
    const alarm = (id: string, spec: EventAlarmSpec) =>
      new cloudwatch.Alarm(scope, id, {
        alarmName: `${prefix}-${id.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/^-/, '')}`,
        alarmDescription: spec.description,
        metric: spec.metric,
        threshold: spec.threshold,
        comparisonOperator: spec.comparison,
        evaluationPeriods: holdPeriods,
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const atLeastOnce = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;
    const above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;
    return {
      backupFailed: alarm('BackupFailed', {
        metric: metric(METRIC.backupFailed, cloudwatch.Stats.SUM),
        threshold: 1,
        comparison: atLeastOnce,
        description: `${where}: a backup failed. The failed execution's failure.json and the chat message carry the tool's stderr.${links.backup}`,
      }),
      verificationFailed: alarm('VerificationFailed', {
        metric: metric(METRIC.verificationFailed, cloudwatch.Stats.SUM),
        threshold: 1,
        comparison: atLeastOnce,
        description: `${where}: a backup did not match its manifest (size or checksum) and does not count as a recovery point.${links.backup}`,
      }),
      replicationFailed: alarm('ReplicationFailed', {
        metric: metric(METRIC.replicationFailed, cloudwatch.Stats.SUM),
        threshold: 1,
        comparison: atLeastOnce,
        description: `${where}: copying a backup to the replica region failed or its checksum differed there.${links.backup}`,
      }),
      replicationLag: alarm('ReplicationLag', {
        metric: metric(METRIC.replicationLagSeconds, cloudwatch.Stats.MAXIMUM),
        threshold: lagThreshold,
        comparison: above,
        description: `${where}: the replica-region copy lagged more than ${formatDuration(lagThreshold)} behind the backup.${links.backup}`,
      }),
      drillFailed: alarm('DrillFailed', {
        metric: metric(METRIC.drillPassed, cloudwatch.Stats.MINIMUM),
        threshold: 1,
        comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        description: `${where}: a restore drill failed: the restored data did not match the manifest's inventory, or the restore broke. See drill.json beside the backup.${links.drill}`,
      }),
      rtoAboveTarget: alarm('Rto', {
        metric: metric(METRIC.measuredRtoSeconds, cloudwatch.Stats.MAXIMUM),
        threshold: db.rtoSeconds,
        comparison: above,
        description: `${where}: a drill's measured restore time exceeded the RTO of ${formatDuration(db.rtoSeconds)}.${links.drill}`,
      }),
      sizeDrop: alarm('SizeDrop', {
        metric: this.shrinkPercent(context),
        threshold: this.sizeDropPercent,
        comparison: above,
        description: `${where}: the newest verified backup is more than ${this.sizeDropPercent}% smaller than the one before. An empty or truncated dump verifies against its own manifest, so check the inventory in manifest.json.${links.backup}`,
      }),
    };
  }

  /**
   * The watchdog re-emits the newest verified backup's size every interval, so consecutive points differ only
   * when a new backup is verified, and DIFF compares it with the one before whatever the backup schedule.
   */
  private shrinkPercent({ db, interval }: AlarmContext): cloudwatch.MathExpression {
    const bytes = databaseMetric(db, METRIC.latestVerifiedBytes, { statistic: cloudwatch.Stats.MAXIMUM, period: interval });
    return new cloudwatch.MathExpression({
      expression: '100 * (0 - DIFF(bytes)) / (bytes - DIFF(bytes))',
      usingMetrics: { bytes },
      period: interval,
      label: `${db.name} shrink vs previous verified backup (%)`,
    });
  }

  /** Chat only, and outside the composite: an overdue drill should not page (see the class comment). */
  private drillOverdueAlarm({ db, scope, prefix, where, interval, links }: AlarmContext): cloudwatch.Alarm | undefined {
    if (db.drillIntervalSeconds === undefined) {
      return undefined;
    }
    return new cloudwatch.Alarm(scope, 'DrillOverdue', {
      alarmName: `${prefix}-drill-overdue`,
      alarmDescription: `${where}: no drill has completed for longer than the drill schedule allows (${formatDuration(db.drillIntervalSeconds)} between drills, plus the task timeout and an hour). Check the drill schedule and the drill executions.${links.drill}`,
      metric: databaseMetric(db, METRIC.drillAgeSeconds, { statistic: cloudwatch.Stats.MAXIMUM, period: interval }),
      threshold: db.drillIntervalSeconds + db.taskTimeoutSeconds + 3600,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }

  /** The database's `any` composite, which pages by tier for ALARM and OK: one page per incident, resolved by itself. */
  private compositeAlarm(
    { db, scope, prefix, where, links }: AlarmContext,
    members: readonly cloudwatch.IAlarm[],
    topics: AlarmTopics,
  ): cloudwatch.CompositeAlarm {
    const any = new cloudwatch.CompositeAlarm(scope, 'Any', {
      compositeAlarmName: `${prefix}-any`,
      alarmDescription: `${where}: one or more Strongbox alarms are firing; the chat channel names which.${links.backup}${links.restore}`,
      alarmRule: cloudwatch.AlarmRule.anyOf(...members.map((a) => cloudwatch.AlarmRule.fromAlarm(a, cloudwatch.AlarmState.ALARM))),
    });
    if (db.tier === 'critical' || (db.tier === 'important' && topics.pageOnImportant)) {
      const pager = new actions.SnsAction(topics.pagerTopic);
      any.addAlarmAction(pager);
      any.addOkAction(pager);
    }
    return any;
  }
}

/** What every alarm of one database is built from. */
interface AlarmContext {
  readonly db: DatabasePlan;
  /** The database's own scope, so alarm ids stay short and unique. */
  readonly scope: Construct;
  /** `<app>-<db>`, the alarm name prefix. */
  readonly prefix: string;
  /** `<db> (<engine>, <tier> tier)`, how each description starts. */
  readonly where: string;
  readonly interval: Duration;
  readonly holdPeriods: number;
  readonly lagThreshold: number;
  /** Console links appended to descriptions, or empty strings. */
  readonly links: { readonly backup: string; readonly drill: string; readonly restore: string };
}

interface EventAlarmSpec {
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly comparison: cloudwatch.ComparisonOperator;
  readonly description: string;
}
