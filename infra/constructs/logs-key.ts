import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct, type IConstruct } from 'constructs';

/** The SSM parameter holding the logs key ARN, which nested stacks resolve at deploy time. */
export function logsKeyParameterName(app: string): string {
  return `/strongbox/${app}/logs-key-arn`;
}

/**
 * The one customer-managed key of a stack's CloudWatch Logs log groups (Lambda, Step Functions, the Fargate
 * tasks, the VPC flow logs), with rotation on. The key policy lets the CloudWatch Logs service of the stack's
 * region use it only for log groups of this account and region (the `aws:logs:arn` encryption context, as the
 * CloudWatch Logs guide documents); nobody reading logs needs a grant, the service decrypts for them.
 *
 * A nested stack (a database shard) references nothing of its parent by token, so that its template has no
 * parameters; its log groups name the key by the SSM parameter {@link logsKeyParameterName}, a dynamic
 * reference CloudFormation resolves when it deploys the shard, after the parameter.
 */
export class LogsKey extends Construct {
  /** The key of the top-level stack that `scope` is in (through any nested stacks), created on first use. */
  public static of(scope: IConstruct, app: string): LogsKey {
    let stack = Stack.of(scope);
    while (stack.nestedStackParent) {
      stack = stack.nestedStackParent;
    }
    const existing = stack.node.tryFindChild('StrongboxLogsKey') as LogsKey | undefined;
    return existing ?? new LogsKey(stack, 'StrongboxLogsKey', app);
  }

  /** Encrypts a log group with the logs key; in a nested stack through the SSM dynamic reference. */
  public static encrypt(logGroup: logs.LogGroup, app: string): void {
    const key = LogsKey.of(logGroup, app);
    const stack = Stack.of(logGroup);
    const cfn = logGroup.node.defaultChild as logs.CfnLogGroup;
    if (stack.nested) {
      cfn.kmsKeyId = `{{resolve:ssm:${logsKeyParameterName(app)}}}`;
      stack.node.addDependency(key.parameter);
    } else {
      cfn.kmsKeyId = key.key.keyArn;
    }
  }

  public readonly key: kms.Key;
  public readonly parameter: ssm.StringParameter;

  private constructor(scope: Construct, id: string, app: string) {
    super(scope, id);
    const stack = Stack.of(this);
    this.key = new kms.Key(this, 'Key', {
      description: `Strongbox (${app}): CloudWatch Logs log groups`,
      enableKeyRotation: true,
      // The dump task log groups are retained; their events stay readable only while the key exists.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchLogsOfThisAccountAndRegion',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:*` },
        },
      }),
    );
    this.parameter = new ssm.StringParameter(this, 'KeyArn', {
      parameterName: logsKeyParameterName(app),
      description: `Strongbox (${app}): ARN of the CloudWatch Logs key, for the database shards' log groups`,
      stringValue: this.key.keyArn,
    });
  }
}
