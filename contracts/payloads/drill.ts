import * as z from 'zod';
import { ENGINES } from '../engines';
import { BackupIdSchema, DatabaseNameSchema, InventorySchema } from '../vault';
import { BaseIdSchema } from '../wal';
import { EnvironmentSchema, RestoreExecutionSchema } from './restore';

/** Payloads of the drill state machine: it restores the newest verified backup into a throwaway engine. */

/** What the drill schedule (or a person) starts the drill state machine with. */
export const DrillInputSchema = z.strictObject({
  database: DatabaseNameSchema,
  trigger: z.enum(['schedule', 'manual', 'demo'], { error: 'expected trigger to be one of schedule, manual, demo' }).default('schedule'),
});
export type DrillInput = z.infer<typeof DrillInputSchema>;

export const DrillPrepareEventSchema = z.strictObject({ input: z.unknown(), execution: RestoreExecutionSchema });

export const DrillPreparedSchema = z.strictObject({
  database: DatabaseNameSchema,
  engine: z.enum(ENGINES),
  backupId: BackupIdSchema,
  taskFamily: z.string(),
  taskTimeoutSeconds: z.number().int().positive(),
  /** The database's restore role (RunTask TaskRoleArn override): reads its backups, writes only drill.json. */
  taskRoleArn: z.string(),
  environment: EnvironmentSchema,
  /**
   * A chain drill (a database with a logs block and two verified dumps joined by intact segments): the next
   * dump, up to whose coordinates the log is replayed after restoring `backupId`. Absent for a single-dump drill.
   */
  chainToBackupId: BackupIdSchema.optional(),
  /**
   * A PostgreSQL chain drill (issue 13 step 6): the base recovered with the archived WAL to the LSN `backupId`
   * recorded, after `backupId` itself is restored. Absent when no usable base and intact WAL reach that LSN.
   */
  recoveryBaseId: BaseIdSchema.optional(),
});
export type DrillPrepared = z.infer<typeof DrillPreparedSchema>;

export const DrillReportEventSchema = z.strictObject({
  prepared: DrillPreparedSchema,
  error: z.strictObject({ Error: z.string(), Cause: z.string().optional() }).optional(),
  /** When this drill execution started: a drill.json older than that was left by an earlier run. */
  startedAt: z.iso.datetime({ offset: true }).optional(),
});
export type DrillReportEvent = z.infer<typeof DrillReportEventSchema>;

/** What the drill task prints as its last stdout line and what the manifest comparison yields. */
export const DrillOutcomeSchema = z.strictObject({
  backupId: BackupIdSchema,
  passed: z.boolean(),
  restoreSeconds: z.number().min(0),
  inventory: InventorySchema.optional(),
});
