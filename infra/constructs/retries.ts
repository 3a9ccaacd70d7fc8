import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

/**
 * The retriers of every state machine: one place decides which faults are transient and how long a run waits
 * for them, so the backup, restore, drill and DR plan machines cannot drift apart.
 *
 * Lambda: the errors Step Functions reports for Lambda's own 5xx (Lambda.ServiceException,
 * Lambda.AWSLambdaException, Lambda.SdkClientException, Lambda.ClientExecutionTimeoutException; see "Handle
 * Lambda service exceptions" in the Step Functions guide) and for throttling (Lambda.TooManyRequestsException).
 * A function's own error (its errorType, or Lambda.Unknown for a timeout or out-of-memory) is not retried:
 * it goes to the state's Catch as before.
 *
 * Full jitter spreads the retries of many executions throttled at once (a fleet's hourly schedules start
 * together) instead of sending them back in lockstep; maxDelay caps the exponential growth.
 */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.TooManyRequestsException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
] as const;

/** At most 2+4+8+16+30+30 = 90 s of waiting per step: well inside each machine's margin around its task. */
export const LAMBDA_RETRY: sfn.RetryProps = {
  errors: [...LAMBDA_TRANSIENT_ERRORS],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 6,
  maxDelay: Duration.seconds(30),
  jitterStrategy: sfn.JitterType.FULL,
};

/**
 * Faults of RunTask itself, before any container ran: Fargate capacity ("Capacity is unavailable at this
 * time", which Step Functions reports as ECS.AmazonECSException), a non-empty `failures` list of a .sync
 * RunTask (AmazonECS.Unknown), ECS 5xx, throttling and the account's task limits. A task that ran and exited
 * non-zero fails the state with States.TaskFailed, which is deliberately not here: it goes to the failure
 * path with its exit code, and a dump or restore is never started a second time by Step Functions.
 * ECS.ClientException is not here either: it means a bad request (an unknown task definition), which no
 * retry fixes.
 */
export const RUN_TASK_CAPACITY_ERRORS = [
  'ECS.AmazonECSException',
  'AmazonECS.Unknown',
  'ECS.ServerException',
  'ECS.ThrottlingException',
  'ECS.LimitExceededException',
] as const;

/**
 * At most 30+60+120+120 = 330 s of waiting: capacity usually returns within minutes, and the backup lock's
 * margin (LOCK_MARGIN_SECONDS) and every machine's timeout margin must still cover the run after the task.
 */
export const RUN_TASK_RETRY: sfn.RetryProps = {
  errors: [...RUN_TASK_CAPACITY_ERRORS],
  interval: Duration.seconds(30),
  backoffRate: 2,
  maxAttempts: 4,
  maxDelay: Duration.seconds(120),
  jitterStrategy: sfn.JitterType.FULL,
};

/**
 * A LambdaInvoke with the transient-fault retrier instead of the CDK's default one (which has neither
 * Lambda.TooManyRequestsException nor jitter).
 *
 * Why a second run of each step is safe. A throttled invoke never ran, so only the four 5xx errors can repeat
 * work that was done:
 * - backup Prepare: the backupId comes from the execution's start time and the lock names the execution as its
 *   owner, so a retried Prepare mints the same id and gets its own lock back (contracts/lock.ts).
 * - Verify, Replicate, Retain: Verify rewrites the same verification.json and pointer; Replicate leaves a copy
 *   whose checksum already matches; Retain plans from the vault's listing, so a rerun finds the work done.
 * - ReleaseLock(AfterFailure): deletes the lock only while it names this backupId (If-Match), else reports none.
 * - restore Resolve, Guard, Validate and drill Prepare only read; DR plan Start and Advance are pure
 *   functions of their input.
 * - restore Notify/NotifyFailure and drill Report/ReportFailure rewrite the same audit record or drill pointer
 *   (keys fixed by the execution and the backup).
 * - The chat and pager posts (backup Notify, NotifySkipped, NotifyFailure, restore Notify, drill Report, DR plan
 *   Report) are at least once: after a Lambda 5xx on an invoke that had in fact run, the retry posts again.
 *   SNS standard topics (the only kind AWS Chatbot reads) cannot deduplicate, and skipping the post on doubt
 *   could lose a failure alert; the duplicate names the same execution, so it reads as one event.
 */
export function lambdaInvoke(scope: Construct, id: string, props: tasks.LambdaInvokeProps): tasks.LambdaInvoke {
  const state = new tasks.LambdaInvoke(scope, id, { ...props, retryOnServiceExceptions: false });
  state.addRetry(LAMBDA_RETRY);
  return state;
}

/** Adds the capacity retrier to a RunTask state (written out as a CustomState, so the CDK adds none). */
export function retryRunTaskCapacity(state: sfn.CustomState): sfn.CustomState {
  state.addRetry(RUN_TASK_RETRY);
  return state;
}
