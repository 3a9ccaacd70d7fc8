import { Duration, TimeZone } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { DeploymentPlan } from '../config/plan';
import { acknowledgeSchedulerRoles } from './schedules';

export interface RehearsalSchedulesProps {
  /** The deployment plan: one schedule per DR plan with a `rehearsal` schedule (`plan.rehearsals`). */
  readonly plan: DeploymentPlan;
  /** The DR plan state machine; each schedule starts it with `{plan, rehearsal: true, requestedBy}`. */
  readonly drPlanStateMachine: sfn.IStateMachine;
  /** The app's schedule group and dead-letter queue ({@link scheduleGroupAndQueue}), shared with the backups and drills. */
  readonly shared: { readonly group: scheduler.IScheduleGroup; readonly deadLetterQueue: sqs.IQueue };
  /**
   * Attempts Scheduler makes after a failed StartExecution.
   * @default 3
   */
  readonly retryAttempts?: number;
}

/** The input a scheduled rehearsal starts the DR plan machine with. */
export function rehearsalInput(plan: string): { plan: string; rehearsal: true; requestedBy: string } {
  return { plan, rehearsal: true, requestedBy: 'rehearsal schedule' };
}

/**
 * EventBridge Scheduler: one schedule per DR plan with `drPlans[].rehearsal`, named `<app>-rehearsal-<plan>`, in
 * the app's group with the shared DLQ, starting the DR plan machine in rehearsal mode. A rehearsal drills every
 * database of the plan into throwaway engines; no target is touched, so it is safe to run unattended.
 */
export class RehearsalSchedules extends Construct {
  public readonly schedules: Readonly<Record<string, scheduler.Schedule>>;

  public constructor(scope: Construct, id: string, props: RehearsalSchedulesProps) {
    super(scope, id);
    const app = props.plan.app;
    const schedules: Record<string, scheduler.Schedule> = {};
    for (const [plan, schedule] of Object.entries(props.plan.rehearsals ?? {})) {
      schedules[plan] = new scheduler.Schedule(this, `Rehearsal-${plan}`, {
        scheduleName: `${app}-rehearsal-${plan}`,
        description: `Strongbox: rehearsal of DR plan ${plan} (${schedule.expression} ${schedule.timezone})`,
        scheduleGroup: props.shared.group,
        schedule: scheduler.ScheduleExpression.expression(schedule.expression, TimeZone.of(schedule.timezone)),
        timeWindow: scheduler.TimeWindow.off(),
        target: new targets.StepFunctionsStartExecution(props.drPlanStateMachine, {
          input: scheduler.ScheduleTargetInput.fromObject(rehearsalInput(plan)),
          deadLetterQueue: props.shared.deadLetterQueue,
          retryAttempts: props.retryAttempts ?? 3,
          maxEventAge: Duration.hours(1),
        }),
      });
    }
    this.schedules = schedules;
    acknowledgeSchedulerRoles(this);
  }
}
