import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { FUNCTION_ENV, requireEnv, vaultS3Client } from '../../../contracts/function-env';
import { PrepareEventSchema } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { logger, metrics, tracer } from '../../runtime/powertools';
import { type PrepareEvent, prepare } from './prepare';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

export const handler = middy(async (event: PrepareEvent) =>
  prepare(event, { s3, bucket: requireEnv(FUNCTION_ENV.vaultBucket), plan: loadPlan() }),
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer))
  .use(parser({ schema: PrepareEventSchema }));
