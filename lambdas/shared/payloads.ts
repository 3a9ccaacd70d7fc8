import { z } from 'zod';
import { BACKUP_KINDS, BackupIdSchema, DatabaseNameSchema } from './catalog';

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
    engine: z.enum(['postgres', 'mysql', 'mariadb', 'redis', 'mongodb']),
    backupId: BackupIdSchema,
    prefix: z.string(),
    taskFamily: z.string(),
    taskTimeoutSeconds: z.number().int().positive(),
    trigger: z.string(),
  }),
  z.strictObject({
    status: z.literal('skipped'),
    database: DatabaseNameSchema,
    reason: z.enum(['locked', 'blackout']),
    notice: z.string(),
  }),
]);
export type PrepareResult = z.infer<typeof PrepareResultSchema>;
