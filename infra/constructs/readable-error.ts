import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';

export interface ReadableErrorProps {
  /** Where the caught `{Error, Cause}` is, such as `$.error`. */
  readonly errorPath: string;
  /** Where `{error, cause}` goes, for a Fail state's ErrorPath and CausePath. */
  readonly resultPath: string;
  /** What runs next: usually a Fail state reading `<resultPath>.error` and `<resultPath>.cause`. */
  readonly next: sfn.IChainable;
}

/**
 * States that turn a caught error into the readable `{error, cause}` a Fail state shows: a Lambda error's
 * cause is Lambda's error JSON (`{"errorType", "errorMessage", "trace": [...]}`), so it is parsed with
 * States.StringToJson in a Pass state's Parameters and only errorType and errorMessage are kept; any other
 * cause is kept as it is. The parsing sits in Pass states rather than in the Fail state's CausePath because
 * aws-local-stepfunctions 3 cannot evaluate intrinsic functions there, and the local runtime must run these
 * definitions as synthesized.
 *
 * This is the fallback for failures no Lambda described (a bad input at a first state, a failure Lambda that
 * failed itself); where a Lambda describes the failure (the restore's NotifyFailure, the drill's
 * ReportFailure), its result is the cause.
 */
export function readableErrorStates(scope: Construct, props: ReadableErrorProps): sfn.Choice {
  const cause = `${props.errorPath}.Cause`;
  const parsed = `${props.resultPath}.lambdaError`;
  const parse = new sfn.Pass(scope, 'ParseLambdaError', {
    comment: "Lambda's error JSON, parsed: its trace stays out of the cause (it is in the function's log)",
    parameters: { 'lambdaError.$': `States.StringToJson(${cause})` },
    resultPath: props.resultPath,
  });
  const fields = new sfn.Pass(scope, 'LambdaErrorFields', {
    parameters: { 'error.$': `${parsed}.errorType`, 'cause.$': `${parsed}.errorMessage` },
    resultPath: props.resultPath,
  });
  const raw = new sfn.Pass(scope, 'RawError', {
    comment: 'Not a Lambda error: the cause is already text (or a service description)',
    parameters: { 'error.$': `${props.errorPath}.Error`, 'cause.$': cause },
    resultPath: props.resultPath,
  });
  const noCause = new sfn.Pass(scope, 'ErrorWithoutCause', {
    parameters: { 'error.$': `${props.errorPath}.Error`, cause: 'no cause was reported' },
    resultPath: props.resultPath,
  });
  parse.next(fields).next(props.next);
  raw.next(props.next);
  noCause.next(props.next);
  const text = [sfn.Condition.isPresent(cause), sfn.Condition.isString(cause)];
  return new sfn.Choice(scope, 'ReadError', { comment: 'Which kind of cause the caught error carries' })
    .when(
      sfn.Condition.and(
        ...text,
        sfn.Condition.stringMatches(cause, '{*"errorType"*'),
        sfn.Condition.stringMatches(cause, '*"errorMessage"*'),
      ),
      parse,
    )
    .when(sfn.Condition.and(...text), raw)
    .otherwise(noCause);
}
