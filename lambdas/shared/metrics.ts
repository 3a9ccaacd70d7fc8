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
} as const;

/** Age reported for a database that has never had a verified backup: large, so the RPO alarm fires. */
export const NO_BACKUP_AGE_SECONDS = 10 * 365 * 24 * 3600;
