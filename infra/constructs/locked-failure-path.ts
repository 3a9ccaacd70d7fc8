import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { AppFunction } from './app-function';
import { readableErrorStates } from './readable-error';
import { lambdaInvoke } from './retries';

/** A Lambda step named by its id, its result at `resultPath`, with lambdaInvoke's retries and a timeout just past the function's. */
export type FunctionStep = (
  id: string,
  app: AppFunction,
  payload: Record<string, unknown>,
  resultPath: string,
  comment: string,
) => sfn.TaskStateBase;

/** Lambda steps in `scope`, whose ids are the state names (so states live in a scope of their own). */
export function functionSteps(scope: Construct): FunctionStep {
  return (id, app, payload, resultPath, comment) =>
    lambdaInvoke(scope, id, {
      stateName: id,
      lambdaFunction: app.function,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject(payload),
      resultPath,
      comment,
      taskTimeout: sfn.Timeout.duration(app.function.timeout!.plus(Duration.minutes(1))),
    });
}

export interface LockedFailurePathProps {
  readonly step: FunctionStep;
  /** Frees the database's lock if this run took it (the backup workflow's ReleaseLock function). */
  readonly releaseLock: AppFunction;
  /** Posts the failure to chat (and the pager by tier), returning the readable `{error, cause}`. */
  readonly notify: AppFunction;
  readonly execution: Record<string, string>;
  readonly notifyComment: string;
}

/**
 * The failure path of a machine that holds a per-database lock (backups, log archiving): NotifyFailure with the
 * cause, then ReleaseLockAfterFailure, then Fail with the readable error. It never loses the original error and
 * never fails on its own problems: a NotifyFailure that fails falls back to the raw error, a release that fails
 * still ends at Fail. Returns `catchAll`, which sends any error of a state down this path.
 */
export function lockedFailurePath(
  scope: Construct,
  props: LockedFailurePathProps,
): <T extends sfn.TaskStateBase | sfn.CustomState>(state: T) => T {
  const wholeState = { state: sfn.JsonPath.entirePayload };
  const fail = new sfn.Fail(scope, 'Failed', {
    comment: 'The readable error and cause NotifyFailure derived from the failed state',
    errorPath: '$.failure.error',
    causePath: '$.failure.cause',
  });
  const releaseAfterFailure = props.step(
    'ReleaseLockAfterFailure',
    props.releaseLock,
    wholeState,
    sfn.JsonPath.DISCARD,
    'Release the lock if this run took it',
  );
  releaseAfterFailure.addCatch(fail, { resultPath: '$.releaseError' });
  releaseAfterFailure.next(fail);
  const notifyFailure = props.step(
    'NotifyFailure',
    props.notify,
    { outcome: 'failed', execution: props.execution, ...wholeState },
    '$.failure',
    props.notifyComment,
  );
  // NotifyFailure itself failed: the original error, with Lambda's error JSON reduced to type and message.
  const rawFailure = readableErrorStates(scope, { errorPath: '$.error', resultPath: '$.failure', next: releaseAfterFailure });
  notifyFailure.addCatch(rawFailure, { resultPath: '$.notifyError' });
  notifyFailure.next(releaseAfterFailure);
  return (state) => {
    state.addCatch(notifyFailure, { errors: ['States.ALL'], resultPath: '$.error' });
    return state;
  };
}

/**
 * The start of every locked machine's definition (backup, base backup, log archive): the states' own scope (their ids
 * are the state names, which the functions' ids would clash with), the execution context, the function step, and
 * the catch-all into the locked failure path.
 */
export function lockedStates(
  owner: Construct,
  props: Pick<LockedFailurePathProps, 'releaseLock' | 'notify' | 'notifyComment'>,
): {
  scope: Construct;
  execution: Record<string, string>;
  invoke: FunctionStep;
  wholeState: { state: string };
  catchAll: ReturnType<typeof lockedFailurePath>;
} {
  const scope = new Construct(owner, 'States');
  const execution = {
    executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
    startTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
  };
  const invoke = functionSteps(scope);
  const catchAll = lockedFailurePath(scope, { ...props, step: invoke, execution });
  return { scope, execution, invoke, wholeState: { state: sfn.JsonPath.entirePayload }, catchAll };
}
