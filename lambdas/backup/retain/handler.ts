import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { z } from 'zod';
import { FUNCTION_ENV, requireEnv, vaultS3Client } from '../../../contracts/function-env';
import { RetainEventSchema, type RetainResult } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { logger, metrics, tracer } from '../../runtime/powertools';
import { retain } from './retain';

const s3 = tracer.captureAWSv3Client(vaultS3Client());
const replicaBucket = process.env[FUNCTION_ENV.replicaBucket];
const replica = replicaBucket
  ? { s3: tracer.captureAWSv3Client(vaultS3Client(process.env[FUNCTION_ENV.replicaRegion])), bucket: replicaBucket }
  : undefined;

export const handler = middy(async (event: z.output<typeof RetainEventSchema>): Promise<RetainResult> => {
  // The full plan goes to the log (retain.ts); the state payload keeps the capped summary.
  const { plan: _plan, ...result } = await retain(event, {
    s3,
    bucket: requireEnv(FUNCTION_ENV.vaultBucket),
    replica,
    plan: loadPlan(),
    objectLock: process.env[FUNCTION_ENV.objectLock] !== 'off',
  });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer))
  .use(parser({ schema: RetainEventSchema }));
