import { PrepareEnvSchema } from '../../../contracts/function-env';
import { PrepareEventSchema } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { prepareBase } from '../prepare/base';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

export const handler = lambdaHandler(
  { name: 'Prepare base event', schema: PrepareEventSchema, env: PrepareEnvSchema },
  async (event, env) => prepareBase(event, { s3, bucket: env.vaultBucket, plan: loadPlan() }),
);
