import { VerifyEnvSchema } from '../../../contracts/function-env';
import { BackupRefSchema } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { metrics, tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { verify } from './verify';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

export const handler = lambdaHandler({ name: 'Verify event', schema: BackupRefSchema, env: VerifyEnvSchema }, async (event, env) =>
  verify(event, { s3, bucket: env.vaultBucket, metrics, plan: loadPlan() }),
);
