import { ValidateEnvSchema } from '../../../contracts/function-env';
import { type ResolvedRestore, ResolvedRestoreSchema } from '../../../contracts/payloads/restore';
import { secretsManagerReader } from '../../../engines/connection';
import { ADAPTERS } from '../../../engines/index';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { restoreTargetConnection } from '../restore-target';
import { validateRestore } from './restore-validate';

const s3 = tracer.captureAWSv3Client(vaultS3Client());
const readSecret = secretsManagerReader();

/** Counts the target with the dump task's own adapter, so a restore is checked exactly as the dump counted. */
async function readInventory(resolved: ResolvedRestore) {
  return ADAPTERS[resolved.engine].inventory(await restoreTargetConnection(resolved, readSecret));
}

export const handler = lambdaHandler(
  { name: 'Validate event', schema: ResolvedRestoreSchema, env: ValidateEnvSchema },
  async (event, env) => validateRestore(event, { s3, bucket: env.vaultBucket, readInventory }),
);
