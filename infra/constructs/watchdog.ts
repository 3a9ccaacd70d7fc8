import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_ENV } from '../../contracts/function-env';
import type { Plan } from '../../contracts/plan';
import { AppFunction } from './app-function';
import { deadLetterQueue } from './dead-letter-queue';
import { DEFAULT_WATCHDOG_INTERVAL } from './monitoring';
import { ValidationError } from './validation-error';
import { type IVault, VAULT_PATHS } from './vault';

export interface WatchdogProps {
  /** The deployment plan, baked into the bundle: the watchdog checks every database in it. */
  readonly plan: Plan;
  /** The primary vault, whose `index/<db>/latest-verified.json` pointers the watchdog reads. */
  readonly vault: IVault;
  /**
   * How often the watchdog runs. Pass the same value to `Monitoring` as `watchdogInterval`: the tier alarms use
   * it as their period, and the watchdog alarm treats a period without an invocation as breaching.
   * @default Duration.minutes(5)
   */
  readonly interval?: Duration;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The app's dead-letter queue ({@link scheduleGroupAndQueue}): the watchdog is invoked asynchronously by
   * EventBridge, so a run that EventBridge could not deliver, or that failed Lambda's attempts, lands there.
   * @default a queue of this construct's own
   */
  readonly deadLetterQueue?: sqs.IQueue;
}

/**
 * The scheduled Lambda that turns "newest verified backup" into the RecoveryPointAgeSeconds metric and each
 * database's DatabaseBreach and DrillOverdue flags, which the tier alarms watch. It can read the latest-verified pointers and list their prefix (so that S3 answers 404, not
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
      throw new ValidationError(`interval must be a whole number of minutes, got ${this.interval.toHumanString()}`, this);
    }

    const dlq = props.deadLetterQueue ?? deadLetterQueue(this, 'DeadLetterQueue');
    this.function = new AppFunction(this, 'Function', {
      name: 'watchdog',
      plan: props.plan,
      description: `Strongbox (${props.plan.app}): recovery-point age of every database, every ${this.interval.toHumanString()}`,
      environment: { [FUNCTION_ENV.vaultBucket]: props.vault.bucketName },
      // One GET per database, in parallel: far below a minute even for hundreds of databases.
      timeout: Duration.minutes(1),
      logRetention: props.logRetention,
      deadLetterQueue: dlq,
      // Overlapping runs would only emit the same samples twice.
      reservedConcurrency: 1,
    }).function;
    // index/ holds the latest-verified and latest-drill pointers: the only part of the vault the watchdog may touch.
    props.vault.grantUnder(this.function, VAULT_PATHS.index, {
      objectActions: ['s3:GetObject'],
      listActions: ['s3:ListBucket'],
      key: 'decrypt',
    });

    this.rule = new events.Rule(this, 'Schedule', {
      description: `Strongbox (${props.plan.app}) watchdog, every ${this.interval.toHumanString()}`,
      schedule: events.Schedule.rate(this.interval),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0, deadLetterQueue: dlq })],
    });
  }
}
