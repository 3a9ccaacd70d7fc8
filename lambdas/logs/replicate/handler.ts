import { ReplicateEnvSchema } from '../../../contracts/function-env';
import { ReplicateSegmentsEventSchema } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { replicateSegments } from '../../backup/replicate/segments';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { metrics, tracer } from '../../runtime/powertools';
import { regionalVaultS3Client, vaultS3Client } from '../../runtime/vault-client';

const source = tracer.captureAWSv3Client(vaultS3Client());

export const handler = lambdaHandler(
  { name: 'Replicate segments event', schema: ReplicateSegmentsEventSchema, env: ReplicateEnvSchema },
  async (event, env) =>
    replicateSegments(event.database, {
      source,
      replica: regionalVaultS3Client(env.replicaRegion),
      sourceBucket: env.vaultBucket,
      replicaBucket: env.replicaBucket,
      replicaKmsKey: env.replicaKmsKey,
      metrics,
      plan: loadPlan(),
    }),
);
