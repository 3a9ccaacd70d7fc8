import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { DrPlanInputSchema } from '../../../contracts/payloads/dr-plan';
import { parseConfig } from '../../../infra/config/load';
import { buildDeploymentPlan } from '../../../infra/config/plan';
import { RehearsalSchedules } from '../../../infra/constructs/rehearsal-schedules';
import { scheduleGroupAndQueue } from '../../../infra/constructs/schedules';
import { TEST_CONFIG_YAML } from '../../lambdas/fixtures';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dr-AbCdEf';
const plan = buildDeploymentPlan(
  parseConfig(
    `${TEST_CONFIG_YAML}
drPlans:
  - name: region-loss
    groups: [{ databases: [orders] }, { databases: [billing, cache] }]
    targets:
      orders: { host: orders.dr.internal, database: orders, secretArn: "${ARN}" }
      billing: { host: billing.dr.internal, secretArn: "${ARN}" }
      cache: { host: cache.dr.internal }
    rto: 2h
    rehearsal: { expression: cron(0 4 ? * SUN *), timezone: Europe/Berlin }
  - name: az-loss
    groups: [{ databases: [orders] }]
    targets:
      orders: { host: orders.az2.internal, database: orders, secretArn: "${ARN}" }
`,
    'test.yaml',
  ),
);

function build() {
  const stack = new Stack(new App({ autoSynth: false }), 'Test');
  const drPlan = new sfn.StateMachine(stack, 'DrPlan', {
    stateMachineName: 'sbx-dr-plan',
    definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Pass')),
  });
  const shared = scheduleGroupAndQueue(stack, plan.app);
  const construct = new RehearsalSchedules(stack, 'Rehearsals', { plan, drPlanStateMachine: drPlan, shared });
  return { template: Template.fromStack(stack), construct, stack, drPlan, shared };
}

describe('RehearsalSchedules', () => {
  const { template, construct, stack, drPlan, shared } = build();

  it('schedules a rehearsal only for the plans with drPlans[].rehearsal, in its time zone, in the app group', () => {
    // Assess
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    expect(Object.keys(construct.schedules)).toEqual(['region-loss']);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'sbx-rehearsal-region-loss',
      GroupName: 'sbx',
      ScheduleExpression: 'cron(0 4 ? * SUN *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: Match.objectLike({
        Arn: { Ref: stack.getLogicalId(drPlan.node.defaultChild as sfn.CfnStateMachine) },
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [stack.getLogicalId(shared.deadLetterQueue.node.defaultChild as never), 'Arn'] } },
      }),
    });
  });

  it('starts the DR plan state machine with a rehearsal input its Start step accepts', () => {
    // Prepare
    const schedule = Object.values(template.findResources('AWS::Scheduler::Schedule'))[0];

    // Act
    const input = DrPlanInputSchema.parse(JSON.parse(schedule.Properties.Target.Input));

    // Assess
    expect(input).toEqual({ plan: 'region-loss', rehearsal: true, overwrite: false, requestedBy: 'rehearsal schedule' });
  });

  it('lets the scheduler role start only the DR plan state machine', () => {
    // Prepare
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));

    // Act
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[]);

    // Assess
    expect(statements.filter((s) => s.Action === 'states:StartExecution').map((s) => s.Resource)).toEqual([
      { Ref: stack.getLogicalId(drPlan.node.defaultChild as sfn.CfnStateMachine) },
    ]);
  });
});
