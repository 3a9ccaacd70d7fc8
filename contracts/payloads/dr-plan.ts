import * as z from 'zod';
import { NAME_SOURCE } from '../engines';
import { DatabaseNameSchema } from '../vault';
import { LIMITS } from './restore';

/**
 * Payloads of the DR plan state machine: it restores the newest verified backup of several databases onto
 * prepared targets, group by group, each through a nested restore execution.
 */

export const DrPlanInputSchema = z
  .strictObject({
    plan: z
      .string({ error: 'expected the name of a plan in drPlans, such as "region-loss"' })
      .min(1, { error: 'expected the name of a plan in drPlans, such as "region-loss"' })
      .max(LIMITS.confirmChars, { error: 'expected the name of a plan in drPlans, such as "region-loss"', abort: true }),
    overwrite: z.boolean({ error: 'expected true or false' }).default(false).describe('Allow restoring into non-empty targets.'),
    confirm: z
      .string({ error: 'expected the plan name, as a string' })
      .max(LIMITS.confirmChars, { error: 'expected the plan name', abort: true })
      .optional()
      .describe('Must equal the plan name for an overwrite to go ahead.'),
    requestedBy: z
      .string({ error: 'expected free text such as "alice, INC-1234"' })
      .max(LIMITS.requestedByChars, { error: `expected at most ${LIMITS.requestedByChars} characters` })
      .optional(),
    rehearsal: z
      .boolean({ error: 'expected true or false' })
      .default(false)
      .describe('Drill every database of the plan into throwaway engines, group by group, and measure the plan RTO; no target is touched.'),
  })
  .superRefine((input, ctx) => {
    // A rehearsal never writes to a target, so an overwrite there would confirm nothing: refused rather than ignored.
    if (input.rehearsal === true && (input.overwrite === true || input.confirm !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [input.overwrite === true ? 'overwrite' : 'confirm'],
        message:
          'expected no "overwrite" or "confirm" with "rehearsal": true; a rehearsal restores into throwaway engines and touches no target',
      });
      return;
    }
    // A plan's overwrite is confirmed with the plan's name; saying so here spares a run that refuses group 1.
    if (input.confirm !== undefined && input.overwrite !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['confirm'],
        message: 'expected "overwrite": true alongside "confirm"; confirm alone allows nothing',
      });
    } else if (input.overwrite === true && input.confirm !== input.plan) {
      ctx.addIssue({
        code: 'custom',
        path: ['confirm'],
        message: `expected the plan name "${input.plan.slice(0, LIMITS.confirmChars)}" alongside "overwrite": true (a DR plan's confirm is the plan's name, not a database's)`,
      });
    }
  });
export type DrPlanInput = z.output<typeof DrPlanInputSchema>;

/**
 * One database of a group: the input of one nested restore execution. In a rehearsal it also has `drillInput`,
 * and the group Map starts a nested drill execution with it instead (the drill machine's own input), so a
 * rehearsal runs exactly the drill path; `restoreInput` then only records what a real run would start.
 */
export const DrItemSchema = z.strictObject({
  database: DatabaseNameSchema,
  group: z.number().int().min(0),
  restoreInput: z.record(z.string(), z.unknown()),
  // "manual": not the database's own drill schedule; the DR plan execution that started it is its parent.
  drillInput: z.strictObject({ database: DatabaseNameSchema, trigger: z.literal('manual') }).optional(),
});
export type DrItem = z.infer<typeof DrItemSchema>;

export const DrItemResultSchema = z.strictObject({
  database: DatabaseNameSchema,
  group: z.number().int().min(0),
  status: z.enum(['restored', 'failed']),
  executionArn: z.string().optional(),
  error: z.string().optional(),
  cause: z.string().optional(),
  /** When the nested execution started and stopped (epoch ms, DescribeExecution's StartDate and StopDate). */
  startDate: z.number().optional(),
  stopDate: z.number().optional(),
  /** Rehearsals: the backup the drill restored and its restore time (drill.json). */
  backupId: z.string().optional(),
  restoreSeconds: z.number().optional(),
});
export type DrItemResult = z.infer<typeof DrItemResultSchema>;

/** The loop state of the DR plan machine: carried between the group Map and the Advance step. */
export const DrStateSchema = z.strictObject({
  plan: z.string(),
  groups: z.array(z.array(DrItemSchema)),
  next: z.number().int().min(0),
  current: z.array(DrItemSchema),
  results: z.array(DrItemResultSchema),
  status: z.enum(['running', 'succeeded', 'failed']),
  startedAt: z.iso.datetime({ offset: true }),
  executionArn: z.string(),
  /** Only on rehearsals, so a real run's state is what it always was. */
  rehearsal: z.literal(true).optional(),
  /** Rehearsals: when Advance recorded each group, in order; the last one ends the measured plan RTO. */
  groupEnds: z.array(z.iso.datetime({ offset: true })).optional(),
});
export type DrState = z.infer<typeof DrStateSchema>;

/** One group of a rehearsal report: each database's nested drill, and the group from its start to Advance. */
export const DrGroupReportSchema = z.strictObject({
  group: z.number().int().min(1),
  status: z.enum(['passed', 'failed', 'not run']),
  seconds: z.number().min(0).optional(),
  databases: z.array(
    z.strictObject({
      database: DatabaseNameSchema,
      status: z.enum(['passed', 'failed', 'not run']),
      seconds: z.number().min(0).optional(),
      backupId: z.string().optional(),
      restoreSeconds: z.number().optional(),
      error: z.string().optional(),
    }),
  ),
});
export type DrGroupReport = z.infer<typeof DrGroupReportSchema>;

/** The plan RTO verdict of a rehearsal: from the execution's start to the last group's Advance. */
export const DrRtoVerdictSchema = z.strictObject({
  measuredSeconds: z.number().min(0),
  /** drPlans[].rto; absent when the plan sets none. */
  targetSeconds: z.number().int().positive().optional(),
  /** False when over the target, or when the rehearsal stopped before its last group (no plan RTO was reached). */
  met: z.boolean(),
});
export type DrRtoVerdict = z.infer<typeof DrRtoVerdictSchema>;

export const DrReportSchema = z.strictObject({
  plan: z.string(),
  status: z.enum(['succeeded', 'failed']),
  restored: z.array(DatabaseNameSchema),
  failed: z.array(z.strictObject({ database: DatabaseNameSchema, error: z.string(), cause: z.string().optional() })),
  notRestored: z.array(DatabaseNameSchema),
  summary: z.string(),
  /** Rehearsals only: the same report as a real run's, plus these. */
  rehearsal: z.literal(true).optional(),
  rto: DrRtoVerdictSchema.optional(),
  groups: z.array(DrGroupReportSchema).optional(),
});
export type DrReport = z.infer<typeof DrReportSchema>;

const DR_REQUESTED_BY = new RegExp(`^DR plan (${NAME_SOURCE}) \\(`);

/** `requestedBy` of a restore a DR plan starts; kept within the restore input's limit. */
export function drPlanRequestedBy(plan: string, executionName: string, requestedBy?: string): string {
  return `DR plan ${plan} (${executionName})${requestedBy ? `: ${requestedBy}` : ''}`.slice(0, LIMITS.requestedByChars);
}

/**
 * The DR plan a restore input came from: its requestedBy names a configured plan, and its target is that plan's
 * target for the database. A console restore that copies both is, for every purpose of a hint, the plan's.
 */
export function drPlanOfRestore(
  input: { database: string; requestedBy?: string; target: { host: string; port?: number; database?: string } },
  plans: Readonly<Record<string, { targets: Readonly<Record<string, { host: string; port: number; database?: string }>> }>> | undefined,
  defaultPort: number,
): string | undefined {
  const name = DR_REQUESTED_BY.exec(input.requestedBy ?? '')?.[1];
  const target = name ? plans?.[name]?.targets[input.database] : undefined;
  if (!name || !target) {
    return undefined;
  }
  const same =
    target.host === input.target.host && target.port === (input.target.port ?? defaultPort) && target.database === input.target.database;
  return same ? name : undefined;
}
