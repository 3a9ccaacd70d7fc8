import type { S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_PORTS, ENGINES_NEEDING_CREDENTIALS, RESTORE_RULES, type RestoreRules } from '../../../contracts/engines';
import { closestNames, InputValidationError, parseInput, RestoreRefusedError } from '../../../contracts/errors';
import { isIncluded } from '../../../contracts/inventory';
import { shown } from '../../../contracts/issues';
import { drPlanOfRestore } from '../../../contracts/payloads/dr-plan';
import {
  type RecoveryPlanPayload,
  type ResolvedRestore,
  type RestoreExecution,
  type RestoreInput,
  RestoreInputSchema,
  RUN_TASK_OVERRIDES_LIMIT,
} from '../../../contracts/payloads/restore';
import type { DatabasePlan, Plan } from '../../../contracts/plan';
import { FARGATE_EPHEMERAL_STORAGE_GIB } from '../../../contracts/recovery';
import { TASK_CONTAINER_NAME, TASK_ENV } from '../../../contracts/task-env';
import { keys, ManifestSchema } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';
import { planLogReplay, replayStopOf } from './log-replay';
import { describePoints, listStoredBackups, nearestVerified, newestVerified, pointStatus, type StoredBackup } from './recovery-points';
import { planWalRecovery, walStopOf } from './wal-recovery';

export interface ResolveDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly plan: Plan;
  /** ARN of the database's restore role (the RunTask TaskRoleArn override). */
  readonly restoreRoleArn: (database: string) => string;
  /**
   * Ephemeral storage of the PostgreSQL task, GiB, which a WAL recovery must fit in.
   * @default Fargate's own when a task definition sets none (FARGATE_EPHEMERAL_STORAGE_GIB.default)
   */
  readonly postgresTaskStorageGiB?: number;
}

// Identifiers as PostgreSQL and MySQL print them unquoted; anything fancier is restored whole, not selected.
const IDENT = '[A-Za-z_][A-Za-z0-9_$]*';
const QUALIFIED = new RegExp(`^${IDENT}(\\.${IDENT})?$`);
const REDIS_PATTERN = /^[^\s]{1,512}$/;

/**
 * The first state of the restore machine. It validates the raw input (schema, then the checks that need the
 * plan: database, engine-specific target and include rules) and settles the recovery point on a verified
 * backup. Anything wrong fails here, before a task starts or a byte moves.
 */
export async function resolveRestore(rawInput: unknown, execution: RestoreExecution, deps: ResolveDeps): Promise<ResolvedRestore> {
  if (rawInput === null || typeof rawInput !== 'object' || Array.isArray(rawInput)) {
    throw new InputValidationError(
      `Invalid restore input:\n(input): found ${shown(rawInput ?? null)}; expected a JSON object such as {"database": "orders", "latest": true, "target": {"host": "orders-copy.internal", "database": "orders_copy", "secretArn": "arn:aws:secretsmanager:..."}}`,
    );
  }
  const input = parseInput(RestoreInputSchema, rawInput, 'restore input');
  const db = deps.plan.databases[input.database];
  if (!db) {
    const known = Object.keys(deps.plan.databases);
    throw new InputValidationError(
      `Invalid restore input:\ndatabase: found ${JSON.stringify(input.database)}; expected one of the configured databases: ${known.join(', ') || '(none)'}`,
    );
  }
  checkAgainstEngine(input, db);
  const walStop = walStopOf(input, db);
  const stop = walStop ? undefined : replayStopOf(input, db);
  const replay = stop && (await planLogReplay(input, stop, db, execution, deps));
  // --- PostgreSQL restore to an instant, an LSN or a restore point (issue #13 step 5) ---
  const wal =
    walStop &&
    (await planWalRecovery(input, walStop, db, execution, {
      ...deps,
      storageGiB: deps.postgresTaskStorageGiB ?? FARGATE_EPHEMERAL_STORAGE_GIB.default,
    }));
  const recovery = wal?.kind === 'recovery' ? wal.recovery : undefined;
  if (recovery && input.roles === 'create') {
    throw new InputValidationError(
      `Invalid restore input:\nroles: found "create"; expected it left out for a point-in-time recovery of "${input.database}": the roles are recovered with the cluster, not stored beside the base backup; create the missing roles on the target first, or set "privileges": "skip"`,
    );
  }
  const backup: Pick<StoredBackup, 'backupId' | 'takenAt'> = replay
    ? replay.backup
    : wal?.kind === 'dump'
      ? wal.backup
      : wal?.kind === 'recovery'
        ? { backupId: wal.base.baseId, takenAt: new Date(wal.base.finishedAt) }
        : await settleRecoveryPoint(input, execution, deps);
  // A recovered cluster has no manifest to check names against before the recovery: Validate checks them on the target.
  if (RESTORE_RULES[db.engine].include.kind === 'qualified' && input.include && !recovery) {
    await checkIncludeInBackup(input.include, backup.backupId, db, deps);
  }
  const target = {
    host: input.target.host,
    port: input.target.port ?? DEFAULT_PORTS[db.engine],
    ...(input.target.database !== undefined && { database: input.target.database }),
    ...(input.target.secretArn !== undefined && { secretArn: input.target.secretArn }),
    tls: db.connection.tls,
  };
  const overwriteConfirmed = input.overwrite === true && input.confirm === input.database;
  const include = input.include ?? [];
  const environment = [
    { Name: TASK_ENV.command, Value: 'restore' },
    ...(recovery ? recoveryEnvironment(recovery) : [{ Name: TASK_ENV.backupId, Value: backup.backupId }]),
    { Name: TASK_ENV.targetHost, Value: target.host },
    { Name: TASK_ENV.targetPort, Value: String(target.port) },
    ...(target.database ? [{ Name: TASK_ENV.targetName, Value: target.database }] : []),
    ...(target.secretArn ? [{ Name: TASK_ENV.targetSecretArn, Value: target.secretArn }] : []),
    ...(include.length > 0 ? [{ Name: TASK_ENV.include, Value: JSON.stringify(include) }] : []),
    { Name: TASK_ENV.restoreOverwrite, Value: String(overwriteConfirmed) },
    ...(input.privileges !== 'restore' ? [{ Name: TASK_ENV.restorePrivileges, Value: input.privileges }] : []),
    ...(input.roles === 'create' ? [{ Name: TASK_ENV.restoreCreateRoles, Value: 'true' }] : []),
    ...(input.definers !== 'require' ? [{ Name: TASK_ENV.restoreDefiners, Value: input.definers }] : []),
    ...(replay?.described.segmentIds.length ? [{ Name: TASK_ENV.replayStop, Value: JSON.stringify(replay.described.stop) }] : []),
    { Name: TASK_ENV.trigger, Value: `restore:${execution.name}` },
    { Name: TASK_ENV.executionName, Value: execution.name },
  ];
  const taskRoleArn = deps.restoreRoleArn(input.database);
  checkOverridesSize(environment, taskRoleArn);
  const drPlan = drPlanOfRestore(input, deps.plan.drPlans, DEFAULT_PORTS[db.engine]);
  return {
    database: input.database,
    engine: db.engine,
    backupId: backup.backupId,
    takenAt: backup.takenAt.toISOString(),
    requested: requestedOf(input),
    target,
    include,
    overwrite: input.overwrite,
    overwriteConfirmed,
    ...(input.requestedBy !== undefined && { requestedBy: input.requestedBy }),
    ...(input.privileges !== 'restore' && { privileges: input.privileges }),
    ...(input.roles !== 'require' && { roles: input.roles }),
    ...(input.definers !== 'require' && { definers: input.definers }),
    taskFamily: db.taskFamily,
    taskTimeoutSeconds: db.taskTimeoutSeconds,
    taskRoleArn,
    environment,
    execution,
    ...(db.connection.database !== undefined && { sourceDatabase: db.connection.database }),
    auditKey: keys.restoreAudit(input.database, new Date(execution.startTime)),
    ...(drPlan !== undefined && { drPlan }),
    ...(replay && { replay: replay.described }),
    ...(wal?.kind === 'dump' && { replay: wal.replay }),
    ...(recovery && { recovery }),
    ...(input.dryRun && { dryRun: true as const }),
  };
}

function requestedOf(input: RestoreInput): string {
  if (input.backupId) {
    return `backupId ${input.backupId}`;
  }
  if (input.pointInTime) {
    return `pointInTime ${input.pointInTime}`;
  }
  if (input.position) {
    return `position ${input.position.file}:${input.position.position}`;
  }
  if (input.lsn) {
    return `lsn ${input.lsn}`;
  }
  if (input.restorePoint) {
    return `restorePoint ${input.restorePoint}`;
  }
  return input.gtid ? `gtid ${input.gtid}` : 'latest';
}

/** The base and the one stop variable a WAL recovery's task reads (identifiers and a stop only, never a credential). */
function recoveryEnvironment(recovery: RecoveryPlanPayload): { Name: string; Value: string }[] {
  const target = recovery.target;
  return [
    { Name: TASK_ENV.recoveryBaseId, Value: recovery.baseId },
    ...(target.kind === 'time' ? [{ Name: TASK_ENV.recoveryTime, Value: target.at }] : []),
    ...(target.kind === 'lsn' ? [{ Name: TASK_ENV.recoveryLsn, Value: target.lsn }] : []),
    ...(target.kind === 'name' ? [{ Name: TASK_ENV.recoveryName, Value: target.name }] : []),
  ];
}

/**
 * The schema keeps each field within its own limit; this checks the whole of what RunTask will carry, so a
 * combination of long values fails here, naming the fields, rather than at RunTask (or, locally, at spawn).
 */
function checkOverridesSize(environment: readonly { Name: string; Value: string }[], taskRoleArn: string): void {
  const overrides = { TaskRoleArn: taskRoleArn, ContainerOverrides: [{ Name: TASK_CONTAINER_NAME, Environment: environment }] };
  const size = JSON.stringify(overrides).length;
  if (size > RUN_TASK_OVERRIDES_LIMIT) {
    const largest = [...environment]
      .sort((a, b) => b.Value.length - a.Value.length)
      .slice(0, 2)
      .map((e) => `${e.Name} ${e.Value.length} characters`)
      .join(', ');
    throw new InputValidationError(
      `Invalid restore input:\n(input): found values that make ${size} characters of ECS RunTask overrides (largest: ${largest}); expected at most ${RUN_TASK_OVERRIDES_LIMIT} (8 KiB) in all: shorten "include" (select whole schemas or databases) or "target"`,
    );
  }
}

/**
 * Every `include` name must select something the backup holds: a misspelt table would otherwise restore an
 * empty database that Validate finds "matching" (zero objects compared). The manifest's inventory is the
 * backup's table of contents; names are compared as the manifest spells them (source database names for MySQL).
 */
async function checkIncludeInBackup(include: readonly string[], backupId: string, db: DatabasePlan, deps: ResolveDeps): Promise<void> {
  const manifest = (await getJson(deps.s3, deps.bucket, keys.manifest(backupId), ManifestSchema))?.value;
  if (!manifest) {
    throw new RestoreRefusedError(`Recovery point ${backupId} has no readable manifest, so "include" cannot be checked against it`);
  }
  const names = manifest.inventory.entries.map((e) => e.name);
  const candidates = [...names, ...names.map((n) => n.split('.')[0])];
  const what = RESTORE_RULES[db.engine].include.noun;
  const problems = include.flatMap((name, index) =>
    names.some((entry) => isIncluded(entry, [name], db.engine))
      ? []
      : [
          `include.${index}: found ${shown(name)}; expected ${what} that backup ${backupId} holds; closest: ${closestNames(name, candidates).join(', ') || '(the backup holds no tables)'}`,
        ],
  );
  if (problems.length > 0) {
    throw new InputValidationError(`Invalid restore input:\n${problems.join('\n')}`);
  }
}

/** Rules that depend on the engine (RESTORE_RULES), reported in the same `field: found ...; expected ...` shape as the schema's. */
function checkAgainstEngine(input: RestoreInput, db: DatabasePlan): void {
  const problems: string[] = [];
  const found = shown;
  const rules = RESTORE_RULES[db.engine];
  if (ENGINES_NEEDING_CREDENTIALS.includes(db.engine) && !input.target.secretArn) {
    problems.push(`target.secretArn: found nothing; expected a Secrets Manager ARN: ${db.engine} needs credentials to restore into`);
  }
  const target = input.target.database;
  if (rules.targetDatabase.rule === 'required' && !target) {
    problems.push(`target.database: found nothing; expected ${rules.targetDatabase.why}`);
  }
  if (rules.targetDatabase.rule === 'forbidden' && target !== undefined) {
    problems.push(`target.database: found ${found(target)}; expected ${rules.targetDatabase.why}`);
  }
  // Only an engine that needs a target database names it; the optional ones (MySQL) take the dump's names.
  if (rules.targetDatabase.rule === 'required' && target && identifierTooLong(target, rules)) {
    problems.push(
      `target.database: found ${found(target)}; expected at most ${limitText(rules)}, the longest name PostgreSQL keeps (it would silently truncate a longer one)`,
    );
  }
  (input.include ?? []).forEach((name, index) => {
    if (rules.include.kind === 'glob' ? !REDIS_PATTERN.test(name) : !QUALIFIED.test(name)) {
      problems.push(`include.${index}: found ${found(name)}; expected ${rules.include.shape}`);
    } else if (rules.include.kind === 'qualified' && name.split('.').some((part) => identifierTooLong(part, rules))) {
      problems.push(
        `include.${index}: found ${found(name)}; expected names of at most ${limitText(rules)} each, the longest ${db.engine} keeps`,
      );
    }
  });
  if (!rules.roles && input.privileges !== 'restore') {
    problems.push(`privileges: found ${found(input.privileges)}; expected it left out: only PostgreSQL restores have a privileges option`);
  }
  if (!rules.roles && input.roles !== 'require') {
    problems.push(`roles: found ${found(input.roles)}; expected it left out: only PostgreSQL backups store role definitions`);
  }
  if (!rules.definers && input.definers !== 'require') {
    problems.push(`definers: found ${found(input.definers)}; expected it left out: only MySQL/MariaDB objects have DEFINER accounts`);
  }
  if (problems.length > 0) {
    throw new InputValidationError(`Invalid restore input:\n${problems.join('\n')}`);
  }
}

function identifierTooLong(identifier: string, rules: RestoreRules): boolean {
  const limit = rules.identifierLimit;
  return limit !== undefined && (limit.unit === 'bytes' ? Buffer.byteLength(identifier) : identifier.length) > limit.max;
}

function limitText(rules: RestoreRules): string {
  return `${rules.identifierLimit?.max} ${rules.identifierLimit?.unit}`;
}

async function settleRecoveryPoint(input: RestoreInput, execution: RestoreExecution, deps: ResolveDeps): Promise<StoredBackup> {
  const { s3, bucket } = deps;
  const backups = await listStoredBackups(s3, bucket, input.database);
  // The newest backup "at or before" an instant still to come is only the newest backup so far: a restore
  // that silently restored "latest" for a mistyped year would look like the point that was asked for.
  if (input.pointInTime && Date.parse(input.pointInTime) > Date.parse(execution.startTime)) {
    const newest = await newestVerified(s3, bucket, backups);
    throw new InputValidationError(
      `Invalid restore input:\npointInTime: found ${shown(input.pointInTime)}; expected an instant no later than the start of this execution (${execution.startTime}): ${
        newest
          ? `the newest restorable point of "${input.database}" is ${newest.backupId} (taken ${newest.takenAt.toISOString()}); use "latest": true or that backupId`
          : `"${input.database}" has no verified backup yet`
      }`,
    );
  }
  const refuse = async (what: string, around: Date) => {
    const nearest = await nearestVerified(s3, bucket, backups, around);
    return new RestoreRefusedError(
      `${what}. Nearest verified recovery points of "${input.database}": ${describePoints(nearest, input.database)}`,
    );
  };
  if (input.backupId) {
    const backup = backups.find((b) => b.backupId === input.backupId);
    if (!backup) {
      throw await refuse(`Recovery point backupId "${input.backupId}" does not exist in the vault`, parseTime(input.backupId));
    }
    const status = await pointStatus(s3, bucket, backup);
    if (!status.usable) {
      throw await refuse(`Recovery point backupId "${input.backupId}" ${status.reason}`, backup.takenAt);
    }
    return backup;
  }
  const before = input.pointInTime ? new Date(input.pointInTime) : undefined;
  const found = await newestVerified(s3, bucket, backups, before);
  if (!found) {
    throw before
      ? await refuse(`No verified backup of "${input.database}" was taken at or before pointInTime ${input.pointInTime}`, before)
      : await refuse(`Recovery point "latest": "${input.database}" has no verified backup`, new Date());
  }
  return found;
}

function parseTime(backupId: string): Date {
  const t = /-(\d{8}T\d{6}Z)-/.exec(backupId)?.[1] ?? '';
  return new Date(`${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`);
}
