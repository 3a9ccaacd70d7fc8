import { DrillPrepareEnvSchema, restoreRoleArn } from '../../../contracts/function-env';
import { DrillPrepareEventSchema } from '../../../contracts/payloads/drill';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { prepareDrill } from './drill-prepare';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

// The schedule's input is checked inside prepareDrill so that a bad one fails with a readable cause.
export const handler = lambdaHandler(
  { name: 'drill Prepare event', schema: DrillPrepareEventSchema, env: DrillPrepareEnvSchema },
  async (event, env) => prepareDrill(event.input, event.execution, { s3, bucket: env.vaultBucket, plan: loadPlan(), restoreRoleArn }),
);
