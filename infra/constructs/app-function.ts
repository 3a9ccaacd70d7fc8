import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../../contracts/metrics';
import type { Plan } from '../../contracts/plan';

const LAMBDAS_DIR = path.join(__dirname, '../../lambdas');

export interface AppFunctionProps {
  /**
   * The folder under `lambdas/` whose `handler.ts` exports `handler`, as `<workflow>/<step>` (or one name for a
   * function of its own, such as `watchdog`); with `/` as `-`, also the Powertools service name.
   */
  readonly name: string;
  /** The deployment plan, compiled into the bundle (never an environment value). */
  readonly plan: Plan;
  readonly description: string;
  /**
   * Identifiers the function needs (bucket names, topic ARNs). Never a secret: these are template values.
   * @default {}
   */
  readonly environment?: Record<string, string>;
  /** @default Duration.minutes(1) */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Every Strongbox Lambda, built the same way: Node.js 22 on arm64, the AWS SDK bundled (the version the
 * tests ran, not the runtime's), a log group with retention, X-Ray active tracing, and the plan baked in with
 * esbuild `define` so that no function fetches its config and nothing of it sits in the template environment.
 */
export class AppFunction extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly logGroup: logs.LogGroup;

  public constructor(scope: Construct, id: string, props: AppFunctionProps) {
    super(scope, id);
    const entry = path.join(LAMBDAS_DIR, props.name, 'handler.ts');
    if (!/^[a-z][a-z0-9-]*(\/[a-z][a-z0-9-]*)?$/.test(props.name) || !existsSync(entry)) {
      throw new Error(`AppFunction: name must be a folder under lambdas/ with a handler.ts, got "${props.name}" (looked for ${entry})`);
    }
    const memorySize = props.memorySize ?? 256;
    if (memorySize < 128 || memorySize > 10240) {
      throw new Error(`AppFunction ${props.name}: memorySize must be 128-10240 MB, got ${memorySize}`);
    }
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      description: props.description,
      entry,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize,
      timeout: props.timeout ?? Duration.minutes(1),
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      environment: {
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: props.name.replace('/', '-'),
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
      bundling: {
        target: 'node22',
        minify: true,
        sourceMap: true,
        bundleAwsSDK: true,
        define: { 'process.env.STRONGBOX_PLAN': JSON.stringify(JSON.stringify(props.plan)) },
      },
    });
    const role = this.function.role;
    if (role) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'The AWS-managed basic execution role only lets the function write its own CloudWatch Logs.',
      });
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray PutTraceSegments/PutTelemetryRecords accept no resource narrower than "*".',
      });
    }
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Strongbox pins every function to nodejs22.x, the runtime its bundles target and its tests run on.',
    });
  }
}
