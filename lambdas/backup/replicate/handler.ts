import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { FUNCTION_ENV, requireEnv, vaultS3Client } from '../../../contracts/function-env';
import { type BackupRef, BackupRefSchema } from '../../../contracts/payloads/backup';
import { logger, metrics, tracer } from '../../runtime/powertools';
import { replicate } from './replicate';

const source = tracer.captureAWSv3Client(vaultS3Client());
const replica = tracer.captureAWSv3Client(vaultS3Client(process.env[FUNCTION_ENV.replicaRegion]));

export const handler = middy(async (event: BackupRef) =>
  replicate(event, {
    source,
    replica,
    sourceBucket: requireEnv(FUNCTION_ENV.vaultBucket),
    replicaBucket: requireEnv(FUNCTION_ENV.replicaBucket),
    replicaKmsKey: requireEnv(FUNCTION_ENV.replicaKmsKey),
    metrics,
  }),
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer))
  .use(parser({ schema: BackupRefSchema }));
