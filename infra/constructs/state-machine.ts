import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { LogsKey } from './logs-key';
import { acknowledgeRule, acknowledgeWildcardPermissions } from './nag';

export interface StrongboxStateMachineProps {
  readonly app: string;
  /** The part after `<app>-`; the local runtime finds a machine by a part of its name, so keep each one distinct. */
  readonly name: string;
  readonly comment: string;
  readonly definition: sfn.IChainable;
  readonly timeout: Duration;
  readonly logRetention: logs.RetentionDays;
  /** Why the role's wildcard permissions are needed, as cdk-nag records the acknowledgement. */
  readonly wildcards: string;
}

/**
 * The state machine every Strongbox workflow runs as: JSONPath (the local runtime runs the synthesized
 * definition), X-Ray tracing, every event but no execution data in its own log group under the logs CMK, and the
 * cdk-nag acknowledgements of its role. One home, so that no workflow drifts from the others in these.
 */
export function strongboxStateMachine(scope: Construct, props: StrongboxStateMachineProps): sfn.StateMachine {
  const logGroup = new logs.LogGroup(scope, 'StateMachineLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
  LogsKey.encrypt(logGroup, props.app);
  const stateMachine = new sfn.StateMachine(scope, 'StateMachine', {
    stateMachineName: `${props.app}-${props.name}`,
    comment: props.comment,
    definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
    queryLanguage: sfn.QueryLanguage.JSON_PATH,
    timeout: props.timeout,
    tracingEnabled: true,
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
  });
  acknowledgeRule(
    stateMachine,
    'IAMNoInlinePolicy',
    ['nist', 'hipaa'],
    "The CDK grants write the state machine's least-privilege statements into its role's own policy, which exists and is deleted with that role and cannot be attached to any other principal.",
  );
  acknowledgeWildcardPermissions(stateMachine.role, props.wildcards);
  return stateMachine;
}
