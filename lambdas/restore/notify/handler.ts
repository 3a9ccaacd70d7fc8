import { SNSClient } from '@aws-sdk/client-sns';
import { parseInput } from '../../../contracts/errors';
import { RestoreNotifyEnvSchema } from '../../../contracts/function-env';
import { RestoreNotifyEventSchema } from '../../../contracts/payloads/restore';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { type ExecutionStatusChange, notifyAborted, notifyRestore } from './restore-notify';

const s3 = tracer.captureAWSv3Client(vaultS3Client());
const sns = tracer.captureAWSv3Client(new SNSClient({}));

// Two callers, so the event is told apart before it is parsed: the state machine (its own payload) and the
// EventBridge rule for executions stopped from the console.
export const handler = lambdaHandler({ name: 'Notify event', env: RestoreNotifyEnvSchema }, async (event, env) => {
  const deps = { s3, sns, bucket: env.vaultBucket, chatTopicArn: env.chatTopicArn, plan: loadPlan() };
  if ((event as Partial<ExecutionStatusChange>)?.['detail-type'] === 'Step Functions Execution Status Change') {
    return notifyAborted(event as ExecutionStatusChange, deps);
  }
  return notifyRestore(parseInput(RestoreNotifyEventSchema, event, 'Notify event'), deps);
});
