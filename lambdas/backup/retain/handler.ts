import { RetainEnvSchema } from '../../../contracts/function-env';
import { RetainEventSchema, type RetainResult } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { tracer } from '../../runtime/powertools';
import { regionalVaultS3Client, vaultS3Client } from '../../runtime/vault-client';
import { retain } from './retain';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

export const handler = lambdaHandler(
  { name: 'Retain event', schema: RetainEventSchema, env: RetainEnvSchema },
  async (event, env): Promise<RetainResult> => {
    // The full plan goes to the log (retain.ts); the state payload keeps the capped summary.
    const { plan: _plan, ...result } = await retain(event, {
      s3,
      bucket: env.vaultBucket,
      replica: { s3: regionalVaultS3Client(env.replicaRegion), bucket: env.replicaBucket },
      plan: loadPlan(),
      objectLock: env.objectLock !== 'off',
    });
    return result;
  },
);
