import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { parseInput } from '../shared/errors';
import { FUNCTION_ENV, requireEnv, restoreRoleArn, vaultS3Client } from '../shared/function-env';
import { loadPlan } from '../shared/plan';
import { logger, metrics, tracer } from '../shared/powertools';
import { DrillPrepareEventSchema } from '../shared/restore-payloads';
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
