import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { InputValidationError, parseInput } from '../../contracts/errors';
import { DrPlanInputSchema, type DrReport } from '../../contracts/payloads/dr-plan';
import { DrillInputSchema } from '../../contracts/payloads/drill';
import { type RestoreAudit, RestoreAuditSchema, RestoreInputSchema } from '../../contracts/payloads/restore';
import { DrillRecordSchema, keys } from '../../contracts/vault';
import { getJson, listObjects } from '../../contracts/vault-io';
import { resolveRestore } from '../../lambdas/restore/resolve/restore-resolve';
import { type FlagSpec, stringFlag } from '../args';
import type { ExecutionOutcome, ExecutionRunner, MachineKind } from '../backends/runner';
import type { VaultAccess } from '../backends/vault';
import { type Command, type CommandContext, openRunner, printJson, requireDatabase } from '../context';
import { CliUsageError, EXIT } from '../errors';
import { formatSeconds } from '../format';
import { follow, progressWriter, readableCause, stepObserver } from './follow';

/**
 * `strongbox restore|drill|dr-plan`: build the state machine input from flags (or take it whole with --input),
 * check it with the very schema the machine's first state uses, start the execution, follow it to its end,
 * and print the outcome and its record (the restore audit, drill.json, the DR report).
 */

const RESTORE_FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  backupId: '--backup-id',
  pointInTime: '--at',
  latest: '--latest',
  'target.host': '--target-host',
  'target.port': '--target-port',
  'target.database': '--target-database',
  'target.secretArn': '--target-secret-arn',
  include: '--include',
  overwrite: '--overwrite',
  confirm: '--confirm',
  requestedBy: '--requested-by',
  privileges: '--privileges',
  roles: '--roles',
  definers: '--definers',
};

/** `target.port: found ...` -> `target.port (--target-port): found ...`, so the line names the flag to fix. */
export function withFlagNames(message: string, flags: Readonly<Record<string, string>>): string {
  return message
    .split('\n')
    .map((line) => {
      const field = /^([A-Za-z.0-9]+):/.exec(line)?.[1];
      const flag = field && (flags[field] ?? flags[field.replace(/\.\d+$/, '')]);
      return flag ? line.replace(`${field}:`, `${field} (${flag}):`) : line;
    })
    .join('\n');
}

function defaultRequestedBy(): string {
  try {
    return `${userInfo().username} (strongbox CLI)`;
  } catch {
    return 'strongbox CLI';
  }
}

/** `--input '{"database": ...}'` or `--input @file.json`. */
function readInputFlag(text: string): unknown {
  const json = text.startsWith('@') ? readWhole(text.slice(1)) : text;
  try {
    return JSON.parse(json);
  } catch (error) {
    throw new CliUsageError(
      `--input: found text that is not JSON (${(error as Error).message}); expected the state machine input as JSON or @file.json`,
    );
  }
}

function readWhole(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliUsageError(
      `--input: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'}); expected a readable JSON file`,
    );
  }
}

export function restoreInputFromFlags(ctx: Pick<CommandContext, 'positionals' | 'values'>): Record<string, unknown> {
  const v = ctx.values;
  const inputText = stringFlag(v, 'input');
  const given = Object.keys(RESTORE_FLAGS).filter((f) => f !== 'input' && v[f] !== undefined);
  if (inputText !== undefined) {
    if (given.length > 0 || ctx.positionals.length > 0) {
      throw new CliUsageError(
        `--input: found it together with ${[...ctx.positionals.map((p) => JSON.stringify(p)), ...given.map((f) => `--${f}`)].join(', ')}; expected either the whole input as --input or the database and flags`,
      );
    }
    const raw = readInputFlag(inputText);
    return raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : { input: raw };
  }
  if (ctx.positionals[0] === undefined) {
    throw new CliUsageError('<database>: found nothing; expected the database to restore, or the whole input as --input');
  }
  const port = stringFlag(v, 'target-port');
  const includes = ((v.include as string[] | undefined) ?? []).flatMap((i) => i.split(',')).map((i) => i.trim());
  const target = {
    ...(v['target-host'] !== undefined && { host: v['target-host'] }),
    ...(port !== undefined && { port: /^\d+$/.test(port) ? Number(port) : port }),
    ...(v['target-database'] !== undefined && { database: v['target-database'] }),
    ...(v['target-secret-arn'] !== undefined && { secretArn: v['target-secret-arn'] }),
  };
  return {
    database: ctx.positionals[0],
    ...(v['backup-id'] !== undefined && { backupId: v['backup-id'] }),
    ...(v.at !== undefined && { pointInTime: v.at }),
    ...(v.latest === true && { latest: true }),
    target,
    ...(includes.length > 0 && { include: includes }),
    ...(v.overwrite === true && { overwrite: true }),
    ...(v.confirm !== undefined && { confirm: v.confirm }),
    requestedBy: stringFlag(v, 'requested-by') ?? defaultRequestedBy(),
    ...(v.privileges !== undefined && { privileges: v.privileges }),
    ...(v.roles !== undefined && { roles: v.roles }),
    ...(v.definers !== undefined && { definers: v.definers }),
  };
}

const RESTORE_FLAGS: Readonly<Record<string, FlagSpec>> = {
  'backup-id': { type: 'string', value: '<backupId>', description: 'restore exactly this backup' },
  at: {
    type: 'string',
    value: '<instant>',
    description: 'pointInTime: the newest verified backup taken at or before it (ISO 8601 with zone)',
  },
  latest: { type: 'boolean', description: 'the newest verified backup' },
  'target-host': { type: 'string', value: '<host>', description: 'target.host' },
  'target-port': { type: 'string', value: '<port>', description: 'target.port (default: the engine port)' },
  'target-database': { type: 'string', value: '<name>', description: 'target.database (required for PostgreSQL, not for Redis)' },
  'target-secret-arn': {
    type: 'string',
    value: '<arn>',
    description: "target.secretArn: the target's credentials (tagged strongbox:restore-target=true)",
  },
  include: {
    type: 'string',
    multiple: true,
    value: '<name>',
    description: 'only these objects (repeat, or comma-separated): schema[.table], db[.table], key globs',
  },
  overwrite: { type: 'boolean', description: 'allow the source or a non-empty target (needs --confirm <database>)' },
  confirm: { type: 'string', value: '<database>', description: 'must equal the database name for --overwrite to go ahead' },
  'requested-by': { type: 'string', value: '<text>', description: 'for the audit trail (default: your user name and "strongbox CLI")' },
  privileges: { type: 'string', value: 'restore|skip', description: 'PostgreSQL: bring back GRANTs and owners (default restore)' },
  roles: { type: 'string', value: 'require|create', description: 'PostgreSQL: create missing roles from the backup (default require)' },
  definers: { type: 'string', value: 'require|ignore', description: 'MySQL/MariaDB: DEFINER accounts the target lacks (default require)' },
  input: { type: 'string', value: '<json|@file>', description: 'the whole state machine input instead of the flags' },
};

/** The restore's audit record: from the run's own output, else found by execution name under restores/<db>/. */
async function findAudit(
  vault: VaultAccess,
  database: string,
  outcome: ExecutionOutcome,
  attempts: number,
  delayMs: number,
): Promise<RestoreAudit | undefined> {
  const fromOutput = (outcome.output as { audit?: unknown } | undefined)?.audit;
  const parsed = RestoreAuditSchema.safeParse(fromOutput);
  if (parsed.success) {
    return parsed.data;
  }
  const { s3, bucket } = vault.primary;
  // A stopped run's record is written by the EventBridge rule's Lambda, a few seconds after the stop in AWS.
  for (let attempt = 0; attempt < attempts; attempt++) {
    const keysFound: string[] = [];
    for await (const object of listObjects(s3, bucket, `restores/${database}/`)) {
      keysFound.push(object.key);
    }
    for (const key of keysFound.sort().reverse().slice(0, 50)) {
      const audit = await getJson(s3, bucket, key, RestoreAuditSchema).catch(() => undefined);
      if (audit?.value.startedBy.executionName === outcome.name) {
        return audit.value;
      }
    }
    if (attempt + 1 < attempts) {
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
  return undefined;
}

function describeAudit(audit: RestoreAudit): string {
  const target = audit.target
    ? `${audit.target.host}:${audit.target.port}${audit.target.database ? `/${audit.target.database}` : ''}`
    : 'its target';
  const validation = audit.validation
    ? `; validation: ${audit.validation.compared} objects compared, ${audit.validation.matched ? 'all match the manifest' : `${audit.validation.mismatches.length} MISMATCHES`}`
    : '';
  return `${audit.outcome}: ${audit.backupId ?? '(no backup)'}${audit.include.length ? ` (only ${audit.include.join(', ')})` : ''} to ${target} in ${formatSeconds(audit.restoreSeconds)}${validation}${audit.error ? `; ${audit.error}` : ''}`;
}

interface Outcome {
  readonly code: number;
  readonly lines: readonly string[];
  readonly record?: unknown;
}

async function runAndFollow(
  ctx: CommandContext,
  runner: ExecutionRunner,
  kind: MachineKind,
  input: unknown,
  describe: (outcome: ExecutionOutcome) => Promise<Outcome>,
): Promise<number> {
  const say = progressWriter(ctx);
  const result = await follow(ctx, runner.start(kind, input, stepObserver(ctx)), (started) => {
    say(`Started ${runner.vault.plan.app}-${kind}: execution ${started.name}${started.canDetach ? `\n  ${started.executionArn}` : ''}`);
    say('  Ctrl-C asks whether to stop it');
  });
  const { started } = result;
  if (result.detached || !result.outcome) {
    say(`Detached: ${started.executionArn} goes on without the CLI; follow it in the Step Functions console.`);
    if (ctx.common.json) {
      printJson(ctx, { executionArn: started.executionArn, name: started.name, status: 'RUNNING', detached: true });
    }
    return EXIT.ok;
  }
  const outcome = result.outcome;
  const described = await describe(outcome);
  const code = outcome.status === 'ABORTED' && result.stoppedByUser ? EXIT.stopped : described.code;
  if (ctx.common.json) {
    printJson(ctx, {
      executionArn: outcome.executionArn,
      name: outcome.name,
      status: outcome.status,
      stoppedByUser: result.stoppedByUser,
      startedAt: outcome.startedAt.toISOString(),
      stoppedAt: outcome.stoppedAt.toISOString(),
      steps: outcome.steps.filter((s) => !s.nested).map((s) => ({ state: s.state, type: s.type, at: new Date(s.at).toISOString() })),
      ...(outcome.error !== undefined && { error: outcome.error, cause: readableCause(outcome.cause) }),
      record: described.record ?? null,
      output: outcome.output ?? null,
    });
  } else {
    ctx.io.out(
      `${outcome.status}${result.stoppedByUser ? ' (stopped with Ctrl-C)' : ''} after ${formatSeconds((outcome.stoppedAt.getTime() - outcome.startedAt.getTime()) / 1000)}${outcome.error ? `: ${outcome.error}: ${readableCause(outcome.cause)}` : ''}`,
    );
    for (const line of described.lines) {
      ctx.io.out(line);
    }
  }
  return code;
}

async function withRunner(ctx: CommandContext, body: (runner: ExecutionRunner) => Promise<number>): Promise<number> {
  const runner = await openRunner(ctx);
  try {
    return await body(runner);
  } finally {
    await runner.close();
  }
}

export const restoreCommand: Command = {
  spec: {
    name: 'restore',
    brief: 'start a restore with a validated input and follow it to its audit record',
    usage: 'restore <database> (--backup-id <id> | --at <instant> | --latest) --target-host <host> [options]',
    summary:
      'Starts the restore state machine with a validated input and follows it: Resolve, Guard, the restore task, Validate, Notify; then prints the audit record. Ctrl-C asks whether to stop it.',
    positionals: [{ name: 'database', required: false }],
    flags: RESTORE_FLAGS,
    examples: [
      'strongbox restore orders --latest --target-host orders-copy.internal --target-database orders_copy --target-secret-arn arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-copy-AbCdEf',
      'strongbox restore orders --at 2026-11-21T03:30:00Z --include public.orders --target-host orders-copy.internal --target-database orders_copy --target-secret-arn arn:...',
      'strongbox restore --input @restore.json --json',
      'strongbox restore demo --latest --local --target-host 127.0.0.1 --target-port 54329 --target-database demo_copy --target-secret-arn arn:aws:secretsmanager:eu-west-1:000000000000:secret:strongbox-local/demo-000000',
    ],
    notes: [
      "The input is checked with the restore state machine's own schema and Resolve's rules (database, engine, recovery point) before anything starts, so a mistake gets the same field-by-field message and exit code 2.",
    ],
  },
  run: async (ctx) => {
    const raw = restoreInputFromFlags(ctx);
    try {
      parseInput(RestoreInputSchema, raw, 'restore input');
    } catch (error) {
      throw error instanceof InputValidationError ? new InputValidationError(withFlagNames(error.message, RESTORE_FLAG_OF_FIELD)) : error;
    }
    return withRunner(ctx, async (runner) => {
      const vault = runner.vault;
      // Resolve itself, run ahead: plan-level rules and the recovery point, with the machine's own messages.
      const resolved = await resolveRestore(
        raw,
        { executionArn: 'arn:aws:states:::execution:cli-precheck', name: 'cli-precheck', startTime: ctx.now().toISOString() },
        {
          s3: vault.primary.s3,
          bucket: vault.primary.bucket,
          plan: vault.plan,
          restoreRoleArn: () => 'arn:aws:iam::000000000000:role/cli-precheck',
        },
      ).catch((error: unknown) => {
        throw error instanceof InputValidationError ? new InputValidationError(withFlagNames(error.message, RESTORE_FLAG_OF_FIELD)) : error;
      });
      progressWriter(ctx)(
        `Restoring ${resolved.backupId} (${resolved.requested}, taken ${resolved.takenAt}) of "${resolved.database}" to ${resolved.target.host}:${resolved.target.port}${resolved.target.database ? `/${resolved.target.database}` : ''}`,
      );
      return runAndFollow(ctx, runner, 'restore', raw, async (outcome) => {
        const audit = await findAudit(
          vault,
          resolved.database,
          outcome,
          vault.where === 'aws' && outcome.status === 'ABORTED' ? 10 : 1,
          ctx.aws?.pollMs ?? 2000,
        );
        return {
          code: outcome.status === 'SUCCEEDED' ? EXIT.ok : EXIT.failed,
          lines: [
            audit
              ? `Audit record restores/${audit.database}/${audit.startedAt}.json: ${describeAudit(audit)}`
              : 'No audit record (a run that fails at Resolve writes none).',
          ],
          ...(audit && { record: audit }),
        };
      });
    });
  },
};

export const drillCommand: Command = {
  spec: {
    name: 'drill',
    brief: 'start a drill and follow it to drill.json and the measured RTO',
    usage: 'drill <database>',
    summary:
      'Starts the drill state machine for a database and follows it: the newest verified backup restored into a throwaway engine inside the task and compared with its manifest; then prints drill.json and the measured RTO against the target.',
    positionals: [{ name: 'database', required: true }],
    flags: {},
    examples: ['strongbox drill orders', 'strongbox drill demo --local --json'],
  },
  run: async (ctx) => {
    const input = parseInput(DrillInputSchema, { database: ctx.positionals[0], trigger: 'manual' }, 'drill input');
    return withRunner(ctx, async (runner) => {
      requireDatabase(runner.vault.plan, input.database);
      return runAndFollow(ctx, runner, 'drill', input, async (outcome) => {
        const backupId = (outcome.output as { prepared?: { backupId?: string } } | undefined)?.prepared?.backupId;
        const record = backupId
          ? (await getJson(runner.vault.primary.s3, runner.vault.primary.bucket, keys.drill(backupId), DrillRecordSchema))?.value
          : undefined;
        const rto = runner.vault.plan.databases[input.database].rtoSeconds;
        return {
          code: outcome.status === 'SUCCEEDED' && record?.passed ? EXIT.ok : EXIT.failed,
          lines: record
            ? [
                `drill.json of ${record.backupId}: ${record.passed ? 'passed' : 'FAILED'}; measured RTO ${formatSeconds(record.restoreSeconds)} against a target of ${formatSeconds(rto)}${record.restoreSeconds > rto ? ' (OVER the target)' : ''}; ${record.checks.filter((c) => c.passed).length} of ${record.checks.length} checks passed${record.mismatches.length ? `; ${record.mismatches.length} mismatches` : ''}`,
              ]
            : ['No drill.json was written.'],
          ...(record && { record }),
        };
      });
    });
  },
};

/** A rehearsal's report as a person reads it: one line per group and database, then the plan RTO. */
export function rehearsalLines(report: DrReport): string[] {
  const lines = [`Rehearsal of ${report.plan} (no target touched):`];
  for (const group of report.groups ?? []) {
    lines.push(`  group ${group.group}: ${group.status}${group.seconds !== undefined ? ` in ${group.seconds} s` : ''}`);
    for (const db of group.databases) {
      const restore = db.restoreSeconds !== undefined ? `, restore ${db.restoreSeconds} s of ${db.backupId}` : '';
      lines.push(
        `    ${db.database}: ${db.status}${db.seconds !== undefined ? ` in ${db.seconds} s` : ''}${restore}${db.error ? ` (${db.error})` : ''}`,
      );
    }
  }
  const rto = report.rto;
  if (rto) {
    const target = rto.targetSeconds !== undefined ? `target ${rto.targetSeconds} s` : 'no target (drPlans[].rto not set)';
    lines.push(`  plan RTO: ${rto.measuredSeconds} s against ${target}: ${rto.met ? 'met' : 'NOT met'}`);
  }
  return lines;
}

export const drPlanCommand: Command = {
  spec: {
    name: 'dr-plan',
    brief: 'start a DR plan and follow it group by group',
    usage: 'dr-plan <plan> [--overwrite --confirm <plan> | --rehearse]',
    summary:
      'Starts the DR plan state machine and follows it group by group (each database restored by a nested restore execution); then prints what was and was not restored. --rehearse drills every database into throwaway engines instead (no target is touched) and prints each group and the plan RTO against drPlans[].rto.',
    positionals: [{ name: 'plan', required: true }],
    flags: {
      overwrite: { type: 'boolean', description: 'allow non-empty targets (needs --confirm <plan>)' },
      confirm: { type: 'string', value: '<plan>', description: 'must equal the plan name for --overwrite to go ahead' },
      'requested-by': { type: 'string', value: '<text>', description: 'for the audit trail (default: your user name and "strongbox CLI")' },
      rehearse: {
        type: 'boolean',
        description: 'rehearse: drill each database into a throwaway engine, measure the plan RTO; no target touched',
      },
    },
    examples: [
      'strongbox dr-plan region-loss',
      'strongbox dr-plan region-loss --overwrite --confirm region-loss --json',
      'strongbox dr-plan region-loss --rehearse',
    ],
  },
  run: async (ctx) => {
    const raw = {
      plan: ctx.positionals[0],
      ...(ctx.values.overwrite === true && { overwrite: true }),
      ...(ctx.values.confirm !== undefined && { confirm: ctx.values.confirm }),
      ...(ctx.values.rehearse === true && { rehearsal: true }),
      requestedBy: stringFlag(ctx.values, 'requested-by') ?? defaultRequestedBy(),
    };
    let input: unknown;
    try {
      input = parseInput(DrPlanInputSchema, raw, 'DR plan input');
    } catch (error) {
      throw error instanceof InputValidationError
        ? new InputValidationError(
            withFlagNames(error.message, {
              plan: '<plan>',
              overwrite: '--overwrite',
              confirm: '--confirm',
              requestedBy: '--requested-by',
              rehearsal: '--rehearse',
            }),
          )
        : error;
    }
    return withRunner(ctx, async (runner) => {
      const plans = Object.keys(runner.vault.plan.drPlans ?? {});
      if (!plans.includes(raw.plan)) {
        throw new CliUsageError(
          `plan: found ${JSON.stringify(raw.plan)}; expected one of the drPlans in the config: ${plans.join(', ') || '(none)'}`,
        );
      }
      return runAndFollow(ctx, runner, 'dr-plan', input, async (outcome) => {
        const report = outcome.output as DrReport | undefined;
        // A rehearsal over the plan RTO ran to its end, but scripts must not read it as a pass.
        const passed = outcome.status === 'SUCCEEDED' && report?.rto?.met !== false;
        return {
          code: passed ? EXIT.ok : EXIT.failed,
          lines: report?.groups ? rehearsalLines(report) : [report?.summary ?? readableCause(outcome.cause) ?? ''],
          ...(report && { record: report }),
        };
      });
    });
  },
};
