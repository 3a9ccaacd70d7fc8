import type { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * Metric names shared by the emitters (task, Lambdas, drill) and the alarms and dashboard that read them.
 * Every metric carries the dimensions `Database` and `Engine`.
 */
export const METRICS_NAMESPACE = 'Strongbox';
export const METRIC_DIMENSIONS = ['Database', 'Engine'] as const;

export const METRIC = {
  backupSucceeded: 'BackupSucceeded',
  backupFailed: 'BackupFailed',
  backupBytes: 'BackupBytes',
  backupDurationSeconds: 'BackupDurationSeconds',
  backupThroughputMBps: 'BackupThroughputMBps',
  compressionRatio: 'CompressionRatio',
  verificationFailed: 'VerificationFailed',
  replicationFailed: 'ReplicationFailed',
  replicationLagSeconds: 'ReplicationLagSeconds',
  drillPassed: 'DrillPassed',
  measuredRtoSeconds: 'MeasuredRTOSeconds',
  recoveryPointAgeSeconds: 'RecoveryPointAgeSeconds',
  /** Seconds since the newest completed drill, emitted by the watchdog for databases with a drill schedule. */
  drillAgeSeconds: 'DrillAgeSeconds',
  /**
   * Compressed bytes of the newest verified backup, re-emitted by the watchdog on every run. Sampled densely (one
   * point per watchdog run, not one per backup), so the size-drop alarm compares consecutive points with DIFF
   * whatever the backup schedule.
   */
  latestVerifiedBytes: 'LatestVerifiedBackupBytes',
  /**
   * 1 while a database breaks a promise that pages by tier (RPO, a failed backup, verification or replication,
   * replication lag above the RPO, a failed drill, a drill slower than the RTO, a size drop), else 0. Dimensions
   * exactly `Database` and `Tier`: one Metrics Insights alarm per tier groups it by Database.
   */
  databaseBreach: 'DatabaseBreach',
  /** 1 while no drill completed within the drill schedule plus the task timeout and an hour, else 0 (chat only). */
  drillOverdue: 'DrillOverdue',
  /**
   * Seconds between the end of an archiving run and the newest instant its segments (or a quiet listing) cover:
   * how much of the log a restore would lack right now. Emitted by every archive-logs run.
   */
  logArchiveLagSeconds: 'LogArchiveLagSeconds',
  /** 1 from the archiving run that found a binlog purged or replaced before it was archived, else 0. */
  logChainBroken: 'LogChainBroken',
  /**
   * DR plan rehearsals, emitted by the DR plan Report step with the one dimension `Plan` (not Database/Engine):
   * 1 when a rehearsal failed a database or took longer than drPlans[].rto, else 0; the rehearsal alarm reads it.
   */
  drPlanRehearsalFailed: 'DrPlanRehearsalFailed',
  /** 1 when a rehearsal that restored every database took longer than the plan RTO, else 0. */
  drPlanRtoBreached: 'DrPlanRtoBreached',
  /** The measured plan RTO of a rehearsal that restored every database: start to the last group's validation. */
  drPlanRehearsalSeconds: 'DrPlanRehearsalSeconds',
} as const;

/** The DR plan rehearsal metrics' one dimension. */
export const PLAN_DIMENSION = 'Plan';

/** The breach metrics' dimensions: the tier routes (WHERE Tier = ...), the database is the alarm contributor. */
export const BREACH_DIMENSIONS = ['Database', 'Tier'] as const;

/**
 * A verified backup smaller than the previous verified one by more than this percentage is a breach: it catches
 * an empty or truncated dump that still verifies (verification checks the artifact against its own manifest).
 */
export const SIZE_DROP_PERCENT = 50;

/** Age reported for a database that has never had a verified backup: large, so the RPO alarm fires. */
export const NO_BACKUP_AGE_SECONDS = 10 * 365 * 24 * 3600;

export interface DatabaseMetricTarget {
  readonly database: string;
  readonly engine: string;
}

export interface DatabaseMetricValue {
  readonly name: string;
  readonly unit: MetricUnit;
  readonly value: number;
}

type MetricUnit = Parameters<Metrics['addMetric']>[1];

export interface BreachTarget {
  readonly database: string;
  readonly tier: string;
}

/** The breach target of `database` in a plan, or undefined for a database the plan does not know. */
export function breachTarget(
  plan: { readonly databases: Readonly<Record<string, { readonly tier: string }>> } | undefined,
  database: string | undefined,
): BreachTarget | undefined {
  const tier = database ? plan?.databases[database]?.tier : undefined;
  return database && tier ? { database, tier } : undefined;
}

/**
 * Publishes breach flags (1 in breach, 0 fine) with exactly the dimensions `Database` and `Tier`, through
 * single-metric children for the same reason as {@link publishDatabaseMetrics}.
 */
export function publishBreach(
  metrics: Metrics,
  target: BreachTarget,
  inBreach: boolean,
  name: typeof METRIC.databaseBreach | typeof METRIC.drillOverdue = METRIC.databaseBreach,
): void {
  const single = metrics.singleMetric();
  single.clearDefaultDimensions();
  single.addDimension('Database', target.database);
  single.addDimension('Tier', target.tier);
  single.addMetric(name, 'Count', inBreach ? 1 : 0);
}

/** Publishes metrics with exactly the dimension `Plan`, for the same reason as {@link publishDatabaseMetrics}. */
export function publishPlanMetrics(metrics: Metrics, plan: string, values: readonly DatabaseMetricValue[]): void {
  for (const { name, unit, value } of values) {
    const single = metrics.singleMetric();
    single.clearDefaultDimensions();
    single.addDimension(PLAN_DIMENSION, plan);
    single.addMetric(name, unit, value);
  }
}

/**
 * Publishes metrics with exactly the dimensions `Database` and `Engine`. Powertools adds a `service` default
 * dimension to everything the shared instance emits, and a CloudWatch alarm only matches a metric whose
 * dimensions are exactly its own, so per-database metrics go out through a single-metric child whose default
 * dimensions are cleared. The shared instance itself is left untouched.
 */
export function publishDatabaseMetrics(metrics: Metrics, target: DatabaseMetricTarget, values: readonly DatabaseMetricValue[]): void {
  for (const { name, unit, value } of values) {
    const single = metrics.singleMetric();
    single.clearDefaultDimensions();
    single.addDimension('Database', target.database);
    single.addDimension('Engine', target.engine);
    single.addMetric(name, unit, value);
  }
}
