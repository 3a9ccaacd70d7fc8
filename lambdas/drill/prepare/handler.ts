import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { parseInput } from '../../../contracts/errors';
import { FUNCTION_ENV, requireEnv, restoreRoleArn, vaultS3Client } from '../../../contracts/function-env';
import { DrillPrepareEventSchema } from '../../../contracts/payloads/drill';
import { loadPlan } from '../../../contracts/plan';
import { logger, metrics, tracer } from '../../runtime/powertools';
import { prepareDrill } from './drill-prepare';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

// The schedule's input is checked inside prepareDrill so that a bad one fails with a readable cause.
export const handler = middy(async (event: unknown) => {
  const { input, execution } = parseInput(DrillPrepareEventSchema, event, 'drill Prepare event');
  return prepareDrill(input, execution, { s3, bucket: requireEnv(FUNCTION_ENV.vaultBucket), plan: loadPlan(), restoreRoleArn });
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer));
