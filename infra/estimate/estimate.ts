import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { longestGapSeconds, parseScheduleExpression } from '../config/schedule-expression';
import { DEFAULT_LOG_FLUSH_SECONDS, type StrongboxConfig } from '../config/schema';

/** One price of the dated price file, with the page it comes from. */
const PriceSchema = z.strictObject({ usd: z.number().nonnegative(), source: z.string().startsWith('https://') });
const AssumptionSchema = z.strictObject({ value: z.number().positive(), why: z.string() });

export const UnitPricesSchema = z.strictObject({
  date: z.iso.date(),
  region: z.string(),
  currency: z.literal('USD'),
  note: z.string(),
  prices: z.record(z.string(), PriceSchema),
  assumptions: z.record(z.string(), AssumptionSchema),
});
export type UnitPrices = z.infer<typeof UnitPricesSchema>;

export const UNIT_PRICES_FILE = join(__dirname, 'unit-prices.json');

export function loadUnitPrices(file = UNIT_PRICES_FILE): UnitPrices {
  return UnitPricesSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/** Engines AWS Backup can protect the managed way (RDS and Aurora snapshots); the others have no counterpart. */
const AWS_BACKUP_ENGINES = new Set(['postgres', 'mysql', 'mariadb']);
const SECONDS_PER_MONTH = 30.4 * 86_400;
const MIB_PER_GIB = 1024;
/** Vault keys of the primary and replica region, the alert topics' key, and the logs key (infra/constructs/logs-key.ts). */
export const CUSTOMER_MANAGED_KEYS = 4;

export interface DatabaseEstimate {
  readonly database: string;
  readonly engine: string;
  readonly tier: string;
  readonly sizeGiB: number;
  /** Where the size came from: the config, the vault, or the default assumption. */
  readonly sizeFrom: 'config' | 'vault' | 'assumption';
  readonly backupsPerMonth: number;
  readonly drillsPerMonth: number;
  /** Log archiving runs (a Fargate task each), with a `logs` block; 0 without, and 0 for logs.mode continuous. */
  readonly logArchivesPerMonth: number;
  /** PostgreSQL base backups (`logs.baseBackup`, a Fargate task each, verified and replicated); 0 without. */
  readonly basesPerMonth: number;
  /** logs.mode continuous: flushes of the always-running streamer per month (its task-hours are in usd.fargate). */
  readonly logFlushesPerMonth?: number;
  /** USD per month, by line. */
  readonly usd: {
    readonly alarms: number;
    readonly metrics: number;
    readonly schedules: number;
    readonly stepFunctions: number;
    readonly lambda: number;
    /** Verify reads every backup back; it grows with the size, so it is data plane, not control plane. */
    readonly verify: number;
    readonly kms: number;
    readonly fargate: number;
    readonly storageStandard: number;
    readonly storageGlacierInstant: number;
    readonly storageDeepArchive: number;
    readonly replicationTransfer: number;
    readonly requests: number;
    readonly total: number;
  };
  /** AWS Backup's list price for the same retention, where it supports the engine. */
  readonly awsBackupUsd?: number;
}

export interface FleetEstimate {
  readonly pricesDate: string;
  readonly region: string;
  readonly databases: readonly DatabaseEstimate[];
  /** Fleet-wide fixed costs (dashboard, KMS keys, watchdog and its alarm), in USD per month. */
  readonly fixedUsd: number;
  /** DR plans: each plan's rehearsal alarm, and its scheduled rehearsals' drills of every database of the plan, in USD per month. */
  readonly rehearsalUsd: number;
  readonly totalUsd: number;
  readonly perDatabaseUsd: number;
  /** Alarms per database-month, the fleet's watchdog alarm shared out: the figure the fleet issue bounds. */
  readonly alarmUsdPerDatabase: number;
  /** Alarms, metrics, schedules, Step Functions, Lambda (without Verify) and KMS, plus the fixed costs, per database-month. */
  readonly controlPlaneUsdPerDatabase: number;
  readonly assumptions: Readonly<Record<string, string>>;
}

/** Stored size of one full backup per database, when the vault has one (see `sizesFromVault`). */
export type KnownSizes = Readonly<Record<string, number>>;

function runsPerMonth(expression: string): number {
  return SECONDS_PER_MONTH / longestGapSeconds(parseScheduleExpression(expression));
}

/**
 * The monthly cost of each database and of the fleet, at the list prices of `prices`. Every quantity that is
 * not in the config is an assumption named in the price file, and the result lists the ones it used.
 */
export function estimateFleet(config: StrongboxConfig, prices: UnitPrices, sizes: KnownSizes = {}): FleetEstimate {
  const p = (name: string) => {
    const price = prices.prices[name];
    if (!price) {
      throw new Error(`unit-prices.json has no price "${name}"; expected one of ${Object.keys(prices.prices).join(', ')}`);
    }
    return price.usd;
  };
  const a = (name: string) => {
    const assumption = prices.assumptions[name];
    if (!assumption) {
      throw new Error(`unit-prices.json has no assumption "${name}"`);
    }
    return assumption.value;
  };

  const drillRunUsd = new Map<string, number>();
  const databases = config.databases.map((db): DatabaseEstimate => {
    const sizeFrom = db.estimate ? 'config' : sizes[db.name] !== undefined ? 'vault' : 'assumption';
    const sizeGiB = db.estimate?.sizeGiB ?? sizes[db.name] ?? a('defaultSizeGiB');
    const backups = runsPerMonth(db.schedule.expression);
    const drills = db.drill ? runsPerMonth(db.drill.expression) : 0;
    // Every interval starts one archiving run of the log-archive machine, whether or not the log moved.
    // logs.mode continuous: no runs; one service task all month, and a flush's requests every flushSeconds.
    const streaming = db.logs?.mode === 'continuous';
    const archives = db.logs && !streaming ? SECONDS_PER_MONTH / ((db.logs.intervalMinutes ?? 1) * 60) : 0;
    const flushes = db.logs && streaming ? SECONDS_PER_MONTH / (db.logs.flushSeconds ?? DEFAULT_LOG_FLUSH_SECONDS) : 0;
    const logGiBPerDay = db.logs ? (sizeGiB * a('logChangePercentPerDay')) / 100 : 0;
    // A base is priced like a full backup of the same size (pg_basebackup's tar through the same pipeline, its
    // Verify re-read and replica copy); bases stay windowDays plus the one before the window, in Standard.
    const bases = db.logs?.baseBackup ? runsPerMonth(db.logs.baseBackup.expression) : 0;
    const basesKept = db.logs && bases > 0 ? (bases / 30.4) * db.logs.windowDays + 1 : 0;

    // Its metrics analyzed by the tier alarms (infra/constructs/monitoring.ts): DatabaseBreach, and DrillOverdue
    // where a drill is scheduled. The alarms themselves are a handful per fleet and cost nothing beyond that.
    // With logs: its own lag alarm (a standard alarm, the threshold is its RPO) and a contributor to log-chain-broken.
    const logAlarms = db.logs ? p('alarmMetricMonth') + p('metricsInsightsAlarmMetricMonth') : 0;
    const alarms = (1 + (db.drill ? 1 : 0)) * p('metricsInsightsAlarmMetricMonth') + logAlarms;
    const metrics = (a('customMetricsPerDatabase') + (db.logs ? 2 : 0)) * p('customMetricMonth');
    const schedules = (backups + bases + drills + archives) * p('schedulerInvocation');
    const stepFunctions =
      ((backups + bases) * a('transitionsPerBackup') + drills * a('transitionsPerDrill') + archives * a('transitionsPerLogArchive')) *
      p('stepFunctionsTransition');
    const verifySeconds = (sizeGiB * MIB_PER_GIB) / a('verifyMiBps');
    // A log-archive run invokes Prepare and ReleaseLock: two short calls of the backup functions' size.
    const lambda =
      (backups + bases) * (a('lambdaGbSecondsPerBackup') * p('lambdaArmGbSecond') + 6 * p('lambdaRequest')) +
      archives * (a('lambdaGbSecondsPerLogArchive') * p('lambdaArmGbSecond') + 2 * p('lambdaRequest'));
    const verify = (backups + bases) * verifySeconds * p('lambdaArmGbSecond');
    const kms = ((backups + bases) * a('kmsRequestsPerBackup') + archives * a('kmsRequestsPerLogArchive')) * p('kmsRequest');

    // A run lasts the time to write the backup plus provisioning; a drill reads it back and restores it. An
    // archiving run is mostly provisioning: it reads one interval of log.
    const taskHours = (a('taskOverheadMinutes') * 60 + (sizeGiB * MIB_PER_GIB) / a('dumpMiBps')) / 3600;
    const archiveHours = (a('taskOverheadMinutes') * 60 + a('logArchiveRunSeconds')) / 3600;
    const vcpu = db.task.cpu / 1024;
    const memoryGb = db.task.memoryMiB / 1024;
    const ephemeralGb = Math.max(0, (db.engine === 'postgres' ? 100 : 21) - 20);
    const taskUsdPerHour = vcpu * p('fargateVcpuHour') + memoryGb * p('fargateGbHour') + ephemeralGb * p('fargateEphemeralGbHour');
    const streamHours = streaming ? SECONDS_PER_MONTH / 3600 : 0;
    const fargate = ((backups + bases + drills) * taskHours + archives * archiveHours + streamHours) * taskUsdPerHour;
    drillRunUsd.set(db.name, taskHours * taskUsdPerHour);

    // GFS: daily and weekly copies in Standard, monthly in Glacier IR, yearly in Deep Archive, in both regions;
    // every pruned backup stays noncurrent (Standard) for the undo window.
    const kept = db.retention;
    const noncurrent = Math.max(0, backups - kept.daily / 30.4) * (a('noncurrentDays') / 30.4);
    const regions = 2;
    // Segments stay windowDays in Standard, in both regions, compressed like the dumps.
    const logGiBStored = db.logs ? (logGiBPerDay * db.logs.windowDays) / a('compressionRatio') : 0;
    const storageStandard =
      ((kept.daily + kept.weekly + noncurrent + basesKept) * sizeGiB + logGiBStored) * p('s3StandardGbMonth') * regions;
    const storageGlacierInstant = kept.monthly * sizeGiB * p('s3GlacierInstantGbMonth') * regions;
    const storageDeepArchive = kept.yearly * sizeGiB * p('s3DeepArchiveGbMonth') * regions;
    const replicationTransfer = ((backups + bases) * sizeGiB + (30.4 * logGiBPerDay) / a('compressionRatio')) * p('interRegionTransferGb');
    // Multipart parts (at 8 MiB, larger for big dumps), records and the replica copy; per archiving run, the
    // listing, its segments' data and manifests, the cursor and the lock.
    const requests =
      ((backups + bases) * (Math.min(10_000, Math.ceil((sizeGiB * MIB_PER_GIB) / 8)) + 20) +
        (archives + flushes) * a('s3RequestsPerLogArchive')) *
      p('s3PutRequest');

    const usd = {
      alarms,
      metrics,
      schedules,
      stepFunctions,
      lambda,
      verify,
      kms,
      fargate,
      storageStandard,
      storageGlacierInstant,
      storageDeepArchive,
      replicationTransfer,
      requests,
    };
    const total = Object.values(usd).reduce((sum, v) => sum + v, 0);

    let awsBackupUsd: number | undefined;
    if (AWS_BACKUP_ENGINES.has(db.engine)) {
      // Incremental snapshots: one full copy plus the changed share per retained recovery point, in both regions.
      const points = kept.daily + kept.weekly + kept.monthly + kept.yearly;
      const snapshotGiB = sizeGiB * a('compressionRatio') * (1 + a('snapshotChangeRate') * Math.max(0, points - 1));
      awsBackupUsd =
        snapshotGiB * p('awsBackupRdsSnapshotGbMonth') * regions +
        Math.min(backups, 30.4) * sizeGiB * a('compressionRatio') * a('snapshotChangeRate') * p('awsBackupCrossRegionGb');
    }
    return {
      database: db.name,
      engine: db.engine,
      tier: db.tier,
      sizeGiB,
      sizeFrom,
      backupsPerMonth: backups,
      drillsPerMonth: drills,
      logArchivesPerMonth: archives,
      basesPerMonth: bases,
      ...(streaming && { logFlushesPerMonth: flushes }),
      usd: { ...usd, total },
      ...(awsBackupUsd !== undefined && { awsBackupUsd }),
    };
  });

  // The watchdog runs every 5 minutes for the whole fleet. Customer-managed keys: the two vault keys (one per
  // region), the alert topics' key and the logs key of every log group.
  const watchdog = (SECONDS_PER_MONTH / 300) * (1 * p('lambdaArmGbSecond') + p('lambdaRequest'));
  // The watchdog alarm (Lambda Errors of one function) is the one standard alarm of the fleet.
  const fleetAlarms = p('alarmMetricMonth');
  const fixedUsd = p('dashboardMonth') + CUSTOMER_MANAGED_KEYS * p('kmsKeyMonth') + watchdog + fleetAlarms;
  const rehearsalUsd = config.drPlans.reduce((total, plan) => total + planCost(plan, drillRunUsd, p), 0);
  const count = Math.max(1, databases.length);
  const sum = (pick: (d: DatabaseEstimate) => number) => databases.reduce((s, d) => s + pick(d), 0);
  const totalUsd = sum((d) => d.usd.total) + fixedUsd + rehearsalUsd;
  const controlPlane = sum((d) => d.usd.alarms + d.usd.metrics + d.usd.schedules + d.usd.stepFunctions + d.usd.lambda + d.usd.kms);
  const used = [
    'taskOverheadMinutes',
    'dumpMiBps',
    'verifyMiBps',
    'transitionsPerBackup',
    'transitionsPerDrill',
    'lambdaGbSecondsPerBackup',
    'kmsRequestsPerBackup',
    'customMetricsPerDatabase',
    'noncurrentDays',
    'compressionRatio',
    'snapshotChangeRate',
    ...(databases.some((d) => d.sizeFrom === 'assumption') ? ['defaultSizeGiB'] : []),
    ...(config.databases.some((d) => d.logs)
      ? [
          'logChangePercentPerDay',
          'logArchiveRunSeconds',
          'transitionsPerLogArchive',
          'lambdaGbSecondsPerLogArchive',
          'kmsRequestsPerLogArchive',
          's3RequestsPerLogArchive',
        ]
      : []),
  ];
  return {
    pricesDate: prices.date,
    region: prices.region,
    databases,
    fixedUsd,
    rehearsalUsd,
    totalUsd,
    perDatabaseUsd: totalUsd / count,
    alarmUsdPerDatabase: (sum((d) => d.usd.alarms) + fleetAlarms) / count,
    controlPlaneUsdPerDatabase: (controlPlane + fixedUsd) / count,
    assumptions: Object.fromEntries(used.map((name) => [name, `${prices.assumptions[name].value}: ${prices.assumptions[name].why}`])),
  };
}

/**
 * One plan: its rehearsal alarm (every plan has one, infra/constructs/monitoring.ts), and per scheduled rehearsal
 * one schedule run and a drill-sized Fargate task per database of the plan (each restores into a throwaway engine).
 */
function planCost(plan: StrongboxConfig['drPlans'][number], drillRunUsd: ReadonlyMap<string, number>, p: (name: string) => number): number {
  const runs = plan.rehearsal ? runsPerMonth(plan.rehearsal.expression) : 0;
  const perRun = plan.groups.flatMap((g) => g.databases).reduce((total, name) => total + (drillRunUsd.get(name) ?? 0), 0);
  return p('alarmMetricMonth') + runs * (p('schedulerInvocation') + perRun);
}
