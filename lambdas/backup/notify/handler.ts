import { SNSClient } from '@aws-sdk/client-sns';
import { NotifyEnvSchema } from '../../../contracts/function-env';
import { NotifyEventSchema } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { metrics, tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { notify } from './notify';

const s3 = tracer.captureAWSv3Client(vaultS3Client());
const sns = tracer.captureAWSv3Client(new SNSClient({}));

export const handler = lambdaHandler({ name: 'Notify event', schema: NotifyEventSchema, env: NotifyEnvSchema }, async (event, env) =>
  notify(event, {
    sns,
    s3,
    bucket: env.vaultBucket,
    plan: loadPlan(),
    chatTopicArn: env.chatTopicArn,
    pagerTopicArn: env.pagerTopicArn,
    pageOnImportant: env.pageOnImportant === 'true',
    region: env.region,
    metrics,
  }),
);
