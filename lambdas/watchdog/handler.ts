import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import { loadPlan } from '../../contracts/plan';
import { logger, metrics, tracer } from '../runtime/powertools';
import { runWatchdog } from './watchdog';

const s3 = tracer.captureAWSv3Client(new S3Client({}));

// The scheduled event carries nothing the watchdog needs, so it is not parsed.
export const handler = middy(async () => {
  const points = await runWatchdog({ s3, bucket: process.env.VAULT_BUCKET ?? '', plan: loadPlan(), metrics, logger });
  return { databases: points.length, beyondRpo: points.filter((p) => !p.withinRpo).map((p) => p.database) };
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer));
