import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { logger, metrics, tracer } from '../shared/powertools';
import { type DrillReportEvent, DrillReportEventSchema } from '../shared/restore-payloads';
import { reportDrill } from './drill-report';

const s3 = tracer.captureAWSv3Client(new S3Client({}));
const sns = tracer.captureAWSv3Client(new SNSClient({}));

export const handler = middy(async (event: DrillReportEvent) =>
  reportDrill(event, { s3, sns, metrics, bucket: process.env.VAULT_BUCKET ?? '', chatTopicArn: process.env.CHAT_TOPIC_ARN ?? '' }),
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer))
  .use(parser({ schema: DrillReportEventSchema }));
