import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { parseInput } from '../../../contracts/errors';
import { FUNCTION_ENV, requireEnv, restoreRoleArn, vaultS3Client } from '../../../contracts/function-env';
import { ResolveEventSchema } from '../../../contracts/payloads/restore';
import { loadPlan } from '../../../contracts/plan';
import { logger, metrics, tracer } from '../../runtime/powertools';
import { resolveRestore } from './restore-resolve';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

// The envelope is parsed here, but the console input inside it is untrusted: resolveRestore validates it so that
// a typo surfaces as a readable InputValidationError cause rather than a parser stack.
export const handler = middy(async (event: unknown) => {
  const { input, execution } = parseInput(ResolveEventSchema, event, 'Resolve event');
  return resolveRestore(input, execution, { s3, bucket: requireEnv(FUNCTION_ENV.vaultBucket), plan: loadPlan(), restoreRoleArn });
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer));
