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
} as const;

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
