import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { FUNCTION_ENV, requireEnv, vaultS3Client } from '../../../contracts/function-env';
import { type NotifyEvent, NotifyEventSchema } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { logger, metrics, tracer } from '../../runtime/powertools';
import { notify } from './notify';

const s3 = tracer.captureAWSv3Client(vaultS3Client());
const sns = tracer.captureAWSv3Client(new SNSClient({}));

export const handler = middy(async (event: NotifyEvent) =>
  notify(event, {
    sns,
    s3,
    bucket: requireEnv(FUNCTION_ENV.vaultBucket),
    plan: loadPlan(),
    chatTopicArn: requireEnv(FUNCTION_ENV.chatTopicArn),
    pagerTopicArn: process.env[FUNCTION_ENV.pagerTopicArn] || undefined,
    pageOnImportant: process.env[FUNCTION_ENV.pageOnImportant] === 'true',
    region: requireEnv('AWS_REGION'),
    metrics,
  }),
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer))
  .use(parser({ schema: NotifyEventSchema }));
