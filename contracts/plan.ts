import * as z from 'zod';
import { ENGINES, REDIS_MODES, TLS_MODES } from './engines';
import { DatabaseNameSchema, LOG_KINDS } from './vault';

/**
 * The deployment plan: the part of the config that runtime code needs, with every default and tier preset
 * resolved and nothing secret in it (secret ARNs are identifiers, not secrets). It is baked into each Lambda
 * bundle at synth (esbuild `define` of `process.env.STRONGBOX_PLAN`), so no Lambda fetches its config from
 * the network and nothing sits in template environment values. Locally the same variable is set for real.
 */
export const DatabasePlanSchema = z.strictObject({
  name: DatabaseNameSchema,
  engine: z.enum(ENGINES),
  tier: z.enum(['critical', 'important', 'general']),
  rpoSeconds: z.number().int().positive(),
  rtoSeconds: z.number().int().positive(),
  timezone: z.string(),
  blackouts: z.array(
    z.strictObject({
      start: z.string(),
      end: z.string(),
      days: z.array(z.enum(['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'])).optional(),
    }),
  ),
  retention: z.strictObject({
    daily: z.number().int().min(0),
    weekly: z.number().int().min(0),
    monthly: z.number().int().min(0),
    yearly: z.number().int().min(0),
    legalHoldYearly: z.boolean(),
  }),
  connection: z.strictObject({
    host: z.string(),
    port: z.number().int(),
    database: z.string().optional(),
    secretArn: z.string().optional(),
    tls: z.enum(TLS_MODES),
  }),
  /** ECS task definition family of this database's dump task; RunTask takes the family for the latest revision. */
  taskFamily: z.string(),
  taskTimeoutSeconds: z.number().int().positive(),
  compressionLevel: z.number().int(),
  restoreJobs: z.number().int(),
  redisMode: z.enum(REDIS_MODES),
  /** Longest gap between two scheduled drills; only for databases with a drill schedule (the drill-overdue alarm). */
  drillIntervalSeconds: z.number().int().positive().optional(),
  /** Continuous log archiving (contracts/logs.ts); only for databases with a `logs` block. */
  logs: z
    .strictObject({
      kind: z.enum(LOG_KINDS),
      intervalSeconds: z.number().int().positive(),
      windowDays: z.number().int().positive(),
      /** PostgreSQL WAL only: the RetainedWalBytes alarm threshold (logs.retainedWalAlarmGiB, or its default). */
      retainedWalAlarmBytes: z.number().int().positive().optional(),
      /** Set for logs.mode continuous: a Fargate service streams the log (infra/constructs/log-archive-service.ts), no schedule runs. */
      mode: z.literal('continuous').optional(),
      /** logs.flushSeconds of a continuous database: how often the streamer uploads the tail. */
      flushSeconds: z.number().int().positive().optional(),
    })
    .optional(),
});
export type DatabasePlan = z.infer<typeof DatabasePlanSchema>;

/** One restore target of a DR plan, with the engine port filled in. */
export const DrTargetPlanSchema = z.strictObject({
  host: z.string(),
  port: z.number().int(),
  database: z.string().optional(),
  secretArn: z.string().optional(),
});
export type DrTargetPlan = z.infer<typeof DrTargetPlanSchema>;

export const DrPlanPlanSchema = z.strictObject({
  /** Database names, group by group, in restore order. */
  groups: z.array(z.array(DatabaseNameSchema)),
  targets: z.record(z.string(), DrTargetPlanSchema),
  /** drPlans[].rto: the longest a whole plan may take, which a rehearsal measures against; absent when none is set. */
  rtoSeconds: z.number().int().positive().optional(),
});
export type DrPlanPlan = z.infer<typeof DrPlanPlanSchema>;

export const PlanSchema = z.strictObject({
  app: z.string(),
  objectLock: z.strictObject({ mode: z.enum(['GOVERNANCE', 'COMPLIANCE']), defaultDays: z.number().int() }),
  graceSeconds: z.number().int().positive(),
  databases: z.record(z.string(), DatabasePlanSchema),
  /** Optional so plans baked before DR plans existed still parse. */
  drPlans: z.record(z.string(), DrPlanPlanSchema).optional(),
});
export type Plan = z.infer<typeof PlanSchema>;

export class PlanNotFoundError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'PlanNotFoundError';
  }
}

let cached: { text: string; plan: Plan } | undefined;

/** Reads the baked plan. Cached per text so the local runtime can switch plans between runs. */
export function loadPlan(text: string | undefined = process.env.STRONGBOX_PLAN): Plan {
  if (!text) {
    throw new PlanNotFoundError('STRONGBOX_PLAN is not set: the deployment plan was not baked into this function');
  }
  if (cached?.text !== text) {
    cached = { text, plan: PlanSchema.parse(JSON.parse(text)) };
  }
  return cached.plan;
}
