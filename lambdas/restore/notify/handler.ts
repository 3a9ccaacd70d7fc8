import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { parseInput } from '../../../contracts/errors';
import { FUNCTION_ENV, requireEnv, vaultS3Client } from '../../../contracts/function-env';
import { RestoreNotifyEventSchema } from '../../../contracts/payloads/restore';
import { loadPlan } from '../../../contracts/plan';
import { logger, metrics, tracer } from '../../runtime/powertools';
import { type ExecutionStatusChange, notifyAborted, notifyRestore } from './restore-notify';

const s3 = tracer.captureAWSv3Client(vaultS3Client());
const sns = tracer.captureAWSv3Client(new SNSClient({}));

// Two callers: the state machine (its own payload) and the EventBridge rule for executions stopped from the console.
export const handler = middy(async (event: unknown) => {
  const deps = {
    s3,
    sns,
    bucket: requireEnv(FUNCTION_ENV.vaultBucket),
    chatTopicArn: requireEnv(FUNCTION_ENV.chatTopicArn),
    plan: loadPlan(),
  };
  if ((event as Partial<ExecutionStatusChange>)?.['detail-type'] === 'Step Functions Execution Status Change') {
    return notifyAborted(event as ExecutionStatusChange, deps);
  }
  return notifyRestore(parseInput(RestoreNotifyEventSchema, event, 'Notify event'), deps);
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer));
