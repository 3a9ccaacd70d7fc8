import { ArnFormat, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { FUNCTION_ENV } from '../../contracts/function-env';
import type { Plan } from '../../contracts/plan';
import { restoreRoleArnTemplate, taskRolePathArn } from './task-roles';
import { ValidationError } from './validation-error';

/** Step Functions' managed rule for `.sync` ECS integrations. */
const ECS_SYNC_RULE = 'StepFunctionsGetEventsForECSTaskRule';

/**
 * Lets a state machine run (and, through .sync, stop) the dump task families of the plan on the cluster,
 * passing the task roles under `passRolePaths` to ECS. Families and roles are named by pattern
 * (`<app>-*-dump`, `/strongbox/<app>/<kind>/`), so the policy is the same size at 4 or 500 databases and holds
 * no reference into the stacks that create them.
 */
export function grantRunTasks(
  stateMachine: sfn.StateMachine,
  plan: Plan,
  cluster: ecs.ICluster,
  passRolePaths: readonly ('dump' | 'restore' | 'execution')[],
): void {
  const stack = Stack.of(stateMachine);
  const role = stateMachine.role;
  const families = [...new Set(Object.values(plan.databases).map((db) => db.taskFamily))];
  if (families.length === 0 || families.some((family) => !family.startsWith(`${plan.app}-`) || !family.endsWith('-dump'))) {
    throw new ValidationError(
      `task families must be <app>-<database>-dump (taskFamily) for the RunTask grant to cover them, got ${JSON.stringify(families.slice(0, 3))}`,
      stateMachine,
    );
  }
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ecs:RunTask'],
      resources: [
        stack.formatArn({
          service: 'ecs',
          resource: 'task-definition',
          resourceName: `${plan.app}-*-dump:*`,
          arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        }),
      ],
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
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: passRolePaths.map((kind) => taskRolePathArn(plan.app, kind)),
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }),
  );
}

/**
 * grantRunTasks for the restore and drill state machines: ECS may be handed the execution roles and the
 * restore roles (the TaskRoleArn override), never a dump role.
 */
export function grantRestoreRunTasks(stateMachine: sfn.StateMachine, props: { readonly plan: Plan; readonly cluster: ecs.ICluster }): void {
  grantRunTasks(stateMachine, props.plan, props.cluster, ['execution', 'restore']);
}

/**
 * The STRONGBOX_RESTORE_ROLE_ARN_TEMPLATE value of the Resolve and drill Prepare functions: one ARN with
 * `{database}`, the same 120-odd bytes for any number of databases.
 */
export function restoreRoleEnvironment(plan: Plan): Record<string, string> {
  return { [FUNCTION_ENV.restoreRoleArnTemplate]: restoreRoleArnTemplate(plan.app) };
}

/** Where every Strongbox task runs: the cluster, Fargate, the task subnets and security groups, no public IP. */
export function fargateTaskParameters(props: {
  cluster: ecs.ICluster;
  taskSubnets: readonly ec2.ISubnet[];
  taskSecurityGroups: readonly ec2.ISecurityGroup[];
}): Record<string, unknown> {
  return {
    Cluster: props.cluster.clusterArn,
    LaunchType: 'FARGATE',
    PropagateTags: 'TASK_DEFINITION',
    NetworkConfiguration: {
      AwsvpcConfiguration: {
        Subnets: props.taskSubnets.map((s) => s.subnetId),
        SecurityGroups: props.taskSecurityGroups.map((g) => g.securityGroupId),
        AssignPublicIp: 'DISABLED',
      },
    },
  };
}
