import { ArnFormat, Stack } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Plan } from '../../lambdas/shared/plan';

/** Step Functions' managed rule for `.sync` ECS integrations. */
const ECS_SYNC_RULE = 'StepFunctionsGetEventsForECSTaskRule';

/** Lets a state machine run (and, through .sync, stop) the given task definitions on the cluster. */
export function grantRunTasks(
  stateMachine: sfn.StateMachine,
  plan: Plan,
  cluster: ecs.ICluster,
  taskDefinitions: readonly ecs.TaskDefinition[],
): void {
  const stack = Stack.of(stateMachine);
  const role = stateMachine.role;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ecs:RunTask'],
      resources: Object.values(plan.databases).map((db) =>
        stack.formatArn({
          service: 'ecs',
          resource: 'task-definition',
          resourceName: `${db.taskFamily}:*`,
          arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        }),
      ),
      conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
      resources: [
        stack.formatArn({
          service: 'ecs',
          resource: 'task',
          resourceName: `${cluster.clusterName}/*`,
          arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        }),
      ],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      resources: [stack.formatArn({ service: 'events', resource: 'rule', resourceName: ECS_SYNC_RULE })],
    }),
  );
  const roles = taskDefinitions.flatMap((t) => [t.taskRole, t.executionRole].filter((r) => r !== undefined));
  if (roles.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [...new Set(roles.map((r) => r.roleArn))],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
  }
}
