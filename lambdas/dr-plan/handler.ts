import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import * as z from 'zod';
import { parseInput } from '../../contracts/errors';
import { FUNCTION_ENV, requireEnv } from '../../contracts/function-env';
import { DrItemResultSchema, DrStateSchema, RestoreExecutionSchema } from '../../contracts/payloads/restore';
import { loadPlan } from '../../contracts/plan';
import { logger, metrics, tracer } from '../runtime/powertools';
import { advanceDrPlan, publishDrReport, reportDrPlan, startDrPlan } from './dr-plan';

const sns = tracer.captureAWSv3Client(new SNSClient({}));

const EventSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('start'), input: z.unknown(), execution: RestoreExecutionSchema }),
  z.strictObject({ action: z.literal('advance'), state: DrStateSchema, groupResults: z.array(DrItemResultSchema) }),
  z.strictObject({ action: z.literal('report'), state: DrStateSchema }),
]);

// One function for the three bookkeeping steps of the DR plan machine; the state names tell them apart.
export const handler = middy(async (raw: unknown) => {
  const event = parseInput(EventSchema, raw, 'DR plan event');
  if (event.action === 'start') {
    return startDrPlan(event.input, event.execution, loadPlan());
  }
  if (event.action === 'advance') {
    return advanceDrPlan(event.state, event.groupResults);
  }
  const report = reportDrPlan(event.state);
  await publishDrReport(report, sns, requireEnv(FUNCTION_ENV.chatTopicArn));
  return report;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer));
