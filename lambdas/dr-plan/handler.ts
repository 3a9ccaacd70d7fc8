import { SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { DrPlanEnvSchema } from '../../contracts/function-env';
import { DrItemResultSchema, DrStateSchema } from '../../contracts/payloads/dr-plan';
import { RestoreExecutionSchema } from '../../contracts/payloads/restore';
import { loadPlan } from '../../contracts/plan';
import { lambdaHandler } from '../runtime/lambda-handler';
import { metrics, tracer } from '../runtime/powertools';
import { advanceDrPlan, publishDrReport, publishRehearsalMetrics, reportDrPlan, startDrPlan } from './dr-plan';

const sns = tracer.captureAWSv3Client(new SNSClient({}));

const EventSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('start'), input: z.unknown(), execution: RestoreExecutionSchema }),
  z.strictObject({ action: z.literal('advance'), state: DrStateSchema, groupResults: z.array(DrItemResultSchema) }),
  z.strictObject({ action: z.literal('report'), state: DrStateSchema }),
]);

// One function for the three bookkeeping steps of the DR plan machine; the state names tell them apart.
export const handler = lambdaHandler({ name: 'DR plan event', schema: EventSchema, env: DrPlanEnvSchema }, async (event, env) => {
  if (event.action === 'start') {
    return startDrPlan(event.input, event.execution, loadPlan());
  }
  if (event.action === 'advance') {
    return advanceDrPlan(event.state, event.groupResults);
  }
  const report = reportDrPlan(event.state, loadPlan());
  publishRehearsalMetrics(report, metrics);
  await publishDrReport(report, sns, env.chatTopicArn);
  return report;
});
