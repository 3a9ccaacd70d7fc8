import { LOG_KIND_BY_ENGINE } from '../../contracts/logs';
import type { Plan } from '../../contracts/plan';
import { DEFAULT_RETAINED_WAL_ALARM_GIB } from '../../contracts/wal';
import { longestGapSeconds, parseScheduleExpression } from './schedule-expression';
import { DEFAULT_PORTS, logsRpoSeconds, type StrongboxConfig } from './schema';
import { parseDuration, TIER_PRESETS } from './tiers';

export function taskFamily(app: string, database: string): string {
  return `${app}-${database}-dump`;
}

/** Resolves defaults and tier presets into the plan that runtime code reads. */
export function buildPlan(config: StrongboxConfig): Plan {
  return {
    app: config.app.name,
    objectLock: config.vault.objectLock,
    graceSeconds: config.vault.graceHours * 3600,
    databases: Object.fromEntries(
      config.databases.map((db) => [
        db.name,
        {
          name: db.name,
          engine: db.engine,
          tier: db.tier,
          rpoSeconds: (db.rpo && parseDuration(db.rpo)) || TIER_PRESETS[db.tier].rpoSeconds,
          rtoSeconds: (db.rto && parseDuration(db.rto)) || TIER_PRESETS[db.tier].rtoSeconds,
          timezone: db.schedule.timezone,
          blackouts: db.schedule.blackouts,
          retention: {
            daily: db.retention.daily,
            weekly: db.retention.weekly,
            monthly: db.retention.monthly,
            yearly: db.retention.yearly,
            legalHoldYearly: db.retention.complianceArchive === 'forever',
          },
          connection: {
            host: db.connection.host,
            port: db.connection.port ?? DEFAULT_PORTS[db.engine],
            database: db.connection.database,
            secretArn: db.connection.secretArn,
            tls: db.connection.tls,
          },
          taskFamily: taskFamily(config.app.name, db.name),
          taskTimeoutSeconds: db.task.timeoutMinutes * 60,
          compressionLevel: db.dump.compressionLevel,
          restoreJobs: db.dump.restoreJobs,
          redisMode: db.dump.redisMode,
          ...(db.drill && { drillIntervalSeconds: longestGapSeconds(parseScheduleExpression(db.drill.expression)) }),
          ...(db.logs && {
            logs: {
              kind: LOG_KIND_BY_ENGINE[db.engine] ?? 'binlog',
              // Continuous: whole minutes (retention and alarm periods count minutes); the flush itself travels apart.
              intervalSeconds: Math.ceil(logsRpoSeconds(db.logs) / 60) * 60,
              windowDays: db.logs.windowDays,
              ...(LOG_KIND_BY_ENGINE[db.engine] === 'wal' && {
                retainedWalAlarmBytes: Math.round((db.logs.retainedWalAlarmGiB ?? DEFAULT_RETAINED_WAL_ALARM_GIB) * 2 ** 30),
              }),
              ...(db.logs.mode === 'continuous' && { mode: 'continuous' as const, flushSeconds: logsRpoSeconds(db.logs) }),
            },
          }),
        },
      ]),
    ),
    drPlans: Object.fromEntries(
      config.drPlans.map((dr) => {
        const engineOf = (name: string) => config.databases.find((db) => db.name === name)?.engine ?? 'postgres';
        return [
          dr.name,
          {
            groups: dr.groups.map((group) => group.databases),
            targets: Object.fromEntries(
              Object.entries(dr.targets).map(([name, target]) => [name, { ...target, port: target.port ?? DEFAULT_PORTS[engineOf(name)] }]),
            ),
            ...(dr.rto && { rtoSeconds: parseDuration(dr.rto) }),
          },
        ];
      }),
    ),
  };
}

/**
 * What the infrastructure needs of one database beyond the runtime plan: the task size and the schedules.
 * The Lambdas never see it (their plan schema is strict), so it lives beside the plan, not in it.
 */
export interface DatabaseDeployment {
  readonly task: { readonly cpu: number; readonly memoryMiB: number };
  readonly schedule: { readonly expression: string; readonly timezone: string; readonly flexibleWindowMinutes: number };
  readonly drill?: { readonly expression: string; readonly timezone: string };
  /** PostgreSQL with logs: when the base-backup machine runs (`logs.baseBackup`). */
  readonly baseBackup?: { readonly expression: string; readonly timezone: string };
}

/** The plan every construct takes: the runtime plan plus, per database, what only the infrastructure reads. */
export interface DeploymentPlan extends Plan {
  readonly deployment: Readonly<Record<string, DatabaseDeployment>>;
  /**
   * Rehearsal schedules by DR plan name (drPlans[].rehearsal), for the plans that have one.
   * @default none
   */
  readonly rehearsals?: Readonly<Record<string, { readonly expression: string; readonly timezone: string }>>;
}

export function buildDeploymentPlan(config: StrongboxConfig): DeploymentPlan {
  return {
    ...buildPlan(config),
    deployment: Object.fromEntries(
      config.databases.map((db) => [
        db.name,
        {
          task: { cpu: db.task.cpu, memoryMiB: db.task.memoryMiB },
          schedule: {
            expression: db.schedule.expression,
            timezone: db.schedule.timezone,
            flexibleWindowMinutes: db.schedule.flexibleWindowMinutes,
          },
          ...(db.drill && { drill: { expression: db.drill.expression, timezone: db.drill.timezone } }),
          ...(db.logs?.baseBackup && { baseBackup: { expression: db.logs.baseBackup.expression, timezone: db.logs.baseBackup.timezone } }),
        },
      ]),
    ),
    rehearsals: Object.fromEntries(
      config.drPlans.flatMap((dr) =>
        dr.rehearsal ? [[dr.name, { expression: dr.rehearsal.expression, timezone: dr.rehearsal.timezone }]] : [],
      ),
    ),
  };
}

/** The plan as the Lambdas parse it: a DeploymentPlan without its infrastructure-only part. */
export function runtimePlan(plan: Plan): Plan {
  const { app, objectLock, graceSeconds, databases, drPlans } = plan;
  return drPlans === undefined ? { app, objectLock, graceSeconds, databases } : { app, objectLock, graceSeconds, databases, drPlans };
}
