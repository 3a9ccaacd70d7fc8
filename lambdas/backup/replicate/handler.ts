import { FUNCTION_ENV, ReplicateEnvSchema } from '../../../contracts/function-env';
import { BackupRefSchema } from '../../../contracts/payloads/backup';
import { lambdaHandler } from '../../runtime/handler';
import { metrics, tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { replicate } from './replicate';

const source = tracer.captureAWSv3Client(vaultS3Client());
// The client is made at load so that connections are reused across invocations; the env check names the variable if unset.
const replica = tracer.captureAWSv3Client(vaultS3Client(process.env[FUNCTION_ENV.replicaRegion]));

export const handler = lambdaHandler({ name: 'Replicate event', schema: BackupRefSchema, env: ReplicateEnvSchema }, async (event, env) =>
  replicate(event, {
    source,
    replica,
    sourceBucket: env.vaultBucket,
    replicaBucket: env.replicaBucket,
    replicaKmsKey: env.replicaKmsKey,
    metrics,
  }),
);
