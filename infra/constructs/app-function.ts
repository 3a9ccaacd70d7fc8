import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { brotliCompressSync } from 'node:zlib';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../../contracts/metrics';
import type { Plan } from '../../contracts/plan';
import { runtimePlan } from '../config/plan';
import { DRIVER_PACKAGES, DriversLayer } from './drivers-layer';
import { LogsKey } from './logs-key';
import { acknowledgeRule } from './nag';
import { ValidationError } from './validation-error';

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
  /**
   * The function opens database connections: the drivers ({@link DRIVER_PACKAGES}) stay out of its bundle and
   * come from the stack's {@link DriversLayer}, so that no bundle carries them.
   * @default false
   */
  readonly drivers?: boolean;
  /**
   * Where Lambda puts an asynchronous invocation that failed all its attempts. Required for a function that
   * anything invokes asynchronously (an EventBridge target); a function without one must only be invoked
   * synchronously (Step Functions LambdaInvoke), where the state machine catches the failure.
   * @default none: synchronous invocations only
   */
  readonly deadLetterQueue?: sqs.IQueue;
  /**
   * Reserved concurrency: a ceiling for a function whose invocations nothing in Strongbox bounds (and a
   * guarantee taken out of the account's regional pool, so keep it small).
   * @default none: the function's invocations are bounded by its state machine's executions
   */
  readonly reservedConcurrency?: number;
}

/** The identifier the baked plan module exports; esbuild `define` points `process.env.STRONGBOX_PLAN` at it. */
const BAKED_PLAN = 'STRONGBOX_BAKED_PLAN';
const bakedPlanFiles = new WeakMap<Plan, string>();

/**
 * The plan as a module esbuild injects into every bundle: brotli-compressed JSON, inflated once at cold start.
 * Passing the plan itself as a `--define` argument hit Linux's 128 KB limit for one argument (spawn E2BIG)
 * near 200 databases, and 14 uncompressed copies of a 500-database plan would dominate the bundles. The file
 * is named by its content, so the bundle, and with it the asset hash, changes exactly when the plan does.
 */
function bakedPlanModule(plan: Plan): string {
  const known = bakedPlanFiles.get(plan);
  if (known) {
    return known;
  }
  const json = JSON.stringify(runtimePlan(plan));
  const packed = brotliCompressSync(Buffer.from(json, 'utf8')).toString('base64');
  const source = `import { brotliDecompressSync } from 'node:zlib';\nexport const ${BAKED_PLAN} = brotliDecompressSync(Buffer.from('${packed}', 'base64')).toString('utf8');\n`;
  const dir = path.join(tmpdir(), 'strongbox-plans');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `plan-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.mjs`);
  writeFileSync(file, source);
  bakedPlanFiles.set(plan, file);
  return file;
}

/**
 * Every Strongbox Lambda, built the same way: Node.js 24 (the newest runtime Lambda and aws-cdk-lib 2.276
 * offer) on arm64, the runtime's AWS SDK (not bundled), no source map shipped,
 * a log group with retention, X-Ray active tracing, and the plan baked in ({@link bakedPlanModule}) so that no
 * function fetches its config and nothing of it sits in the template environment.
 */
export class AppFunction extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly logGroup: logs.LogGroup;

  public constructor(scope: Construct, id: string, props: AppFunctionProps) {
    super(scope, id);
    const entry = path.join(LAMBDAS_DIR, props.name, 'handler.ts');
    if (!/^[a-z][a-z0-9-]*(\/[a-z][a-z0-9-]*)?$/.test(props.name) || !existsSync(entry)) {
      throw new ValidationError(`name must be a folder under lambdas/ with a handler.ts, got "${props.name}" (looked for ${entry})`, this);
    }
    const memorySize = props.memorySize ?? 256;
    if (memorySize < 128 || memorySize > 10240) {
      throw new ValidationError(`memorySize must be 128-10240 MB, got ${memorySize}`, this);
    }
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    LogsKey.encrypt(this.logGroup, props.plan.app);
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      description: props.description,
      entry,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize,
      timeout: props.timeout ?? Duration.minutes(1),
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      layers: props.drivers ? [DriversLayer.of(this)] : undefined,
      deadLetterQueue: props.deadLetterQueue,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: {
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: props.name.replace('/', '-'),
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
      bundling: {
        target: 'node24',
        minify: true,
        // A 4.4 MB map per function is not worth shipping: stack traces from minified code still name the handler
        // module, and the tests run the TypeScript itself.
        sourceMap: false,
        // The nodejs24.x runtime ships AWS SDK v3 (Lambda's "runtime-included SDK versions"), so @aws-sdk/* stays
        // out of the bundle: 600-900 KB less per function. The runtime's SDK is older than the one the tests run;
        // the calls used here (S3 conditional writes, SNS publish, Secrets Manager) predate Node.js 24's runtime.
        bundleAwsSDK: false,
        // Setting externals replaces the default list, which is the runtime's SDK alone.
        externalModules: props.drivers ? ['@aws-sdk/*', ...DRIVER_PACKAGES] : undefined,
        inject: [bakedPlanModule(props.plan)],
        define: { 'process.env.STRONGBOX_PLAN': BAKED_PLAN },
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
    acknowledgeRule(
      this,
      'IAMNoInlinePolicy',
      ['nist', 'hipaa'],
      "The CDK grants write this function's least-privilege statements into its role's own policy, which exists and is deleted with that role and cannot be attached to any other principal.",
    );
    acknowledgeRule(
      this,
      'LambdaInsideVPC',
      ['nist', 'hipaa'],
      'The function calls only AWS APIs (S3, SNS, CloudWatch, Step Functions, ECS) over TLS with IAM authorization and reaches no private resource; the functions that connect to databases are placed in the task subnets by their workflow.',
    );
    if (!props.deadLetterQueue) {
      acknowledgeRule(
        this,
        'LambdaDLQ',
        ['nist', 'hipaa', 'serverless'],
        'Invoked only synchronously, by a Strongbox state machine (LambdaInvoke): a dead-letter queue only ever receives asynchronous invocations, and the state machine catches every failure (NotifyFailure).',
      );
    }
    if (props.reservedConcurrency === undefined) {
      acknowledgeRule(
        this,
        'LambdaConcurrency',
        ['nist', 'hipaa'],
        "Invoked by its state machine, one step at a time per execution and at most one backup execution per database (the database lock), so its concurrency is bounded by the fleet (at most 500). A reservation is carved permanently out of the account's regional pool (1,000 by default, 100 of it kept unreserved): reserving a 500-database peak for each function cannot fit, and a smaller one would throttle the fleet.",
      );
    }
  }
}
