import { Duration, Validations } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { acknowledgeRule } from './nag';

export interface DeadLetterQueueOptions {
  /** @default a name CloudFormation generates */
  readonly queueName?: string;
  /** @default SQS-managed encryption (SSE-SQS), which every AWS service that writes to it can use without a key grant */
  readonly encryptionKey?: kms.IKey;
}

/**
 * An encrypted, TLS-only queue that keeps for 14 days what an asynchronous delivery could not hand over: a
 * Scheduler start, an EventBridge target, an asynchronous Lambda invocation, an SNS notification. The app's
 * one queue is `<app>-schedules-dlq` ({@link scheduleGroupAndQueue}); constructs built alone make their own.
 */
export function deadLetterQueue(scope: Construct, id: string, options: DeadLetterQueueOptions = {}): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    queueName: options.queueName,
    retentionPeriod: Duration.days(14),
    enforceSSL: true,
    ...(options.encryptionKey
      ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: options.encryptionKey }
      : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
  });
  const reason =
    'This queue is itself a dead-letter queue (Scheduler and EventBridge targets, asynchronous Lambda invocations, SNS subscriptions); it has no DLQ of its own.';
  Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason });
  acknowledgeRule(queue, 'SQSRedrivePolicy', ['serverless'], reason);
  return queue;
}
