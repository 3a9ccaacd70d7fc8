import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { keys } from '../../lambdas/shared/catalog';
import { METRICS_NAMESPACE } from '../../lambdas/shared/metrics';
import type { Plan } from '../../lambdas/shared/plan';
import { DEFAULT_WATCHDOG_INTERVAL } from './monitoring';
import { grantVaultAccess, type VaultLocation } from './vault';

export interface WatchdogProps {
  /** The deployment plan, baked into the bundle: the watchdog checks every database in it. */
  readonly plan: Plan;
  /** The primary vault, whose `index/<db>/latest-verified.json` pointers the watchdog reads. */
  readonly vault: VaultLocation;
  /**
   * How often the watchdog runs. Pass the same value to `Monitoring` as `watchdogInterval`: the RPO alarm
   * treats a period without a sample as breaching.
   * @default Duration.minutes(5)
   */
  readonly interval?: Duration;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/** `index/` of `index/<db>/latest-verified.json`: the only part of the vault the watchdog may touch. */
const POINTER_PREFIX = `${keys.latestVerified('db').split('/')[0]}/`;

/**
 * The scheduled Lambda that turns "newest verified backup" into the RecoveryPointAgeSeconds metric the RPO
 * alarms watch. It can read the latest-verified pointers and list their prefix (so that S3 answers 404, not
 * 403, for a database without backups), and nothing else in the vault.
 */
export class Watchdog extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly rule: events.Rule;
  public readonly interval: Duration;

  public constructor(scope: Construct, id: string, props: WatchdogProps) {
    super(scope, id);
    this.interval = props.interval ?? DEFAULT_WATCHDOG_INTERVAL;
    const minutes = this.interval.toSeconds() / 60;
    if (!Number.isInteger(minutes) || minutes < 1) {
      throw new Error(`Watchdog: interval must be a whole number of minutes, got ${this.interval.toHumanString()}`);
    }

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      description: `Strongbox (${props.plan.app}): recovery-point age of every database, every ${this.interval.toHumanString()}`,
      entry: path.join(__dirname, '../../lambdas/watchdog/handler.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      // One GET per database, in parallel: far below a minute even for hundreds of databases.
      timeout: Duration.minutes(1),
      // Overlapping runs would only emit the same samples twice.
      reservedConcurrentExecutions: 1,
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      environment: {
        VAULT_BUCKET: props.vault.bucketName,
        POWERTOOLS_SERVICE_NAME: 'watchdog',
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
      bundling: {
        target: 'node22',
        minify: true,
        sourceMap: true,
        // The plan is compiled in, so the function needs no config fetch and no plan in its environment.
        define: { 'process.env.STRONGBOX_PLAN': JSON.stringify(JSON.stringify(props.plan)) },
      },
    });
    grantVaultAccess(this.function, props.vault, POINTER_PREFIX, {
      objectActions: ['s3:GetObject'],
      listActions: ['s3:ListBucket'],
      key: 'decrypt',
    });

    this.rule = new events.Rule(this, 'Schedule', {
      description: `Strongbox (${props.plan.app}) watchdog, every ${this.interval.toHumanString()}`,
      schedule: events.Schedule.rate(this.interval),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
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
      reason:
        'Strongbox pins every function to nodejs22.x, the runtime its bundles target and its tests run on; moving to a newer runtime is one deliberate upgrade for all functions.',
    });
  }
}
