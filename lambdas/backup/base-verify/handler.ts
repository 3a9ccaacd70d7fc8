import { VerifyEnvSchema } from '../../../contracts/function-env';
import { BaseRefSchema } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { metrics, tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { verifyBase } from '../verify/base';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

export const handler = lambdaHandler({ name: 'Verify base event', schema: BaseRefSchema, env: VerifyEnvSchema }, async (event, env) =>
  verifyBase(event, { s3, bucket: env.vaultBucket, metrics, plan: loadPlan() }),
);
