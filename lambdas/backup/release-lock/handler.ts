import { ReleaseLockEnvSchema } from '../../../contracts/function-env';
import { ReleaseLockEventSchema } from '../../../contracts/payloads/backup';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { releaseWorkflowLock } from './release-lock';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

export const handler = lambdaHandler(
  { name: 'ReleaseLock event', schema: ReleaseLockEventSchema, env: ReleaseLockEnvSchema },
  async (event, env) => releaseWorkflowLock(event, { s3, bucket: env.vaultBucket }),
);
