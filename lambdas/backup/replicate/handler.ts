import { ReplicateEnvSchema } from '../../../contracts/function-env';
import { BackupRefSchema } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { metrics, tracer } from '../../runtime/powertools';
import { regionalVaultS3Client, vaultS3Client } from '../../runtime/vault-client';
import { replicate } from './replicate';

const source = tracer.captureAWSv3Client(vaultS3Client());

export const handler = lambdaHandler({ name: 'Replicate event', schema: BackupRefSchema, env: ReplicateEnvSchema }, async (event, env) =>
  replicate(event, {
    source,
    replica: regionalVaultS3Client(env.replicaRegion),
    sourceBucket: env.vaultBucket,
    replicaBucket: env.replicaBucket,
    replicaKmsKey: env.replicaKmsKey,
    metrics,
    plan: loadPlan(),
  }),
);
