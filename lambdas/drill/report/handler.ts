import { SNSClient } from '@aws-sdk/client-sns';
import { DrillReportEnvSchema } from '../../../contracts/function-env';
import { DrillReportEventSchema } from '../../../contracts/payloads/drill';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { metrics, tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { reportDrill } from './drill-report';

const s3 = tracer.captureAWSv3Client(vaultS3Client());
const sns = tracer.captureAWSv3Client(new SNSClient({}));

export const handler = lambdaHandler(
  { name: 'drill Report event', schema: DrillReportEventSchema, env: DrillReportEnvSchema },
  async (event, env) => reportDrill(event, { s3, sns, metrics, plan: loadPlan(), bucket: env.vaultBucket, chatTopicArn: env.chatTopicArn }),
);
