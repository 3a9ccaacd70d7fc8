import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE, PLAN_DIMENSION, SIZE_DROP_PERCENT } from '../../contracts/metrics';
import type { DatabasePlan, Plan } from '../../contracts/plan';
import { AWS_LIMITS, tierAlarmProblem } from '../config/limits';
import { ValidationError } from './validation-error';

/** How often the watchdog publishes the breach flags; the tier alarms use it as their period. */
export const DEFAULT_WATCHDOG_INTERVAL = Duration.minutes(5);

export const METRICS_INSIGHTS_SERIES_PER_QUERY = AWS_LIMITS.metricsInsightsSeriesPerQuery;
/** CloudWatch Metrics Insights alarms evaluate only the latest three hours of data. */
const METRICS_INSIGHTS_LOOKBACK_SECONDS = 3 * 3600;

export type Tier = DatabasePlan['tier'];
const TIERS: readonly Tier[] = ['critical', 'important', 'general'];

/** Where alarms go. `Alerts` (infra/constructs/alerts.ts) provides the topics; the flag is `alerts.pageOnImportant`. */
export interface AlarmTopics {
  readonly chatTopic: sns.ITopic;
  readonly pagerTopic: sns.ITopic;
  /** Page for important-tier databases too, not only critical ones. */
  readonly pageOnImportant: boolean;
}

export interface MonitoringProps {
  /** The deployment plan: its tiers decide which tier alarms exist, and their routing. */
  readonly plan: Plan;
  /** The chat and pager topics, and whether important-tier databases page. */
  readonly topics: AlarmTopics;
  /**
   * The watchdog function: an alarm pages when it fails or stops running, because every breach flag of an RPO
   * or an overdue drill comes from it.
   * @default no watchdog alarm
   */
  readonly watchdogFunction?: lambda.IFunction;
  /**
   * How often the watchdog runs. Must match the `Watchdog` construct's `interval`: the tier alarms use it as
   * their period, and the watchdog alarm counts a period without an invocation as breaching.
   * @default Duration.minutes(5)
   */
  readonly watchdogInterval?: Duration;
  /**
   * How long a database stays in ALARM after its last breach flag of 1. Within this window repeated failures
   * are one incident. A multiple of `watchdogInterval`, at most 3 hours (the Metrics Insights alarm lookback).
   * @default Duration.hours(1)
   */
  readonly failureHold?: Duration;
  /**
   * Backup state machine ARN, for a console link in each alarm's description.
   * @default no link
   */
  readonly backupStateMachineArn?: string;
  /**
   * Drill state machine ARN, for a console link in the drill-overdue alarms' descriptions.
   * @default no link
   */
  readonly drillStateMachineArn?: string;
  /**
   * Restore state machine ARN, for a console link in the breach alarms' descriptions.
   * @default no link
   */
  readonly restoreStateMachineArn?: string;
  /**
   * DR plan state machine ARN, for a console link in the rehearsal alarms' descriptions.
   * @default no link
   */
  readonly drPlanStateMachineArn?: string;
}

/** The alarms of one tier. Each is one Metrics Insights alarm whose contributors are the tier's databases. */
export interface TierAlarms {
  /** DatabaseBreach of the tier: chat for ALARM and OK, and the pager where the tier pages. */
  readonly breach: cloudwatch.Alarm;
  /** DrillOverdue of the tier, chat only; only when one of its databases has a drill schedule. */
  readonly drillOverdue?: cloudwatch.Alarm;
}

/**
 * Fleet alerting: a few Metrics Insights alarms instead of nine alarms per database.
 *
 * Every promise of a database is reduced to one flag, `DatabaseBreach` (1 in breach, 0 fine; dimensions
 * `Database` and `Tier`), published where the finding is made:
 *
 * | finding                                         | published by              |
 * |-------------------------------------------------|---------------------------|
 * | newest verified backup older than the RPO       | watchdog, 0 or 1 each run |
 * | backup failed                                   | backup Notify (failure)   |
 * | verification failed; shrank > SIZE_DROP_PERCENT | Verify                    |
 * | replication failed; lag above the RPO           | Replicate                 |
 * | drill failed; restore slower than the RTO       | drill Report              |
 *
 * Per tier, `SELECT MAX(DatabaseBreach) FROM SCHEMA("Strongbox", Database, Tier) WHERE Tier = '<tier>' GROUP BY
 * Database` is one multi-time-series alarm: each database is a contributor with its own state, so one database's
 * burst of failures is one ALARM notification for that database, and its OK follows when it has shown no breach
 * for the failure hold ("1 of N" periods). The watchdog's 0 every run gives each contributor a data point in every
 * period, so a return to 0 resolves it. Chat receives ALARM and OK of every tier; the pager those of critical
 * (and important with `pageOnImportant`). `DrillOverdue` has its own tier alarms, chat only: a drill that did not
 * run is a broken process to fix in working hours, not a page; a drill that ran and failed is a breach, which does
 * page. A missing flag cannot breach (missing data is not breaching), so the watchdog alarm pages when the watchdog
 * fails or stops running.
 */
export class Monitoring extends Construct {
  /** The tier alarms, for the tiers the plan has. */
  public readonly tiers: Readonly<Partial<Record<Tier, TierAlarms>>>;
  /** Pages when the watchdog fails a run or stops running; only with `watchdogFunction`. */
  public readonly watchdogFailed?: cloudwatch.Alarm;
  /**
   * Only when a database archives its log: `<app>-log-chain-broken` (one Metrics Insights alarm, the contributor
   * names the database) and, per archiving database, `<app>-<db>-log-archive-lag` against its RPO: the lag
   * thresholds differ by database, which one Insights alarm cannot express, and archiving databases are few.
   */
  public readonly logArchive?: {
    readonly chainBroken: cloudwatch.Alarm;
    readonly lag: Readonly<Record<string, cloudwatch.Alarm>>;
    /** PostgreSQL only, per database: `<app>-<db>-retained-wal`, Strongbox's slot holds more WAL on the source than logs.retainedWalAlarmGiB. */
    readonly retainedWal: Readonly<Record<string, cloudwatch.Alarm>>;
  };
  /** One per DR plan: its last rehearsal failed a database or took longer than drPlans[].rto (chat). */
  public readonly rehearsals: Readonly<Record<string, cloudwatch.Alarm>>;

  public constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const interval = props.watchdogInterval ?? DEFAULT_WATCHDOG_INTERVAL;
    const hold = props.failureHold ?? Duration.hours(1);
    const intervalSeconds = interval.toSeconds();
    if (intervalSeconds < 60 || intervalSeconds % 60 !== 0) {
      throw new ValidationError(`watchdogInterval must be a whole number of minutes, got ${interval.toHumanString()}`, this);
    }
    const holdSeconds = hold.toSeconds();
    if (holdSeconds % intervalSeconds !== 0 || holdSeconds > METRICS_INSIGHTS_LOOKBACK_SECONDS || holdSeconds < intervalSeconds) {
      throw new ValidationError(
        `failureHold must be a multiple of watchdogInterval (${interval.toHumanString()}) of at most 3 hours (the Metrics Insights alarm lookback), got ${hold.toHumanString()}`,
        this,
      );
    }

    const databases = Object.values(props.plan.databases);
    const tiers: Partial<Record<Tier, TierAlarms>> = {};
    for (const tier of TIERS) {
      const members = databases.filter((db) => db.tier === tier);
      if (members.length === 0) {
        continue;
      }
      if (members.length > METRICS_INSIGHTS_SERIES_PER_QUERY) {
        throw new ValidationError(tierAlarmProblem(tier, members.length), this);
      }
      tiers[tier] = this.tierAlarms(tier, members, props, interval, holdSeconds / intervalSeconds);
    }
    this.tiers = tiers;
    this.rehearsals = Object.fromEntries(Object.keys(props.plan.drPlans ?? {}).map((name) => [name, this.rehearsalAlarm(name, props)]));
    if (props.watchdogFunction) {
      this.watchdogFailed = this.watchdogAlarm(props.watchdogFunction, props, interval);
    }
    const archiving = databases.filter((db) => db.logs);
    if (archiving.length > 0) {
      this.logArchive = this.logArchiveAlarms(archiving, props);
    }
  }

  private logArchiveAlarms(archiving: readonly DatabasePlan[], props: MonitoringProps): NonNullable<Monitoring['logArchive']> {
    const app = props.plan.app;
    const pages = (db: DatabasePlan) => db.tier === 'critical' || (db.tier === 'important' && props.topics.pageOnImportant);
    const route = (alarm: cloudwatch.Alarm, page: boolean) => {
      for (const topic of page ? [props.topics.chatTopic, props.topics.pagerTopic] : [props.topics.chatTopic]) {
        alarm.addAlarmAction(new actions.SnsAction(topic));
        alarm.addOkAction(new actions.SnsAction(topic));
      }
    };
    // A run emits LogChainBroken once per interval; the shortest interval is the period that sees every run.
    const period = Duration.seconds(Math.max(60, Math.min(...archiving.map((db) => db.logs?.intervalSeconds ?? 300))));
    const chainBroken = new cloudwatch.Alarm(this, 'LogChainBroken', {
      alarmName: `${app}-log-chain-broken`,
      alarmDescription:
        'Strongbox binlog chain broken (the contributor names the database): a binary log was purged or replaced before it was archived, so no restore can reach an instant in the gap. ' +
        'Raise the server binlog retention above a few archiving intervals, then take a full backup: restores to instants after it are possible again.',
      metric: new cloudwatch.MathExpression({
        expression: `SELECT MAX(${METRIC.logChainBroken}) FROM SCHEMA("${METRICS_NAMESPACE}", Database, Engine) GROUP BY Database ORDER BY MAX() DESC`,
        period,
        label: `${METRIC.logChainBroken} of the archiving databases`,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    route(chainBroken, archiving.some(pages));
    const lag: Record<string, cloudwatch.Alarm> = {};
    for (const db of archiving) {
      const interval = Duration.seconds(Math.max(60, db.logs?.intervalSeconds ?? 300));
      lag[db.name] = new cloudwatch.Alarm(this, `LogArchiveLag-${db.name}`, {
        alarmName: `${app}-${db.name}-log-archive-lag`,
        alarmDescription:
          db.logs?.mode === 'continuous'
            ? `Strongbox binlog streaming of ${db.name} lags more than its RPO (${db.rpoSeconds} s), or the log-archive service ${props.plan.app}-logs-${db.name} reported no flush for two of three minutes (its task is not running): a restore to now would lose more than the RPO. Check the service's events and its task log.`
            : `Strongbox binlog archiving of ${db.name} lags more than its RPO (${db.rpoSeconds} s), or no archiving run reported for two of three intervals: a restore to now would lose more than the RPO. Check the log-archive executions.`,
        metric: databaseMetric(db, METRIC.logArchiveLagSeconds, { statistic: cloudwatch.Stats.MAXIMUM, period: interval }),
        threshold: db.rpoSeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        // Two of three, so one run slowed by a Fargate placement does not post on its own; silence is lag too.
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      route(lag[db.name], pages(db));
    }
    const retainedWal: Record<string, cloudwatch.Alarm> = {};
    for (const db of archiving) {
      const threshold = db.logs?.retainedWalAlarmBytes;
      if (threshold === undefined) {
        continue;
      }
      retainedWal[db.name] = new cloudwatch.Alarm(this, `RetainedWal-${db.name}`, {
        alarmName: `${app}-${db.name}-retained-wal`,
        alarmDescription: `Strongbox's replication slot on ${db.name} holds more than ${threshold} bytes of WAL on the database's own disk: archiving is not draining it. Check the log-archive executions now; the server keeps WAL until then (or invalidates the slot at max_slot_wal_keep_size, which breaks the chain until the next base backup).`,
        metric: databaseMetric(db, METRIC.retainedWalBytes, {
          statistic: cloudwatch.Stats.MAXIMUM,
          period: Duration.seconds(Math.max(60, db.logs?.intervalSeconds ?? 300)),
        }),
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        // Silence is the lag alarm's: a run that does not report cannot say how much the slot holds.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      route(retainedWal[db.name], pages(db));
    }
    return { chainBroken, lag, retainedWal };
  }

  /** Every alarm, for an alarm-status widget: a handful, whatever the fleet size. */
  public get allAlarms(): cloudwatch.IAlarm[] {
    const perTier = Object.values(this.tiers).flatMap((t) => [t.breach, ...(t.drillOverdue ? [t.drillOverdue] : [])]);
    // The per-database lag alarms stay off the widget: it shows a handful, whatever the fleet size.
    const logs = this.logArchive ? [this.logArchive.chainBroken] : [];
    return [...perTier, ...(this.watchdogFailed ? [this.watchdogFailed] : []), ...Object.values(this.rehearsals), ...logs];
  }

  /**
   * A rehearsal publishes one DrPlanRehearsalFailed point per run, so missing data keeps the state (IGNORE): a
   * failed rehearsal stays in ALARM until a later one passes, rather than "resolving" when the period ends. Chat
   * only: a plan that no longer meets its RTO is work for the owning team, not a page; a database whose own drill
   * fails already pages by its tier.
   */
  private rehearsalAlarm(plan: string, props: MonitoringProps): cloudwatch.Alarm {
    const link = props.drPlanStateMachineArn ? ` DR plan executions: ${stateMachineConsoleUrl(this, props.drPlanStateMachineArn)}` : '';
    const alarm = new cloudwatch.Alarm(this, `Rehearsal-${plan}`, {
      alarmName: `${props.plan.app}-dr-plan-${plan}-rehearsal`,
      alarmDescription: `Strongbox DR plan "${plan}": its last rehearsal failed to restore a database into a throwaway engine, or took longer than the plan RTO (drPlans[].rto). The rehearsal's chat message and the execution's report say which group and database.${link}`,
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: METRIC.drPlanRehearsalFailed,
        dimensionsMap: { [PLAN_DIMENSION]: plan },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(5),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
    const chat = new actions.SnsAction(props.topics.chatTopic);
    alarm.addAlarmAction(chat);
    alarm.addOkAction(chat);
    return alarm;
  }

  private tierAlarms(
    tier: Tier,
    members: readonly DatabasePlan[],
    props: MonitoringProps,
    interval: Duration,
    holdPeriods: number,
  ): TierAlarms {
    const app = props.plan.app;
    const link = (arn: string | undefined, what: string) => (arn ? ` ${what}: ${stateMachineConsoleUrl(this, arn)}` : '');
    const chat = new actions.SnsAction(props.topics.chatTopic);
    const breach = new cloudwatch.Alarm(this, `Breach-${tier}`, {
      alarmName: `${app}-${tier}-breach`,
      alarmDescription:
        `Strongbox ${tier}-tier database in breach (the contributor names it): its newest verified backup is older than its RPO, or a backup, ` +
        `verification, replication or drill failed, replication lagged beyond the RPO, a drill was slower than the RTO, or a verified backup shrank by more than ${SIZE_DROP_PERCENT}% against the previous one. ` +
        `The chat messages of Notify, Verify, Replicate and the drill Report, and the watchdog log, say which.${link(props.backupStateMachineArn, 'Backup executions')}${link(props.restoreStateMachineArn, 'Restore')}`,
      metric: tierQuery(METRIC.databaseBreach, tier, interval),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // "1 of N" over the hold: an incident stays open across consecutive failures and closes after a quiet hold.
      evaluationPeriods: holdPeriods,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    breach.addAlarmAction(chat);
    breach.addOkAction(chat);
    if (tier === 'critical' || (tier === 'important' && props.topics.pageOnImportant)) {
      const pager = new actions.SnsAction(props.topics.pagerTopic);
      breach.addAlarmAction(pager);
      breach.addOkAction(pager);
    }
    if (!members.some((db) => db.drillIntervalSeconds !== undefined)) {
      return { breach };
    }
    const drillOverdue = new cloudwatch.Alarm(this, `DrillOverdue-${tier}`, {
      alarmName: `${app}-${tier}-drill-overdue`,
      alarmDescription: `Strongbox ${tier}-tier database (the contributor names it): no drill has completed for longer than its drill schedule allows, plus the task timeout and an hour. Check the drill schedule and the drill executions.${link(props.drillStateMachineArn, 'Drill executions')}`,
      metric: tierQuery(METRIC.drillOverdue, tier, interval),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // Two of three, so one odd sample does not post on its own; the watchdog alarm covers missing samples.
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    drillOverdue.addAlarmAction(chat);
    drillOverdue.addOkAction(chat);
    return { breach, drillOverdue };
  }

  /** Errors, or no invocation at all (missing data is breaching): without the watchdog no RPO can alarm. */
  private watchdogAlarm(fn: lambda.IFunction, props: MonitoringProps, interval: Duration): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, 'WatchdogFailed', {
      alarmName: `${props.plan.app}-watchdog-failed`,
      alarmDescription: `The Strongbox watchdog failed or stopped running, so no RPO or drill-overdue breach can alarm. Its log names the unreadable pointers; check its schedule and permissions.`,
      metric: fn.metricErrors({ statistic: cloudwatch.Stats.SUM, period: interval }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // Two of three, so one late run does not page on its own.
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    const chat = new actions.SnsAction(props.topics.chatTopic);
    alarm.addAlarmAction(chat);
    alarm.addOkAction(chat);
    const paging = Object.values(props.plan.databases).some(
      (db) => db.tier === 'critical' || (db.tier === 'important' && props.topics.pageOnImportant),
    );
    if (paging) {
      const pager = new actions.SnsAction(props.topics.pagerTopic);
      alarm.addAlarmAction(pager);
      alarm.addOkAction(pager);
    }
    return alarm;
  }
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
 * One tier's flags, one time series per database (multi-time-series alarm). ORDER BY puts the breaching databases
 * first, as CloudWatch requires for a multi-time-series alarm.
 */
export function tierQuery(metricName: string, tier: Tier, period: Duration): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: `SELECT MAX(${metricName}) FROM SCHEMA("${METRICS_NAMESPACE}", Database, Tier) WHERE Tier = '${tier}' GROUP BY Database ORDER BY MAX() DESC`,
    period,
    label: `${metricName} of ${tier}-tier databases`,
  });
}
