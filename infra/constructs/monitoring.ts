import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE } from '../../contracts/metrics';
import type { DatabasePlan, Plan } from '../../contracts/plan';
import { formatDuration } from '../config/tiers';

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
      throw new Error(`Monitoring: sizeDropPercent must be above 0 and at most 100, got ${props.sizeDropPercent}`);
    }
    const intervalSeconds = interval.toSeconds();
    if (intervalSeconds < 60 || intervalSeconds % 60 !== 0) {
      throw new Error(`Monitoring: watchdogInterval must be a whole number of minutes, got ${interval.toHumanString()}`);
    }
    const holdSeconds = hold.toSeconds();
    if (holdSeconds % intervalSeconds !== 0 || holdSeconds > 86_400 || holdSeconds < intervalSeconds) {
      throw new Error(
        `Monitoring: failureHold must be a multiple of watchdogInterval (${interval.toHumanString()}) of at most one day, got ${hold.toHumanString()}`,
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

  private databaseAlarms(db: DatabasePlan, props: MonitoringProps, interval: Duration, holdPeriods: number): DatabaseAlarms {
    const scope = new Construct(this, db.name);
    const prefix = `${props.plan.app}-${db.name}`;
    const where = `${db.name} (${db.engine}, ${db.tier} tier)`;
    const links = (arn: string | undefined, what: string) => (arn ? ` ${what}: ${stateMachineConsoleUrl(this, arn)}` : '');
    const backupLink = links(props.backupStateMachineArn, 'Backup executions');
    const drillLink = links(props.drillStateMachineArn, 'Drill executions');
    const restoreLink = links(props.restoreStateMachineArn, 'Restore');
    const lagThreshold = props.replicationLagThreshold?.toSeconds() ?? db.rpoSeconds;

    // Event metrics arrive once per backup or drill. "1 of N" over the hold keeps an incident open across
    // consecutive failures and closes it after a quiet hold; the RPO alarm is what stays open while backups
    // keep failing.
    const eventAlarm = (
      id: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      comparisonOperator: cloudwatch.ComparisonOperator,
      description: string,
    ) =>
      new cloudwatch.Alarm(scope, id, {
        alarmName: `${prefix}-${id.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/^-/, '')}`,
        alarmDescription: description,
        metric,
        threshold,
        comparisonOperator,
        evaluationPeriods: holdPeriods,
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const sum = (name: string) => databaseMetric(db, name, { statistic: cloudwatch.Stats.SUM, period: interval });
    const max = (name: string) => databaseMetric(db, name, { statistic: cloudwatch.Stats.MAXIMUM, period: interval });

    const rpoBreach = new cloudwatch.Alarm(scope, 'Rpo', {
      alarmName: `${prefix}-rpo`,
      alarmDescription:
        `${where}: the newest verified backup is older than the RPO of ${formatDuration(db.rpoSeconds)}, or the watchdog stopped reporting. ` +
        `Data written since then would be lost.${backupLink}${restoreLink}`,
      metric: max(METRIC.recoveryPointAgeSeconds),
      threshold: db.rpoSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      // Two of three, so one late watchdog sample (missing = breaching) does not page on its own.
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    const bytes = databaseMetric(db, METRIC.latestVerifiedBytes, { statistic: cloudwatch.Stats.MAXIMUM, period: interval });
    // The watchdog re-emits the newest verified backup's size every interval, so consecutive points differ only
    // when a new backup is verified, and DIFF compares it with the one before whatever the backup schedule.
    const shrinkPercent = new cloudwatch.MathExpression({
      expression: '100 * (0 - DIFF(bytes)) / (bytes - DIFF(bytes))',
      usingMetrics: { bytes },
      period: interval,
      label: `${db.name} shrink vs previous verified backup (%)`,
    });

    const partial = {
      rpoBreach,
      backupFailed: eventAlarm(
        'BackupFailed',
        sum(METRIC.backupFailed),
        1,
        cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        `${where}: a backup failed. The failed execution's failure.json and the chat message carry the tool's stderr.${backupLink}`,
      ),
      verificationFailed: eventAlarm(
        'VerificationFailed',
        sum(METRIC.verificationFailed),
        1,
        cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        `${where}: a backup did not match its manifest (size or checksum) and does not count as a recovery point.${backupLink}`,
      ),
      replicationFailed: eventAlarm(
        'ReplicationFailed',
        sum(METRIC.replicationFailed),
        1,
        cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        `${where}: copying a backup to the replica region failed or its checksum differed there.${backupLink}`,
      ),
      replicationLag: eventAlarm(
        'ReplicationLag',
        max(METRIC.replicationLagSeconds),
        lagThreshold,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        `${where}: the replica-region copy lagged more than ${formatDuration(lagThreshold)} behind the backup.${backupLink}`,
      ),
      drillFailed: eventAlarm(
        'DrillFailed',
        databaseMetric(db, METRIC.drillPassed, { statistic: cloudwatch.Stats.MINIMUM, period: interval }),
        1,
        cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        `${where}: a restore drill failed: the restored data did not match the manifest's inventory, or the restore broke. See drill.json beside the backup.${drillLink}`,
      ),
      rtoAboveTarget: eventAlarm(
        'Rto',
        max(METRIC.measuredRtoSeconds),
        db.rtoSeconds,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        `${where}: a drill's measured restore time exceeded the RTO of ${formatDuration(db.rtoSeconds)}.${drillLink}`,
      ),
      sizeDrop: eventAlarm(
        'SizeDrop',
        shrinkPercent,
        this.sizeDropPercent,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        `${where}: the newest verified backup is more than ${this.sizeDropPercent}% smaller than the one before. An empty or truncated dump verifies against its own manifest, so check the inventory in manifest.json.${backupLink}`,
      ),
    };

    const chat = new actions.SnsAction(props.topics.chatTopic);
    for (const alarm of Object.values(partial)) {
      alarm.addAlarmAction(chat);
      alarm.addOkAction(chat);
    }

    // Built after the composite's members are fixed: the composite pages, and an overdue drill should not.
    const drillOverdue =
      db.drillIntervalSeconds === undefined
        ? undefined
        : new cloudwatch.Alarm(scope, 'DrillOverdue', {
            alarmName: `${prefix}-drill-overdue`,
            alarmDescription: `${where}: no drill has completed for longer than the drill schedule allows (${formatDuration(db.drillIntervalSeconds)} between drills, plus the task timeout and an hour). Check the drill schedule and the drill executions.${drillLink}`,
            metric: max(METRIC.drillAgeSeconds),
            threshold: db.drillIntervalSeconds + db.taskTimeoutSeconds + 3600,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluationPeriods: 3,
            datapointsToAlarm: 2,
            treatMissingData: cloudwatch.TreatMissingData.BREACHING,
          });
    drillOverdue?.addAlarmAction(chat);
    drillOverdue?.addOkAction(chat);

    const any = new cloudwatch.CompositeAlarm(scope, 'Any', {
      compositeAlarmName: `${prefix}-any`,
      alarmDescription: `${where}: one or more Strongbox alarms are firing; the chat channel names which.${backupLink}${restoreLink}`,
      alarmRule: cloudwatch.AlarmRule.anyOf(
        ...Object.values(partial).map((a) => cloudwatch.AlarmRule.fromAlarm(a, cloudwatch.AlarmState.ALARM)),
      ),
    });
    if (db.tier === 'critical' || (db.tier === 'important' && props.topics.pageOnImportant)) {
      const pager = new actions.SnsAction(props.topics.pagerTopic);
      any.addAlarmAction(pager);
      any.addOkAction(pager);
    }
    return { ...partial, ...(drillOverdue && { drillOverdue }), any };
  }
}
