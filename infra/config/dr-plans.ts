import { z } from 'zod';
import { DATABASE_NAME, type Engine } from '../../contracts/engines';

/**
 * The `drPlans` section of `strongbox.config.yaml`: named disaster-recovery plans. A plan restores the newest
 * verified backup of several databases onto prepared targets, group by group: every database of a group in
 * parallel, the groups in the order written (databases the later groups depend on go first). Each database of
 * a plan has exactly one target.
 *
 * ```yaml
 * drPlans:
 *   - name: region-loss
 *     groups:
 *       - databases: [users, orders]
 *       - databases: [sessions]
 *     targets:
 *       users: { host: users.dr.internal, database: users, secretArn: arn:aws:secretsmanager:... }
 *       orders: { host: orders.dr.internal, database: orders, secretArn: arn:aws:secretsmanager:... }
 *       sessions: { host: sessions.dr.internal }
 *     rto: 2h                  # optional: the whole plan, measured by rehearsals
 *     rehearsal:               # optional: scheduled like a drill
 *       expression: cron(0 4 ? * SUN *)
 *       timezone: Europe/Berlin
 * ```
 *
 * The schema is built by `drPlansSchema` so that schema.ts can hand in its own Secrets Manager ARN check
 * without an import cycle; the cross-field checks (names that must exist in `databases`) run in
 * `checkDrPlans`, called from the config's top-level refinement.
 */

export interface DrPlansSchemaOptions {
  /** The config's Secrets Manager ARN schema, so a target's ARN is held to the same rule as a source's. */
  readonly secretArn: z.ZodType<string>;
  /** The config's duration schema ("15m", "4h", "1d"), so a plan's RTO reads like a database's. */
  readonly duration: z.ZodType<string>;
  /** The config's drill schedule schema: a rehearsal is scheduled like a drill. */
  readonly schedule: z.ZodType<{ expression: string; timezone: string }, { expression: string; timezone?: string }>;
}

export function drPlansSchema(options: DrPlansSchemaOptions) {
  const target = z
    .strictObject({
      host: z
        .string({ error: 'expected the host name or address of the DR target' })
        .min(1, { error: 'expected the host name or address of the DR target' }),
      port: z.number().int().min(1).max(65535, { error: 'expected a TCP port 1-65535' }).optional().describe('Default: the engine port.'),
      database: z
        .string()
        .min(1)
        .optional()
        .describe('Database to restore into (PostgreSQL: required; MySQL: all dumped databases when left out).'),
      secretArn: options.secretArn.optional().describe('Secrets Manager secret of the target, with "username" and "password" keys.'),
    })
    .describe('Where one database of the plan is restored to.');
  const plan = z
    .strictObject({
      name: z
        .string()
        .regex(DATABASE_NAME, {
          error: 'expected a plan name of lowercase letters, digits and "-", starting with a letter, at most 40 characters',
        })
        .describe('Started as {"plan": "<name>"} on the DR plan state machine.'),
      description: z.string().optional(),
      groups: z
        .array(
          z.strictObject({
            databases: z
              .array(z.string({ error: 'expected a database name from databases[].name' }))
              .min(1, { error: 'expected at least one database in the group; remove the empty group' }),
          }),
        )
        .min(1, { error: 'expected at least one group of databases' })
        .describe('Restored in order; the databases of one group in parallel.'),
      targets: z.record(z.string(), target).describe('One target per database of the plan, keyed by database name.'),
      rto: options.duration
        .optional()
        .describe('Longest the whole plan may take, from start to the last group validated; a rehearsal measures against it.'),
      rehearsal: options.schedule
        .optional()
        .describe('Schedule of rehearsals: every database drilled into throwaway engines, group by group, no target touched.'),
    })
    .describe('A named, ordered disaster-recovery plan.');
  return z.array(plan).default([]).describe('Disaster-recovery plans: ordered groups of databases, each with one restore target.');
}

export type DrPlanConfig = z.output<ReturnType<typeof drPlansSchema>>[number];

/** Only the fields the cross-checks read, so this runs on a partly invalid config too. */
interface DatabaseRef {
  readonly name?: unknown;
  readonly engine?: unknown;
}

/**
 * Checks that need the rest of the config: every database named in a plan exists, appears once, and has
 * exactly one target; plan names are unique; engines that need credentials get a target secret.
 */
export function checkDrPlans(plans: unknown, databases: unknown, enginesNeedingCredentials: readonly Engine[], ctx: z.RefinementCtx): void {
  if (!Array.isArray(plans)) {
    return;
  }
  const engines = new Map<string, unknown>();
  for (const db of Array.isArray(databases) ? (databases as (DatabaseRef | undefined)[]) : []) {
    if (typeof db?.name === 'string') {
      engines.set(db.name, db.engine);
    }
  }
  const known = [...engines.keys()];
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path: ['drPlans', ...path], message });
  const planNames = new Map<string, number>();
  plans.forEach((plan: { name?: unknown; groups?: unknown; targets?: unknown } | undefined, p) => {
    if (typeof plan?.name === 'string') {
      const first = planNames.get(plan.name);
      if (first !== undefined) {
        issue([p, 'name'], `expected a unique plan name; drPlans[${first}] already uses it`);
      } else {
        planNames.set(plan.name, p);
      }
    }
    const placed = new Map<string, string>();
    (Array.isArray(plan?.groups) ? plan.groups : []).forEach((group: { databases?: unknown } | undefined, g) => {
      (Array.isArray(group?.databases) ? group.databases : []).forEach((name: unknown, d) => {
        if (typeof name !== 'string') {
          return;
        }
        const at = `groups[${g}].databases[${d}]`;
        if (!engines.has(name)) {
          issue([p, 'groups', g, 'databases', d], `expected the name of a database in databases[]${hint(name, known)}`);
          return;
        }
        const first = placed.get(name);
        if (first !== undefined) {
          issue([p, 'groups', g, 'databases', d], `expected each database once per plan; ${first} already restores it`);
          return;
        }
        placed.set(name, at);
      });
    });
    const targets = plan?.targets !== null && typeof plan?.targets === 'object' ? (plan.targets as Record<string, unknown>) : undefined;
    if (!targets) {
      return;
    }
    for (const [name, target] of Object.entries(targets)) {
      if (!engines.has(name)) {
        issue([p, 'targets', name], `expected targets keyed by a database in databases[]${hint(name, known)}`);
      } else if (!placed.has(name)) {
        issue(
          [p, 'targets', name],
          "expected a target only for a database listed in the plan's groups; add it to a group or remove the target",
        );
      } else if (
        enginesNeedingCredentials.includes(engines.get(name) as Engine) &&
        target !== null &&
        typeof target === 'object' &&
        !(target as { secretArn?: unknown }).secretArn
      ) {
        issue([p, 'targets', name, 'secretArn'], `expected a Secrets Manager ARN: ${String(engines.get(name))} needs credentials`);
      }
    }
    for (const [name] of placed) {
      if (!(name in targets)) {
        issue([p, 'targets'], `expected a target for "${name}": every database of the plan needs exactly one target`);
      }
    }
  });
}

function hint(name: string, known: readonly string[]): string {
  const close = known.find((k) => k.startsWith(name.slice(0, 3)) || name.startsWith(k.slice(0, 3)));
  return known.length === 0 ? '' : `; known: ${known.join(', ')}${close ? ` (did you mean "${close}"?)` : ''}`;
}
