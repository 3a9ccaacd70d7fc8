import { RetainEnvSchema } from '../../../contracts/function-env';
import { RetainEventSchema } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { tracer } from '../../runtime/powertools';
import { regionalVaultS3Client, vaultS3Client } from '../../runtime/vault-client';
import { retainBases } from '../retain/bases';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

export const handler = lambdaHandler(
  { name: 'Retain bases event', schema: RetainEventSchema, env: RetainEnvSchema },
  async (event, env) => {
    const plan = loadPlan();
    return retainBases(
      { database: event.database, dryRun: event.dryRun, ...(event.now && { now: new Date(event.now) }) },
      {
        s3,
        bucket: env.vaultBucket,
        replica: { s3: regionalVaultS3Client(env.replicaRegion), bucket: env.replicaBucket },
        objectLock: env.objectLock !== 'off',
        graceSeconds: plan.graceSeconds,
        concurrency: 16,
        plan,
      },
    );
  },
);
