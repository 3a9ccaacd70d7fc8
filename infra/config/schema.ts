import { z } from 'zod';
import { DATABASE_NAME, ENGINES, ENGINES_NEEDING_CREDENTIALS, REDIS_MODES, TLS_MODES } from '../../contracts/engines';
import { binlogServerNeeds, LOG_KIND_BY_ENGINE, MIN_LOG_INTERVAL_MINUTES } from '../../contracts/logs';
import { SECRET_ARN } from '../../contracts/payloads/restore';
import { DEFAULT_RETAINED_WAL_ALARM_GIB, WAL_SERVER_NEEDS } from '../../contracts/wal';
import { checkDrPlans, drPlansSchema } from './dr-plans';
import { isRdsEndpoint, REFUSED_ENGINES } from './engines';
import { longestGapSeconds, parseScheduleExpression, ScheduleExpressionError } from './schedule-expression';
import { formatDuration, parseDuration, TIER_PRESETS, TIERS } from './tiers';

/**
 * The one schema for `strongbox.config.yaml`. Everything that reads the config (the CDK app, `npm run
 * validate`, the JSON Schema export, the local runtime) goes through `StrongboxConfigSchema`.
 *
 * Messages are written as "what is expected", because the formatter prefixes each with the YAML path and
 * the value that was found.
 */

export { DEFAULT_PORTS, ENGINES, ENGINES_NEEDING_CREDENTIALS, type Engine } from '../../contracts/engines';
export { REFUSED_ENGINES } from './engines';

const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
const KMS_KEY_ARN =
  /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[a-f0-9-]{36}$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/mrk-[a-f0-9]{32}$/;
const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;
const WEEKDAYS = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const;

const region = z.string().regex(REGION, { error: 'expected an AWS region code such as "eu-west-1"' });
const secretArn = z.string().regex(SECRET_ARN, {
  error: 'expected a Secrets Manager ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>',
});
const kmsKeyArn = z.string().regex(KMS_KEY_ARN, {
  error: 'expected a KMS key ARN: arn:aws:kms:<region>:<12-digit account>:key/<key id>',
});
// The type error names the unit too: `rto: 7200` is the likeliest mistake, and "expected string" would not say what to write.
const duration = z
  .string({ error: 'expected a duration with its unit, such as "15m", "4h" or "1d"' })
  .refine((v) => parseDuration(v) !== undefined, {
    error: 'expected a duration such as "15m", "4h" or "1d"',
  });
const count = (what: string, fallback: number) =>
  z
    .number({ error: `expected a whole number of ${what} to keep (0 or more)` })
    .int({ error: `expected a whole number of ${what} to keep (0 or more)` })
    .min(0, { error: `expected 0 or more ${what} to keep; a negative count keeps nothing and is not allowed` })
    .default(fallback)
    .describe(`How many ${what} backups to keep (default ${fallback}).`);

export const ScheduleSchema = z
  .strictObject({
    expression: z.string().describe('EventBridge Scheduler expression: cron(m h dom mon dow year) or rate(n unit).'),
    timezone: z.string().default('UTC').describe('IANA time zone in which the expression and blackouts are read.'),
    flexibleWindowMinutes: z
      .number()
      .int()
      .min(0)
      .max(1440, { error: 'expected a flexible window of at most 1440 minutes (EventBridge Scheduler limit)' })
      .default(0)
      .describe('Scheduler flexible time window; 0 means OFF.'),
    blackouts: z
      .array(
        z.strictObject({
          start: z.string().regex(CLOCK, { error: 'expected a local time "HH:MM"' }),
          end: z.string().regex(CLOCK, { error: 'expected a local time "HH:MM"' }),
          days: z
            .array(z.enum(WEEKDAYS, { error: `expected one of ${WEEKDAYS.join(', ')}` }))
            .optional()
            .describe('Days on which the window applies (default every day).'),
        }),
      )
      .default([])
      .describe('Periods (local time, may wrap midnight) in which no backup may start: a run that starts inside one is skipped.'),
  })
  .describe('When the full backup runs.');

export const DrillScheduleSchema = z.strictObject(
  {
    expression: z.string().describe('EventBridge Scheduler expression for the restore drill.'),
    timezone: z.string().default('UTC'),
  },
  { error: 'expected a schedule object such as { expression: "cron(0 4 ? * SUN *)", timezone: "UTC" }' },
);

export const RetentionSchema = z
  .strictObject({
    daily: count('daily', 7),
    weekly: count('weekly', 4),
    monthly: count('monthly', 12),
    yearly: count('yearly', 7),
    complianceArchive: z
      .literal('forever', { error: 'expected "forever" (or leave the key out)' })
      .optional()
      .describe('"forever" places a legal hold on every yearly representative.'),
  })
  .describe('Grandfather-father-son retention.');

// --- logs.mode (scheduled runs, or the continuous streamer of tasks/src/commands/stream-logs.ts) ---
export const LOG_MODES = ['scheduled', 'continuous'] as const;
/** Bounds of logs.flushSeconds: below 5 s a flush is mostly its own fixed cost; above 300 s a scheduled run is as good and cheaper. */
export const MIN_LOG_FLUSH_SECONDS = 5;
export const MAX_LOG_FLUSH_SECONDS = 300;
export const DEFAULT_LOG_FLUSH_SECONDS = 30;

export const LogsSchema = z
  .strictObject({
    mode: z
      .enum(LOG_MODES, { error: `expected mode to be one of ${LOG_MODES.join(', ')}` })
      .optional()
      .describe(
        'Default scheduled. scheduled: a Fargate run every intervalMinutes (RPO >= 1 minute plus start-up). continuous: one long-running Fargate service per database that uploads the tail every flushSeconds (sub-minute RPO; mysql and mariadb).',
      ),
    intervalMinutes: z
      .number({ error: 'expected a whole number of minutes between archiving runs' })
      .int({ error: 'expected a whole number of minutes between archiving runs' })
      .min(MIN_LOG_INTERVAL_MINUTES, {
        error: `expected at least ${MIN_LOG_INTERVAL_MINUTES} minute between archiving runs (EventBridge Scheduler's smallest rate)`,
      })
      .max(1440, { error: 'expected at most 1440 minutes (a day) between archiving runs' })
      .optional()
      .describe(
        'Minutes between log archiving runs (mode scheduled, required there); the RPO check counts this instead of the full backup schedule.',
      ),
    flushSeconds: z
      .number({ error: 'expected a whole number of seconds between flushes of the binlog tail' })
      .int({ error: 'expected a whole number of seconds between flushes of the binlog tail' })
      .min(MIN_LOG_FLUSH_SECONDS, { error: `expected at least ${MIN_LOG_FLUSH_SECONDS} seconds between flushes of the binlog tail` })
      .max(MAX_LOG_FLUSH_SECONDS, {
        error: `expected at most ${MAX_LOG_FLUSH_SECONDS} seconds between flushes; for longer use mode scheduled with intervalMinutes, which costs no running service`,
      })
      .optional()
      .describe(
        `Seconds between uploads of the binlog tail (mode continuous only; default ${DEFAULT_LOG_FLUSH_SECONDS}); the RPO check counts this.`,
      ),
    windowDays: z
      .number({ error: 'expected a whole number of days in which any second can be restored' })
      .int({ error: 'expected a whole number of days in which any second can be restored' })
      .min(1, { error: 'expected a window of at least 1 day' })
      .max(3650, { error: 'expected a window of at most 3650 days' })
      .describe('Days back in which a restore can reach any second; segments are kept that long.'),
    baseBackup: z
      .strictObject(
        {
          expression: z.string().describe('EventBridge Scheduler expression for the base backup (pg_basebackup).'),
          timezone: z.string().default('UTC'),
        },
        { error: 'expected a schedule object such as { expression: "cron(0 2 ? * SUN *)", timezone: "UTC" }' },
      )
      .optional()
      .describe('postgres only, and required there: when pg_basebackup runs; WAL replays from the newest base before the instant.'),
    retainedWalAlarmGiB: z
      .number({ error: 'expected a number of GiB' })
      .positive({ error: 'expected more than 0 GiB' })
      .optional()
      .describe(
        `postgres only: alarm when Strongbox's slot holds more WAL than this on the server's disk (RetainedWalBytes); default ${DEFAULT_RETAINED_WAL_ALARM_GIB}. Set max_slot_wal_keep_size above it.`,
      ),
  })
  .superRefine((logs, ctx) => {
    if (logs.mode !== 'continuous' && logs.intervalMinutes === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['intervalMinutes'],
        message: 'expected a whole number of minutes between archiving runs (required with mode scheduled), e.g. 5',
      });
    }
    if (logs.mode !== 'continuous' && logs.flushSeconds !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['flushSeconds'],
        message:
          'expected no flushSeconds with mode scheduled: it sets the continuous streamer; add mode: continuous, or remove flushSeconds',
      });
    }
    if (logs.mode === 'continuous' && logs.intervalMinutes !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['intervalMinutes'],
        message:
          'expected no intervalMinutes with mode continuous: the service archives all the time and flushSeconds sets how often the tail goes up; remove intervalMinutes',
      });
    }
  })
  .describe(
    "Continuous log archiving: restore to any second of the last windowDays. mysql, mariadb (binlog): the server needs log_bin ON and binlog_format=ROW; on RDS/Aurora also CALL mysql.rds_set_configuration('binlog retention hours', N) with N at least three intervals in hours. postgres (base backups + WAL from a physical slot, not on RDS/Aurora): wal_level=replica, a REPLICATION role, free max_wal_senders/max_replication_slots, and max_slot_wal_keep_size advised.",
  );

/** How long a database's archived log may trail the server: the RPO check of the logs block (seconds). */
export function logsRpoSeconds(logs: {
  readonly mode?: string;
  readonly intervalMinutes?: number;
  readonly flushSeconds?: number;
}): number {
  return logs.mode === 'continuous'
    ? (logs.flushSeconds ?? DEFAULT_LOG_FLUSH_SECONDS)
    : (logs.intervalMinutes ?? MIN_LOG_INTERVAL_MINUTES) * 60;
}

const FARGATE_CPU = [256, 512, 1024, 2048, 4096, 8192, 16384] as const;

const DatabaseObject = z.strictObject({
  name: z
    .string()
    .regex(DATABASE_NAME, {
      error: 'expected a name of lowercase letters, digits and "-", starting with a letter, at most 40 characters',
    })
    .describe('Unique name; used in keys, schedules, metrics and alarms.'),
  engine: z.enum(ENGINES, { error: `expected one of ${ENGINES.join(', ')}` }),
  connection: z.strictObject({
    host: z.string().min(1, { error: 'expected a host name or address' }),
    port: z.number().int().min(1).max(65535, { error: 'expected a TCP port 1-65535' }).optional().describe('Default: the engine port.'),
    database: z
      .string()
      .min(1)
      .optional()
      .describe('Database to dump (PostgreSQL, MySQL); all databases when left out for MySQL and Redis.'),
    secretArn: secretArn.optional().describe('Secrets Manager secret with "username" and "password" keys.'),
    tls: z.enum(TLS_MODES, { error: `expected one of ${TLS_MODES.join(', ')}` }).default('require'),
  }),
  tier: z.enum(TIERS, { error: `expected one of ${TIERS.join(', ')}` }),
  rpo: duration.optional().describe('Override of the tier RPO.'),
  rto: duration.optional().describe('Override of the tier RTO.'),
  schedule: ScheduleSchema,
  retention: RetentionSchema.default({ daily: 7, weekly: 4, monthly: 12, yearly: 7 }),
  drill: DrillScheduleSchema.optional().describe('Restore drill schedule; no drills when left out.'),
  logs: LogsSchema.optional(),
  task: z
    .strictObject({
      cpu: z
        .number()
        .refine((v) => (FARGATE_CPU as readonly number[]).includes(v), { error: `expected a Fargate CPU value: ${FARGATE_CPU.join(', ')}` })
        .default(1024),
      memoryMiB: z.number().int().min(512).max(122880).default(2048),
      timeoutMinutes: z
        .number()
        .int()
        .min(5)
        .max(24 * 60)
        .default(120)
        .describe('Longest a dump or restore task may run.'),
    })
    .default({ cpu: 1024, memoryMiB: 2048, timeoutMinutes: 120 }),
  estimate: z
    .strictObject({
      sizeGiB: z
        .number()
        .positive({ error: 'expected the stored size of one full backup in GiB, above 0' })
        .max(5120, { error: 'expected at most 5120 GiB (5 TB, the largest dump Strongbox streams)' })
        .describe('Stored (compressed) size of one full backup, for `npm run estimate` before the vault has one.'),
    })
    .optional()
    .describe('Inputs of the cost estimate only; nothing deployed reads them.'),
  dump: z
    .strictObject({
      compressionLevel: z.number().int().min(1).max(19, { error: 'expected a zstd level 1-19' }).default(3),
      restoreJobs: z.number().int().min(1).max(32).default(2).describe('Parallel jobs for pg_restore.'),
      redisMode: z.enum(REDIS_MODES).default('auto').describe('rdb needs SYNC; logical uses SCAN + DUMP.'),
    })
    .default({ compressionLevel: 3, restoreJobs: 2, redisMode: 'auto' }),
});

/**
 * One database; its own cross-field checks run here so they report even when another database is broken, and
 * (`when`) even when a field of this one is, so one pass reports every problem. The value may then be partly
 * invalid, and checkDatabase reads it defensively.
 */
export const DatabaseSchema = DatabaseObject.superRefine(checkDatabase, { when: () => true });

export const StrongboxConfigSchema = z
  .strictObject({
    app: z
      .strictObject({
        name: z
          .string()
          .regex(/^[a-z][a-z0-9-]{1,19}$/, { error: 'expected 2-20 lowercase letters, digits or "-", starting with a letter' })
          .default('strongbox'),
      })
      .default({ name: 'strongbox' }),
    vault: z.strictObject({
      primaryRegion: region,
      replicaRegion: region,
      kms: z
        .strictObject({
          mode: z.enum(['create', 'import'], { error: 'expected "create" or "import"' }).default('create'),
          keyArn: kmsKeyArn.optional().describe('Primary-region key, with mode: import.'),
          replicaKeyArn: kmsKeyArn.optional().describe('Replica-region key, with mode: import.'),
        })
        .default({ mode: 'create' }),
      objectLock: z
        .strictObject({
          mode: z.enum(['GOVERNANCE', 'COMPLIANCE'], { error: 'expected GOVERNANCE or COMPLIANCE' }).default('GOVERNANCE'),
          defaultDays: z.number().int().min(1).max(36500).default(7),
        })
        .default({ mode: 'GOVERNANCE', defaultDays: 7 }),
      graceHours: z.number().int().min(1).max(168).default(6).describe('Age after which unverified leftovers are pruned.'),
    }),
    network: z
      .strictObject({
        vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, { error: 'expected a VPC id such as "vpc-0abc12345def67890"' }),
        availabilityZones: z.array(z.string().min(1)).min(1),
        subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, { error: 'expected a subnet id "subnet-..."' })).min(1),
        securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, { error: 'expected a security group id "sg-..."' })).min(1),
      })
      .optional()
      .describe('Existing network for the Fargate tasks; a VPC is created when left out.'),
    alerts: z.strictObject({
      chat: z
        .strictObject({
          slack: z.strictObject({ workspaceId: z.string().min(1), channelId: z.string().min(1) }).optional(),
          teams: z.strictObject({ teamId: z.uuid(), channelId: z.string().min(1), tenantId: z.uuid() }).optional(),
        })
        .optional(),
      pager: z
        .strictObject({
          provider: z.enum(['pagerduty', 'opsgenie']),
          endpointSecretArn: secretArn.describe('Secret whose string value is the HTTPS integration URL.'),
        })
        .optional(),
      email: z.array(z.email({ error: 'expected an e-mail address' })).default([]),
      pageOnImportant: z.boolean().default(false).describe('Also page for important-tier alarms.'),
    }),
    databases: z.array(DatabaseSchema).min(1, { error: 'expected at least one database' }),
    drPlans: drPlansSchema({ secretArn, duration, schedule: DrillScheduleSchema }),
    compliance: z
      .strictObject({
        nagPacks: z
          .boolean()
          .default(true)
          .describe(
            'Run the cdk-nag NIST 800-53 R5, HIPAA Security and Serverless packs at synth next to AwsSolutions, which always runs; any unacknowledged finding fails synth.',
          ),
      })
      .default({ nagPacks: true }),
  })
  // Runs even when other parts failed (`when`), so one pass reports every cross-field problem; the value
  // may therefore be partly invalid and is read defensively.
  .superRefine(
    (config, ctx) => {
      const vault = config.vault as Partial<StrongboxConfig['vault']> | undefined;
      if (vault?.primaryRegion && vault.primaryRegion === vault.replicaRegion) {
        ctx.addIssue({
          code: 'custom',
          path: ['vault', 'replicaRegion'],
          message: 'expected a region different from vault.primaryRegion: a replica in the same region does not survive a regional outage',
        });
      }
      if (vault?.kms?.mode === 'import') {
        for (const key of ['keyArn', 'replicaKeyArn'] as const) {
          if (!vault.kms[key]) {
            ctx.addIssue({ code: 'custom', path: ['vault', 'kms', key], message: 'expected a KMS key ARN when kms.mode is "import"' });
          }
        }
      }
      const chat = config.alerts?.chat;
      if (chat && Boolean(chat.slack) === Boolean(chat.teams)) {
        ctx.addIssue({ code: 'custom', path: ['alerts', 'chat'], message: 'expected exactly one of "slack" or "teams"' });
      }
      const seen = new Map<unknown, number>();
      (Array.isArray(config.databases) ? config.databases : []).forEach((db: { name?: unknown } | undefined, index) => {
        const first = seen.get(db?.name);
        if (typeof db?.name !== 'string') {
          return;
        }
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['databases', index, 'name'],
            message: `expected a unique name; databases[${first}] already uses it`,
          });
        } else {
          seen.set(db.name, index);
        }
      });
      checkDrPlans(config.drPlans, config.databases, ENGINES_NEEDING_CREDENTIALS, ctx);
      (Array.isArray(config.drPlans) ? config.drPlans : []).forEach(
        (plan: { rehearsal?: { expression?: unknown; timezone?: unknown } }, p) => {
          const rehearsal = plan?.rehearsal;
          if (rehearsal && typeof rehearsal.expression === 'string') {
            checkSchedule(rehearsal.expression, rehearsal.timezone as string, ['drPlans', p, 'rehearsal'], ctx);
          }
        },
      );
    },
    { when: () => true },
  );

type ParsedDatabase = z.output<typeof DatabaseObject>;

function checkDatabase(parsed: ParsedDatabase, ctx: z.RefinementCtx): void {
  if (typeof parsed !== 'object' || parsed === null) {
    return;
  }
  const db = parsed as Partial<ParsedDatabase>;
  const at = (...path: (string | number)[]) => path;
  const refusal = db.engine && REFUSED_ENGINES[db.engine];
  if (refusal) {
    ctx.addIssue({ code: 'custom', path: at('engine'), message: refusal });
  }
  if (db.engine && ENGINES_NEEDING_CREDENTIALS.includes(db.engine) && db.connection && !db.connection.secretArn) {
    ctx.addIssue({
      code: 'custom',
      path: at('connection', 'secretArn'),
      message: `expected a Secrets Manager ARN: ${db.engine} needs credentials`,
    });
  }
  const counts = db.retention ? [db.retention.daily, db.retention.weekly, db.retention.monthly, db.retention.yearly] : [];
  // Only when every count is valid: a negative count has its own message.
  if (counts.length === 4 && counts.every((c) => Number.isInteger(c) && c >= 0) && counts.every((c) => c === 0)) {
    ctx.addIssue({
      code: 'custom',
      path: at('retention'),
      message: 'expected at least one of daily, weekly, monthly, yearly above 0: this retention would keep nothing',
    });
  }
  const schedule = db.schedule;
  const rpoOverride = typeof db.rpo === 'string' ? parseDuration(db.rpo) : undefined;
  const preset = db.tier ? TIER_PRESETS[db.tier] : undefined;
  // No RPO check when the RPO itself is broken: its own issue says so.
  const rpoSeconds = db.rpo === undefined ? preset?.rpoSeconds : rpoOverride;
  const rpoName = `${db.rpo ? '' : `${db.tier} tier `}RPO of ${rpoSeconds === undefined ? '' : formatDuration(rpoSeconds)}`;
  const logs = checkLogs(db, rpoSeconds, rpoName, ctx);
  if (schedule && typeof schedule.expression === 'string') {
    const flexible = typeof schedule.flexibleWindowMinutes === 'number' ? schedule.flexibleWindowMinutes : 0;
    checkSchedule(schedule.expression, schedule.timezone, at('schedule'), ctx, (gap) => {
      const worst = gap + flexible * 60;
      if (logs) {
        // With logs the interval carries the RPO; a full dump must still land in every window, or the window's
        // oldest seconds have no dump to replay from.
        if (worst > logs.windowDays * 86400) {
          ctx.addIssue({
            code: 'custom',
            path: at('schedule', 'expression'),
            message: `expected full backups at most ${formatDuration(logs.windowDays * 86400)} apart (logs.windowDays), so every window holds a dump to replay from; this schedule (plus its flexible window) can leave ${formatDuration(worst)} between backups`,
          });
        }
        return;
      }
      if (rpoSeconds !== undefined && worst > rpoSeconds) {
        ctx.addIssue({
          code: 'custom',
          path: at('schedule', 'expression'),
          message: `expected runs at most ${formatDuration(rpoSeconds)} apart to meet the ${rpoName}; this schedule (plus its flexible window) can leave ${formatDuration(worst)} between backups`,
        });
      }
    });
  }
  if (db.drill && typeof db.drill.expression === 'string') {
    checkSchedule(db.drill.expression, db.drill.timezone, at('drill'), ctx);
  }
}

/**
 * The `logs` block: refused for engines whose logs are not archived yet, and its interval held against the RPO.
 * Returns the block when it is usable for the schedule check, else undefined (the full schedule then carries the RPO).
 */
function checkLogs(
  db: Partial<ParsedDatabase>,
  rpoSeconds: number | undefined,
  rpoName: string,
  ctx: z.RefinementCtx,
): { intervalMinutes: number; windowDays: number } | undefined {
  const logs = db.logs as Partial<z.output<typeof LogsSchema>> | undefined;
  if (typeof logs !== 'object' || logs === null) {
    return undefined;
  }
  if (db.engine && !LOG_KIND_BY_ENGINE[db.engine]) {
    ctx.addIssue({
      code: 'custom',
      path: ['logs'],
      message: `expected no logs block for ${db.engine}: continuous log archiving is for mysql, mariadb and postgres; remove logs, and the full backup schedule carries the RPO`,
    });
    return undefined;
  }
  const wal = db.engine === 'postgres';
  if (wal && typeof db.connection?.host === 'string' && isRdsEndpoint(db.connection.host)) {
    ctx.addIssue({
      code: 'custom',
      path: ['logs'],
      message: `expected no logs block for the RDS/Aurora endpoint ${db.connection.host}: RDS and Aurora PostgreSQL offer no physical replication connection (pg_basebackup, pg_receivewal) to clients, so Strongbox cannot archive their WAL; use RDS's own point-in-time restore (aws rds restore-db-instance-to-point-in-time, or restore-db-cluster-to-point-in-time for Aurora) and remove logs here, so the full backup schedule carries the RPO`,
    });
    return undefined;
  }
  checkLogsEngineKeys(db, logs, wal, ctx);
  const { intervalMinutes, windowDays } = logs;
  // --- logs.mode continuous: the flush interval carries the RPO; PostgreSQL's scheduled WAL runs already meet a 1-minute interval (bench/logs.ts) ---
  if (logs.mode === 'continuous') {
    if (db.engine === 'postgres') {
      ctx.addIssue({
        code: 'custom',
        path: ['logs', 'mode'],
        message:
          "expected mode scheduled for postgres: the continuous streamer archives MySQL/MariaDB binlogs; use mode: scheduled with intervalMinutes (each run stores the WAL up to the server's flush position, partial segment included, in about a second, so the WAL lag is the interval plus the run)",
      });
      return undefined;
    }
    const flush = logs.flushSeconds ?? DEFAULT_LOG_FLUSH_SECONDS;
    if (!Number.isInteger(flush) || !Number.isInteger(windowDays)) {
      return undefined;
    }
    if (rpoSeconds !== undefined && flush > rpoSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['logs', 'flushSeconds'],
        message: `expected a flush interval of at most ${rpoSeconds} seconds to meet the ${rpoName}: up to one flush interval of writes is not yet archived`,
      });
    }
    return { intervalMinutes: Math.max(1, Math.ceil(flush / 60)), windowDays: windowDays as number };
  }
  if (!Number.isInteger(intervalMinutes) || !Number.isInteger(windowDays)) {
    return undefined;
  }
  const interval = intervalMinutes as number;
  if (rpoSeconds !== undefined && interval * 60 > rpoSeconds) {
    ctx.addIssue({
      code: 'custom',
      path: ['logs', 'intervalMinutes'],
      message: `expected an interval of at most ${Math.floor(rpoSeconds / 60)} minutes to meet the ${rpoName}: up to one interval of writes is not yet archived; ${wal ? WAL_SERVER_NEEDS : binlogServerNeeds(Math.max(1, Math.floor(rpoSeconds / 60)))}`,
    });
  }
  const base = logs.baseBackup;
  if (wal && base && typeof base.expression === 'string') {
    checkSchedule(base.expression, base.timezone, ['logs', 'baseBackup'], ctx, (gap) => {
      if (gap > (windowDays as number) * 86400) {
        ctx.addIssue({
          code: 'custom',
          path: ['logs', 'baseBackup', 'expression'],
          message: `expected base backups at most ${formatDuration((windowDays as number) * 86400)} apart (logs.windowDays), so every window holds a base to replay WAL from; this schedule can leave ${formatDuration(gap)} between base backups`,
        });
      }
    });
  }
  return { intervalMinutes: interval, windowDays: windowDays as number };
}

/** PostgreSQL replays WAL from base backups, which MySQL/MariaDB do not have: each engine's own keys only. */
function checkLogsEngineKeys(
  db: Partial<ParsedDatabase>,
  logs: Partial<z.output<typeof LogsSchema>>,
  wal: boolean,
  ctx: z.RefinementCtx,
): void {
  if (wal && logs.baseBackup === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['logs', 'baseBackup'],
      message: `expected a baseBackup schedule for postgres, such as { expression: "cron(0 2 ? * SUN *)" }: WAL replays from a base backup (pg_basebackup), never from a logical dump; ${WAL_SERVER_NEEDS}`,
    });
  }
  if (!wal) {
    for (const key of ['baseBackup', 'retainedWalAlarmGiB'] as const) {
      if (logs[key] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['logs', key],
          message: `expected no ${key} for ${db.engine}: it belongs to PostgreSQL's WAL archiving; ${db.engine} binlogs replay from the full backups of schedule, so remove logs.${key}`,
        });
      }
    }
  }
}

function checkSchedule(
  expression: string,
  timezone: string,
  path: (string | number)[],
  ctx: z.RefinementCtx,
  onGap?: (gapSeconds: number) => void,
): void {
  // A non-string time zone already has its type issue.
  if (typeof timezone === 'string' && !isTimeZone(timezone)) {
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'timezone'],
      message: 'expected an IANA time zone such as "UTC" or "Europe/Berlin"',
    });
  }
  try {
    const parsed = parseScheduleExpression(expression);
    onGap?.(longestGapSeconds(parsed));
  } catch (error) {
    if (!(error instanceof ScheduleExpressionError)) {
      throw error;
    }
    ctx.addIssue({ code: 'custom', path: [...path, 'expression'], message: `expected a valid schedule expression: ${error.message}` });
  }
}

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return name.length > 0;
  } catch {
    return false;
  }
}

/** The config as written (defaults not yet applied). */
export type StrongboxConfigInput = z.input<typeof StrongboxConfigSchema>;
/** The config after validation, with every default applied. */
export type StrongboxConfig = z.output<typeof StrongboxConfigSchema>;
export type DatabaseConfig = StrongboxConfig['databases'][number];
