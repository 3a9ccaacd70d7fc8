import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { addConditionalWriteShim } from '../lambdas/runtime/s3-conditional-shim';
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
} as const;

export class MissingEnvironmentError extends Error {
  public constructor(name: string) {
    super(`${name} is not set: the function was deployed without it (see infra/constructs/backup-workflow.ts)`);
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

/**
 * The S3 client for a vault. With a custom endpoint (local runtime only) it talks path-style to s3rver and
 * gets the conditional-write shim, because s3rver ignores If-None-Match / If-Match.
 */
export function vaultS3Client(region?: string): S3Client {
  const endpoint = process.env[FUNCTION_ENV.s3Endpoint];
  const config: S3ClientConfig = { region };
  if (!endpoint) {
    return new S3Client(config);
  }
  return addConditionalWriteShim(
    new S3Client({
      ...config,
      endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
  );
}

/** Runs `fn` over `items` with at most `limit` calls in flight, keeping the input order in the result. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
