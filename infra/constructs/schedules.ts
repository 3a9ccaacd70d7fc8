import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { DeploymentPlan } from '../config/plan';
import { deadLetterQueue as newDeadLetterQueue } from './dead-letter-queue';
import { acknowledgeRule } from './nag';
import { ValidationError } from './validation-error';

export interface SchedulesProps {
  /**
   * The deployment plan: one backup schedule per database (expression, time zone, flexible window) and a drill
   * schedule where it has one. The schedule group is `<app>` and schedule names start with it.
   */
  readonly plan: DeploymentPlan;
  /** The backup state machine; each database's schedule starts it with `{database, kind: 'full', trigger: 'schedule'}`. */
  readonly backupStateMachine: sfn.IStateMachine;
  /**
   * The drill state machine; databases with a `drill` schedule start it with `{database, trigger: 'schedule'}`.
   * @default no drill schedules
   */
  readonly drillStateMachine?: sfn.IStateMachine;
  /**
   * The log-archive state machine; databases with a `logs` block start it with `{database, trigger: 'schedule'}`
   * every `logs.intervalMinutes` (a `rate()`: no time zone, no flexible window, which would only add lag).
   * @default no log-archive schedules
   */
  readonly logArchiveStateMachine?: sfn.IStateMachine;
  /**
   * The base-backup state machine; PostgreSQL databases with a `logs` block start it with `{database, trigger: 'schedule'}`
   * on `logs.baseBackup` (in its time zone, no flexible window: the window check counts the schedule as written).
   * @default no base-backup schedules
   */
  readonly baseBackupStateMachine?: sfn.IStateMachine;
  /**
   * Attempts Scheduler makes after a failed StartExecution (throttling, a state machine being updated).
   * @default 3
   */
  readonly retryAttempts?: number;
  /**
   * How long Scheduler keeps retrying one invocation before it goes to the DLQ.
   * @default Duration.hours(1)
   */
  readonly maxEventAge?: Duration;
  /**
   * Key for the DLQ.
   * @default SQS-managed encryption (SSE-SQS)
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Schedule group and dead-letter queue made elsewhere (a fleet's shards share the parent's), by
   * {@link scheduleGroupAndQueue}.
   * @default a group and a queue of this construct's own
   */
  readonly shared?: { readonly group: scheduler.IScheduleGroup; readonly deadLetterQueue: sqs.IQueue };
}

/**
 * The schedule group `<app>` and the encrypted DLQ `<app>-schedules-dlq` every schedule of the app uses, so
 * that a start that never happened is visible; the app's other asynchronous deliveries (the watchdog's and
 * the restore's EventBridge targets and functions, the alert subscriptions) use it too.
 */
export function scheduleGroupAndQueue(
  scope: Construct,
  app: string,
  encryptionKey?: kms.IKey,
): { group: scheduler.ScheduleGroup; deadLetterQueue: sqs.Queue } {
  const group = new scheduler.ScheduleGroup(scope, 'Group', { scheduleGroupName: app });
  const deadLetterQueue = newDeadLetterQueue(scope, 'DeadLetterQueue', { queueName: `${app}-schedules-dlq`, encryptionKey });
  return { group, deadLetterQueue };
}

/**
 * EventBridge Scheduler: one group per app, one backup schedule per database (and a drill schedule where the
 * config has one), each in the database's time zone with its flexible window, a retry policy, and a shared
 * encrypted DLQ so that a start that never happened is visible (the alarms issue alarms on its depth).
 */
export class Schedules extends Construct {
  public readonly group: scheduler.IScheduleGroup;
  public readonly deadLetterQueue: sqs.IQueue;
  public readonly backupSchedules: Readonly<Record<string, scheduler.Schedule>>;
  public readonly drillSchedules: Readonly<Record<string, scheduler.Schedule>>;
  public readonly logArchiveSchedules: Readonly<Record<string, scheduler.Schedule>>;
  public readonly baseBackupSchedules: Readonly<Record<string, scheduler.Schedule>>;

  public constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    const app = props.plan.app;
    const databases = Object.keys(props.plan.databases).map((name) => ({ name, ...props.plan.deployment[name] }));
    if (databases.length === 0) {
      throw new ValidationError(`the plan of "${app}" has no databases to schedule; add at least one to strongbox.config.yaml`, this);
    }
    const retryAttempts = props.retryAttempts ?? 3;
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 185) {
      throw new ValidationError(`retryAttempts must be a whole number 0-185 (Scheduler limit), got ${retryAttempts}`, this);
    }
    const maxEventAge = props.maxEventAge ?? Duration.hours(1);

    const shared = props.shared ?? scheduleGroupAndQueue(this, app, props.encryptionKey);
    this.group = shared.group;
    this.deadLetterQueue = shared.deadLetterQueue;

    // Every schedule of the app: in its group, starting a machine with one retry policy and the shared DLQ.
    const startOnSchedule = (
      id: string,
      machine: sfn.IStateMachine,
      { input, ...schedule }: Pick<scheduler.ScheduleProps, 'scheduleName' | 'description' | 'schedule' | 'timeWindow'> & { input: object },
    ) =>
      new scheduler.Schedule(this, id, {
        ...schedule,
        scheduleGroup: this.group,
        target: new targets.StepFunctionsStartExecution(machine, {
          input: scheduler.ScheduleTargetInput.fromObject(input),
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts,
          maxEventAge,
        }),
      });
    const backups: Record<string, scheduler.Schedule> = {};
    const drills: Record<string, scheduler.Schedule> = {};
    const logArchives: Record<string, scheduler.Schedule> = {};
    for (const db of databases) {
      const window = db.schedule.flexibleWindowMinutes;
      backups[db.name] = startOnSchedule(`Backup-${db.name}`, props.backupStateMachine, {
        scheduleName: `${app}-backup-${db.name}`,
        description: `Strongbox: full backup of ${db.name} (${db.schedule.expression} ${db.schedule.timezone})`,
        schedule: scheduler.ScheduleExpression.expression(db.schedule.expression, TimeZone.of(db.schedule.timezone)),
        timeWindow: window > 0 ? scheduler.TimeWindow.flexible(Duration.minutes(window)) : scheduler.TimeWindow.off(),
        input: { database: db.name, kind: 'full', trigger: 'schedule' },
      });
      if (db.drill && props.drillStateMachine) {
        drills[db.name] = startOnSchedule(`Drill-${db.name}`, props.drillStateMachine, {
          scheduleName: `${app}-drill-${db.name}`,
          description: `Strongbox: restore drill of ${db.name} (${db.drill.expression} ${db.drill.timezone})`,
          schedule: scheduler.ScheduleExpression.expression(db.drill.expression, TimeZone.of(db.drill.timezone)),
          timeWindow: scheduler.TimeWindow.off(),
          input: { database: db.name, trigger: 'schedule' },
        });
      }
    }
    for (const db of props.logArchiveStateMachine ? databases : []) {
      const logs = props.plan.databases[db.name]?.logs;
      // logs.mode continuous: the log-archive service streams it (infra/constructs/log-archive-service.ts).
      if (!logs || !props.logArchiveStateMachine || logs.mode === 'continuous') {
        continue;
      }
      logArchives[db.name] = startOnSchedule(`LogArchive-${db.name}`, props.logArchiveStateMachine, {
        scheduleName: `${app}-logs-${db.name}`,
        description: `Strongbox: binlog archiving of ${db.name} every ${logs.intervalSeconds / 60} min`,
        schedule: scheduler.ScheduleExpression.rate(Duration.seconds(logs.intervalSeconds)),
        timeWindow: scheduler.TimeWindow.off(),
        input: { database: db.name, trigger: 'schedule' },
      });
    }
    const baseBackups: Record<string, scheduler.Schedule> = {};
    for (const db of props.baseBackupStateMachine ? databases : []) {
      if (!db.baseBackup || !props.baseBackupStateMachine) {
        continue;
      }
      baseBackups[db.name] = startOnSchedule(`BaseBackup-${db.name}`, props.baseBackupStateMachine, {
        scheduleName: `${app}-base-${db.name}`,
        description: `Strongbox: PostgreSQL base backup of ${db.name} (${db.baseBackup.expression} ${db.baseBackup.timezone})`,
        schedule: scheduler.ScheduleExpression.expression(db.baseBackup.expression, TimeZone.of(db.baseBackup.timezone)),
        timeWindow: scheduler.TimeWindow.off(),
        input: { database: db.name, trigger: 'schedule' },
      });
    }
    this.baseBackupSchedules = baseBackups;
    this.backupSchedules = backups;
    this.drillSchedules = drills;
    this.logArchiveSchedules = logArchives;
    acknowledgeSchedulerRoles(this);
  }
}

/**
 * The Scheduler targets share one role per state machine, made by aws-cdk-lib at the stack's root, so every
 * construct that adds schedules acknowledges them after adding its own (acknowledging twice is harmless).
 */
export function acknowledgeSchedulerRoles(scope: Construct): void {
  for (const role of Stack.of(scope).node.children.filter((c) => c.node.id.startsWith('SchedulerRoleForTarget-'))) {
    acknowledgeRule(
      role,
      'IAMNoInlinePolicy',
      ['nist', 'hipaa'],
      "The Scheduler target role's one statement (states:StartExecution on its state machine) is aws-cdk-lib's inline policy on that role, deleted with it and attachable to nothing else.",
    );
  }
}
