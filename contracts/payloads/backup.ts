import * as z from 'zod';
import { ENGINES } from '../engines';
import { BACKUP_KINDS, BackupIdSchema, DatabaseNameSchema } from '../vault';
import { BaseIdSchema } from '../wal';

/**
 * State machine payloads. Every Lambda parses its event with one of these, and the workflow constructs
 * build their JSONPath parameters from the same field names.
 */

/** What EventBridge Scheduler (or a person) starts the backup state machine with. */
export const BackupInputSchema = z.strictObject({
  database: DatabaseNameSchema,
  kind: z.enum(BACKUP_KINDS, { error: `expected kind to be one of ${BACKUP_KINDS.join(', ')}` }),
  trigger: z.enum(['schedule', 'manual', 'demo'], { error: 'expected trigger to be one of schedule, manual, demo' }).default('manual'),
});
export type BackupInput = z.infer<typeof BackupInputSchema>;

/** The execution context the state machine adds to Lambda payloads (from `$$`). */
export const ExecutionContextSchema = z.strictObject({
  executionArn: z.string().min(1),
  startTime: z.iso.datetime({ offset: true }),
});
export type ExecutionContext = z.infer<typeof ExecutionContextSchema>;

export const PrepareEventSchema = z.strictObject({
  input: z.unknown().describe('The raw execution input; Prepare validates it so a bad input fails at the first state.'),
  execution: ExecutionContextSchema,
});

export const PrepareResultSchema = z.discriminatedUnion('status', [
  z.strictObject({
    status: z.literal('ready'),
    database: DatabaseNameSchema,
    engine: z.enum(ENGINES),
    backupId: BackupIdSchema,
    prefix: z.string(),
    taskFamily: z.string(),
    taskTimeoutSeconds: z.number().int().positive(),
    trigger: z.string(),
    /** The lock this run holds when it is not the backup lock `locks/<database>.json` (log archiving). */
    lockKey: z.string().optional(),
  }),
  z.strictObject({
    status: z.literal('skipped'),
    database: DatabaseNameSchema,
    reason: z.enum(['locked', 'blackout']),
    notice: z.string(),
  }),
]);
export type PrepareResult = z.infer<typeof PrepareResultSchema>;

/**
 * What the Dump state keeps of the ECS `.sync` result (ResultSelector): only small fields, so the execution
 * payload stays far below the 256 KB limit whatever the task reports.
 */
export const DumpResultSchema = z.object({
  taskArn: z.string(),
  stoppedReason: z.string().optional(),
  exitCode: z.number().int().nullable().optional(),
});
export type DumpResult = z.infer<typeof DumpResultSchema>;

/** The payload of every state after Dump that works on one backup (Verify, Replicate). */
export const BackupRefSchema = z.strictObject({
  database: DatabaseNameSchema,
  backupId: BackupIdSchema,
});
export type BackupRef = z.infer<typeof BackupRefSchema>;

export const VerifyResultSchema = z.strictObject({
  verified: z.literal(true),
  method: z.enum(['s3-checksum', 'reread']),
  bytes: z.number().int().min(0),
  sha256: z.string(),
});
export type VerifyResult = z.infer<typeof VerifyResultSchema>;

export const ReplicateResultSchema = z.strictObject({
  bucket: z.string(),
  copied: z.number().int().min(0),
  alreadyPresent: z.number().int().min(0),
  bytes: z.number().int().min(0),
  lagSeconds: z.number().min(0),
});
export type ReplicateResult = z.infer<typeof ReplicateResultSchema>;

export const RetainEventSchema = z.strictObject({
  database: DatabaseNameSchema,
  backupId: BackupIdSchema.optional(),
  dryRun: z.boolean().default(false),
  /** Planning time; defaults to now. Lets a dry run answer "what would be pruned at time T". */
  now: z.iso.datetime({ offset: true }).optional(),
});
export type RetainEvent = z.input<typeof RetainEventSchema>;

export const RetainResultSchema = z.strictObject({
  dryRun: z.boolean(),
  backups: z.number().int().min(0),
  kept: z.number().int().min(0),
  deleted: z.array(z.string()),
  skippedLocked: z.array(z.strictObject({ backupId: z.string(), reason: z.string() })),
  tiered: z.array(z.strictObject({ backupId: z.string(), tier: z.enum(['weekly', 'monthly', 'yearly']), retainUntil: z.string() })),
  /** True when the lists above were cut to keep the state payload small; the log line has the full plan. */
  truncated: z.boolean(),
  /** Databases with a logs block: the segment retention after the GFS decisions (lists cut at 100). */
  segments: z
    .strictObject({
      segments: z.number().int().min(0),
      kept: z.number().int().min(0),
      deleted: z.array(z.string()),
      skippedLocked: z.array(z.strictObject({ segmentId: z.string(), reason: z.string() })),
    })
    .optional(),
});
export type RetainResult = z.infer<typeof RetainResultSchema>;

/**
 * The state as the workflow accumulates it: the execution input plus each state's result under its own key.
 * Notify and ReleaseLock read it leniently, because on the failure path any part may be missing (Prepare may
 * not have run, or the input itself may be what failed).
 */
export const WorkflowStateSchema = z.looseObject({
  prepare: z.unknown().optional(),
  dump: z.unknown().optional(),
  verify: z.unknown().optional(),
  replicate: z.unknown().optional(),
  retain: z.unknown().optional(),
  /** Added by the catch-all: Step Functions' `{Error, Cause}` of the state that failed. */
  error: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
});
export type WorkflowState = z.infer<typeof WorkflowStateSchema>;

export const NotifyEventSchema = z.strictObject({
  outcome: z.enum(['succeeded', 'skipped', 'failed']),
  execution: ExecutionContextSchema,
  state: WorkflowStateSchema,
});
export type NotifyEvent = z.infer<typeof NotifyEventSchema>;

/** What NotifyFailure returns: the readable error and cause that the Fail state shows (no JSON, no stack). */
export const FailureSummarySchema = z.strictObject({
  error: z.string(),
  cause: z.string(),
});
export type FailureSummary = z.infer<typeof FailureSummarySchema>;

export const ReleaseLockEventSchema = z.strictObject({
  state: WorkflowStateSchema,
});
export type ReleaseLockEvent = z.infer<typeof ReleaseLockEventSchema>;

export const ReleaseLockResultSchema = z.strictObject({
  released: z.boolean(),
  reason: z.string(),
});
export type ReleaseLockResult = z.infer<typeof ReleaseLockResultSchema>;

/** The log-archive workflow's ReplicateSegments step: copy the database's recent verified segments to the replica. */
export const ReplicateSegmentsEventSchema = z.strictObject({ database: DatabaseNameSchema });
export type ReplicateSegmentsEvent = z.infer<typeof ReplicateSegmentsEventSchema>;

// --- Scheduled base backups (pg-base): the base-backup machine's input and the payload of its steps ---

/** What the base-backup schedule (or a person) starts the base-backup state machine with. */
export const BaseBackupInputSchema = z.strictObject({
  database: DatabaseNameSchema,
  trigger: z.enum(['schedule', 'manual', 'demo'], { error: 'expected trigger to be one of schedule, manual, demo' }).default('manual'),
});

/** VerifyBase, ReplicateBase and RetainBases work on one base (contracts/wal.ts baseId). */
export const BaseRefSchema = z.strictObject({
  database: DatabaseNameSchema,
  baseId: BaseIdSchema,
});
export type BaseRef = z.infer<typeof BaseRefSchema>;
