import { lookup } from 'node:dns/promises';
import { GuardEnvSchema } from '../../../contracts/function-env';
import { includeOnTarget } from '../../../contracts/inventory';
import { type ResolvedRestore, ResolvedRestoreSchema } from '../../../contracts/payloads/restore';
import { loadPlan } from '../../../contracts/plan';
import { keys, ManifestSchema } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';
import { secretsManagerReader } from '../../../engines/connection';
import { ADAPTERS } from '../../../engines/index';
import { assertRolesPresent, assertTargetWritable, checkDefiners } from '../../../engines/target-guard';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { restoreTargetConnection } from '../restore-target';
import { guardRestore } from './restore-guard';

const resolveAddresses = async (host: string) => (await lookup(host, { all: true })).map((entry) => entry.address);
const readSecret = secretsManagerReader();
const s3 = tracer.captureAWSv3Client(vaultS3Client());

/** The task's own non-empty check, run from the VPC against the target before the task is started. */
const checkTarget = async (resolved: ResolvedRestore) =>
  assertTargetWritable({
    database: resolved.database,
    engine: resolved.engine,
    adapter: ADAPTERS[resolved.engine],
    connection: await restoreTargetConnection(resolved, readSecret),
    include: includeOnTarget(resolved.include, resolved.engine, resolved.sourceDatabase, resolved.target.database),
    overwrite: resolved.overwriteConfirmed,
  });

/**
 * PostgreSQL: the roles the backup's owners and privileges name (from its manifest) must exist on the target,
 * unless the restore skips privileges or creates the roles (then only a backup without stored roles is refused).
 */
const checkRoles = (bucket: string) => async (resolved: ResolvedRestore) => {
  // A WAL recovery has no logical manifest listing roles: the task's pg_restore (one transaction) refuses a missing one.
  const manifest = resolved.recovery ? undefined : await getJson(s3, bucket, keys.manifest(resolved.backupId), ManifestSchema);
  await assertRolesPresent({
    database: resolved.database,
    connection: await restoreTargetConnection(resolved, readSecret),
    required: manifest?.value.requires?.roles ?? [],
    create: resolved.roles === 'create',
    rolesStored: manifest?.value.roles !== undefined,
  });
};

/** The DEFINER accounts of the backup (its manifest's requires.definers) that the target lacks. */
const definersOnTarget = (bucket: string) => async (resolved: ResolvedRestore) => {
  if (resolved.engine !== 'mysql' && resolved.engine !== 'mariadb') {
    return [];
  }
  const manifest = await getJson(s3, bucket, keys.manifest(resolved.backupId), ManifestSchema);
  return checkDefiners({
    database: resolved.database,
    engine: resolved.engine,
    connection: await restoreTargetConnection(resolved, readSecret),
    definers: manifest?.value.requires?.definers,
    mode: resolved.definers ?? 'require',
  });
};

// Resolve produced this payload, so a failure to parse it is a bug between the two states, not an input mistake.
export const handler = lambdaHandler({ name: 'Guard event', schema: ResolvedRestoreSchema, env: GuardEnvSchema }, async (event, env) =>
  guardRestore(event, {
    plan: loadPlan(),
    lookup: resolveAddresses,
    checkTarget,
    checkRoles: checkRoles(env.vaultBucket),
    checkDefiners: definersOnTarget(env.vaultBucket),
  }),
);
