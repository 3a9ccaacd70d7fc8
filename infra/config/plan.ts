import type { Plan } from '../../contracts/plan';
import { longestGapSeconds, parseScheduleExpression } from './schedule-expression';
import { DEFAULT_PORTS, type StrongboxConfig } from './schema';
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
          },
        ];
      }),
    ),
  };
}
