import type { S3Client } from '@aws-sdk/client-s3';
import { keys } from '../shared/catalog';
import { InputValidationError, parseInput, RestoreRefusedError } from '../shared/errors';
import { type DatabasePlan, DEFAULT_PORTS, type Plan } from '../shared/plan';
import { type ResolvedRestore, type RestoreExecution, type RestoreInput, RestoreInputSchema } from '../shared/restore-payloads';
import { TASK_ENV } from '../shared/task-env';
import { describePoints, listStoredBackups, nearestVerified, newestVerified, pointStatus, type StoredBackup } from './recovery-points';

export interface ResolveDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly plan: Plan;
  /** ARN of the database's restore role (the RunTask TaskRoleArn override). */
  readonly restoreRoleArn: (database: string) => string;
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
  const input = parseInput(RestoreInputSchema, rawInput, 'restore input');
  const db = deps.plan.databases[input.database];
  if (!db) {
    const known = Object.keys(deps.plan.databases);
    throw new InputValidationError(
      `Invalid restore input:\ndatabase: found ${JSON.stringify(input.database)}; expected one of the configured databases: ${known.join(', ') || '(none)'}`,
    );
  }
  checkAgainstEngine(input, db);
  const backup = await settleRecoveryPoint(input, deps);
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
    { Name: TASK_ENV.backupId, Value: backup.backupId },
    { Name: TASK_ENV.targetHost, Value: target.host },
    { Name: TASK_ENV.targetPort, Value: String(target.port) },
    ...(target.database ? [{ Name: TASK_ENV.targetName, Value: target.database }] : []),
    ...(target.secretArn ? [{ Name: TASK_ENV.targetSecretArn, Value: target.secretArn }] : []),
    ...(include.length > 0 ? [{ Name: TASK_ENV.include, Value: JSON.stringify(include) }] : []),
    { Name: TASK_ENV.restoreOverwrite, Value: String(overwriteConfirmed) },
    ...(input.privileges !== 'restore' ? [{ Name: TASK_ENV.restorePrivileges, Value: input.privileges }] : []),
    ...(input.roles === 'create' ? [{ Name: TASK_ENV.restoreCreateRoles, Value: 'true' }] : []),
    ...(input.definers !== 'require' ? [{ Name: TASK_ENV.restoreDefiners, Value: input.definers }] : []),
    { Name: TASK_ENV.trigger, Value: `restore:${execution.name}` },
  ];
  return {
    database: input.database,
    engine: db.engine,
    backupId: backup.backupId,
    takenAt: backup.takenAt.toISOString(),
    requested: input.backupId ? `backupId ${input.backupId}` : input.pointInTime ? `pointInTime ${input.pointInTime}` : 'latest',
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
    taskRoleArn: deps.restoreRoleArn(input.database),
    environment,
    execution,
    ...(db.connection.database !== undefined && { sourceDatabase: db.connection.database }),
    auditKey: keys.restoreAudit(input.database, new Date(execution.startTime)),
  };
}

/** Rules that depend on the engine, reported in the same `field: found ...; expected ...` shape as the schema's. */
function checkAgainstEngine(input: RestoreInput, db: DatabasePlan): void {
  const problems: string[] = [];
  const found = (value: unknown) => (value === undefined ? 'nothing' : JSON.stringify(value));
  const needsCredentials = db.engine !== 'redis';
  if (needsCredentials && !input.target.secretArn) {
    problems.push(`target.secretArn: found nothing; expected a Secrets Manager ARN: ${db.engine} needs credentials to restore into`);
  }
  if (db.engine === 'postgres' && !input.target.database) {
    problems.push('target.database: found nothing; expected the name of an existing database to restore into (pg_restore --dbname)');
  }
  if (db.engine === 'redis' && input.target.database !== undefined) {
    problems.push(
      `target.database: found ${found(input.target.database)}; expected no database for redis: keys go back into the logical databases (db0, db1, ...) they were dumped from`,
    );
  }
  (input.include ?? []).forEach((name, index) => {
    if (db.engine === 'redis' ? !REDIS_PATTERN.test(name) : !QUALIFIED.test(name)) {
      const shape =
        db.engine === 'postgres'
          ? '"schema" or "schema.table", such as "public.orders"'
          : db.engine === 'redis'
            ? 'a key glob pattern without spaces, such as "session:*"'
            : '"database" or "database.table", such as "shop.orders"';
      problems.push(`include.${index}: found ${found(name)}; expected ${shape}`);
    }
  });
  if (db.engine !== 'postgres' && input.privileges !== 'restore') {
    problems.push(`privileges: found ${found(input.privileges)}; expected it left out: only PostgreSQL restores have a privileges option`);
  }
  if (db.engine !== 'postgres' && input.roles !== 'require') {
    problems.push(`roles: found ${found(input.roles)}; expected it left out: only PostgreSQL backups store role definitions`);
  }
  if (db.engine !== 'mysql' && db.engine !== 'mariadb' && input.definers !== 'require') {
    problems.push(`definers: found ${found(input.definers)}; expected it left out: only MySQL/MariaDB objects have DEFINER accounts`);
  }
  if (problems.length > 0) {
    throw new InputValidationError(`Invalid restore input:\n${problems.join('\n')}`);
  }
}

async function settleRecoveryPoint(input: RestoreInput, deps: ResolveDeps): Promise<StoredBackup> {
  const { s3, bucket } = deps;
  const backups = await listStoredBackups(s3, bucket, input.database);
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
