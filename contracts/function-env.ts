import * as z from 'zod';
import { describeIssues } from './issues';
import { TASK_ENV } from './task-env';

/**
 * Environment variable names the workflow constructs set on the Lambdas (identifiers only: bucket names,
 * topic ARNs, key ARNs; the plan is baked into the bundle and secrets never travel here).
 */
export const FUNCTION_ENV = {
  vaultBucket: 'STRONGBOX_VAULT_BUCKET',
  replicaBucket: 'STRONGBOX_REPLICA_BUCKET',
  replicaRegion: 'STRONGBOX_REPLICA_REGION',
  replicaKmsKey: 'STRONGBOX_REPLICA_KMS_KEY',
  chatTopicArn: 'STRONGBOX_CHAT_TOPIC_ARN',
  pagerTopicArn: 'STRONGBOX_PAGER_TOPIC_ARN',
  pageOnImportant: 'STRONGBOX_PAGE_ON_IMPORTANT',
  /**
   * JSON object: database name -> ARN of its restore role, which the restore and drill pass as the RunTask
   * TaskRoleArn override (it reads the database's backups and writes only drill.json).
   */
  restoreRoles: 'STRONGBOX_RESTORE_ROLES',
  /**
   * The restore role ARN with `{database}` where the database name goes. A fleet's restore roles have
   * deterministic names, so one template replaces the map, whose ~100 bytes per database outgrow Lambda's 4 KB
   * environment near 40 databases. Read before STRONGBOX_RESTORE_ROLES.
   */
  restoreRoleArnTemplate: 'STRONGBOX_RESTORE_ROLE_ARN_TEMPLATE',
  /** `off` where the vault has no Object Lock (the local runtime's s3rver); the deployed vaults always have it. */
  objectLock: 'STRONGBOX_OBJECT_LOCK',
  /** Set only by the local runtime: the S3-compatible endpoint standing in for the vaults. */
  s3Endpoint: TASK_ENV.s3Endpoint,
  // --- PostgreSQL restore to an instant (issue #13 step 5) ---
  /**
   * Fargate ephemeral storage, in GiB, of the PostgreSQL task definitions (infra/constructs/dump-task.ts): Resolve
   * refuses a WAL recovery whose base cannot fit there (contracts/recovery.ts recoveryDiskRefusal).
   */
  postgresTaskStorageGiB: 'STRONGBOX_POSTGRES_TASK_STORAGE_GIB',
} as const;

export class MissingEnvironmentError extends Error {
  public constructor(name: string) {
    super(`${name} is not set: the function was deployed without it (see its construct in infra/constructs/)`);
    this.name = 'MissingEnvironmentError';
  }
}

/** The restore role of a database, from STRONGBOX_RESTORE_ROLE_ARN_TEMPLATE or else STRONGBOX_RESTORE_ROLES. */
export function restoreRoleArn(database: string): string {
  const template = process.env[FUNCTION_ENV.restoreRoleArnTemplate];
  if (template) {
    return template.replaceAll('{database}', database);
  }
  const roles = JSON.parse(requireEnv(FUNCTION_ENV.restoreRoles)) as Record<string, string | undefined>;
  const arn = roles[database];
  if (!arn) {
    throw new MissingEnvironmentError(`${FUNCTION_ENV.restoreRoles} entry for "${database}"`);
  }
  return arn;
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new MissingEnvironmentError(name);
  }
  return value;
}

/** A bad environment value (not a missing one): the function was deployed or started with the wrong value. */
export class InvalidEnvironmentError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'InvalidEnvironmentError';
  }
}

/** AWS_REGION is set by the Lambda runtime itself (and by the local runtime), not by a construct. */
const ENV_NAMES = { ...FUNCTION_ENV, region: 'AWS_REGION' } as const;
type EnvKey = keyof typeof ENV_NAMES;

/** One function's environment: the variable names it reads and the schema that turns them into typed settings. */
export interface FunctionEnvSchema<T> {
  readonly names: readonly string[];
  readonly schema: z.ZodType<T>;
}

/**
 * Builds a function's env schema from FUNCTION_ENV keys, so the handler reads `env.vaultBucket` while the
 * template and the error messages use the variable's real name.
 */
function functionEnv<S extends { readonly [K in EnvKey]?: z.ZodType }>(
  shape: S,
): FunctionEnvSchema<{ readonly [K in keyof S]: S[K] extends z.ZodType ? z.output<S[K]> : never }> {
  const entries = Object.entries(shape) as [EnvKey, z.ZodType][];
  const schema = z
    .object(Object.fromEntries(entries.map(([key, value]) => [ENV_NAMES[key], value])))
    .transform((env) => Object.fromEntries(entries.map(([key]) => [key, env[ENV_NAMES[key]]])));
  return { names: entries.map(([key]) => ENV_NAMES[key]), schema: schema as never };
}

const bucket = z.string().min(3, { error: 'expected an S3 bucket name' });
const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: 'expected an AWS region code such as "eu-west-1"' });
const arn = (what: string) => z.string().startsWith('arn:', { error: `expected the ARN of ${what}` });
const flag = z.enum(['true', 'false'], { error: 'expected "true" or "false"' });
/** Set to "off" only by the local runtime (s3rver has no Object Lock); the deployed functions never get it. */
const objectLock = z.literal('off', { error: 'expected "off" (or leave the variable unset)' }).optional();
/** The restore roles' ARN with `{database}` for the name (run-task-grants.ts sets it); filled in by restoreRoleArn. */
const restoreRoleArnTemplate = z
  .string()
  .startsWith('arn:', { error: 'expected an IAM role ARN with {database} where the database name goes' })
  .includes('{database}', { error: 'expected an IAM role ARN with {database} where the database name goes' });

// One schema per function, listing exactly what its construct sets (infra/constructs/*-workflow.ts, watchdog.ts).
export const PrepareEnvSchema = functionEnv({ vaultBucket: bucket });
export const VerifyEnvSchema = functionEnv({ vaultBucket: bucket });
export const ReplicateEnvSchema = functionEnv({
  vaultBucket: bucket,
  replicaBucket: bucket,
  replicaRegion: region,
  replicaKmsKey: arn("the replica vault's KMS key"),
});
export const RetainEnvSchema = functionEnv({ vaultBucket: bucket, replicaBucket: bucket, replicaRegion: region, objectLock });
export const NotifyEnvSchema = functionEnv({
  vaultBucket: bucket,
  chatTopicArn: arn('the chat SNS topic'),
  pagerTopicArn: arn('the pager SNS topic').optional(),
  pageOnImportant: flag,
  region,
});
export const ReleaseLockEnvSchema = functionEnv({ vaultBucket: bucket });
export const ResolveEnvSchema = functionEnv({
  vaultBucket: bucket,
  chatTopicArn: arn('the chat SNS topic'),
  restoreRoleArnTemplate,
  postgresTaskStorageGiB: z.coerce
    .number({ error: "expected the whole GiB of the PostgreSQL task's ephemeral storage, 20 to 200" })
    .int({ error: "expected the whole GiB of the PostgreSQL task's ephemeral storage, 20 to 200" })
    .min(20, { error: "expected the whole GiB of the PostgreSQL task's ephemeral storage, 20 to 200" })
    .max(200, { error: "expected the whole GiB of the PostgreSQL task's ephemeral storage, 20 to 200" })
    // Unset (a Resolve deployed before WAL recovery, or a hand-made environment): Fargate's default, the floor.
    .optional(),
});
export const GuardEnvSchema = functionEnv({ vaultBucket: bucket, chatTopicArn: arn('the chat SNS topic') });
export const ValidateEnvSchema = functionEnv({ vaultBucket: bucket, chatTopicArn: arn('the chat SNS topic') });
export const RestoreNotifyEnvSchema = functionEnv({ vaultBucket: bucket, chatTopicArn: arn('the chat SNS topic') });
export const DrillPrepareEnvSchema = functionEnv({ vaultBucket: bucket, chatTopicArn: arn('the chat SNS topic'), restoreRoleArnTemplate });
export const DrillReportEnvSchema = functionEnv({ vaultBucket: bucket, chatTopicArn: arn('the chat SNS topic') });
export const DrPlanEnvSchema = functionEnv({ chatTopicArn: arn('the chat SNS topic') });
export const WatchdogEnvSchema = functionEnv({ vaultBucket: bucket });

/**
 * Reads a function's settings from `source`. A variable that is missing (or empty) throws
 * MissingEnvironmentError naming it; a malformed one throws InvalidEnvironmentError naming it and the fix.
 */
export function parseFunctionEnv<T>(env: FunctionEnvSchema<T>, source: NodeJS.ProcessEnv = process.env): T {
  const picked = Object.fromEntries(env.names.flatMap((name) => (source[name] ? [[name, source[name]]] : [])));
  const result = env.schema.safeParse(picked);
  if (result.success) {
    return result.data;
  }
  const missing = [...new Set(result.error.issues.map((issue) => String(issue.path[0])).filter((name) => picked[name] === undefined))];
  if (missing.length > 0) {
    throw new MissingEnvironmentError(missing.join(', '));
  }
  throw new InvalidEnvironmentError(`Invalid function environment:\n${describeIssues(result.error, picked).join('\n')}`);
}
