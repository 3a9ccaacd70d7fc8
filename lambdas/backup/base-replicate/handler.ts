import { ReplicateEnvSchema } from '../../../contracts/function-env';
import { BaseRefSchema } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { metrics, tracer } from '../../runtime/powertools';
import { regionalVaultS3Client, vaultS3Client } from '../../runtime/vault-client';
import { replicateBase } from '../replicate/bases';

const source = tracer.captureAWSv3Client(vaultS3Client());

export const handler = lambdaHandler({ name: 'Replicate base event', schema: BaseRefSchema, env: ReplicateEnvSchema }, async (event, env) =>
  replicateBase(event, {
    source,
    replica: regionalVaultS3Client(env.replicaRegion),
    sourceBucket: env.vaultBucket,
    replicaBucket: env.replicaBucket,
    replicaKmsKey: env.replicaKmsKey,
    metrics,
    plan: loadPlan(),
  }),
);
