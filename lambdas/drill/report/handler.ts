import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { FUNCTION_ENV, requireEnv, vaultS3Client } from '../../../contracts/function-env';
import { type DrillReportEvent, DrillReportEventSchema } from '../../../contracts/payloads/drill';
import { logger, metrics, tracer } from '../../runtime/powertools';
import { reportDrill } from './drill-report';

const s3 = tracer.captureAWSv3Client(vaultS3Client());
const sns = tracer.captureAWSv3Client(new SNSClient({}));

export const handler = middy(async (event: DrillReportEvent) =>
  reportDrill(event, {
    s3,
    sns,
    metrics,
    bucket: requireEnv(FUNCTION_ENV.vaultBucket),
    chatTopicArn: requireEnv(FUNCTION_ENV.chatTopicArn),
  }),
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer))
  .use(parser({ schema: DrillReportEventSchema }));
