import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { FUNCTION_ENV, requireEnv, vaultS3Client } from '../../../contracts/function-env';
import { type ResolvedRestore, ResolvedRestoreSchema } from '../../../contracts/payloads/restore';
import { secretsManagerReader } from '../../../engines/connection';
import { ADAPTERS } from '../../../engines/index';
import { logger, metrics, tracer } from '../../runtime/powertools';
import { restoreTargetConnection } from '../restore-target';
import { validateRestore } from './restore-validate';

const s3 = tracer.captureAWSv3Client(vaultS3Client());
const readSecret = secretsManagerReader();

/** Counts the target with the dump task's own adapter, so a restore is checked exactly as the dump counted. */
async function readInventory(resolved: ResolvedRestore) {
  return ADAPTERS[resolved.engine].inventory(await restoreTargetConnection(resolved, readSecret));
}

export const handler = middy(async (event: ResolvedRestore) =>
  validateRestore(event, { s3, bucket: requireEnv(FUNCTION_ENV.vaultBucket), readInventory }),
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer))
  .use(parser({ schema: ResolvedRestoreSchema }));
