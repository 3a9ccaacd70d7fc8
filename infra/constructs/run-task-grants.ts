import { ArnFormat, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { Plan } from '../../contracts/plan';

/** Step Functions' managed rule for `.sync` ECS integrations. */
const ECS_SYNC_RULE = 'StepFunctionsGetEventsForECSTaskRule';

/**
 * Lets a state machine run (and, through .sync, stop) the given task definitions on the cluster, passing
 * `passRoles` to ECS (default: each task definition's task and execution roles; the restore and drill pass
 * the execution roles and the restore roles they name as the TaskRoleArn override).
 */
export function grantRunTasks(
  stateMachine: sfn.StateMachine,
  plan: Plan,
  cluster: ecs.ICluster,
  taskDefinitions: readonly ecs.TaskDefinition[],
  passRoles: readonly iam.IRole[] = taskDefinitions.flatMap((t) => [t.taskRole, t.executionRole].filter((r) => r !== undefined)),
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
  if (passRoles.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [...new Set(passRoles.map((r) => r.roleArn))],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
  }
}

/**
 * The restore roles of every database of the plan, as the STRONGBOX_RESTORE_ROLES value the Resolve and drill
 * Prepare functions read (database -> role ARN). Fails early, naming the database, when one has no role.
 */
export function restoreRolesEnvironment(scope: Construct, plan: Plan, restoreRoles: Readonly<Record<string, iam.IRole>>): string {
  const missing = Object.keys(plan.databases).filter((name) => !restoreRoles[name]);
  if (missing.length > 0) {
    throw new Error(
      `restoreRoles: no restore role for ${missing.map((m) => `"${m}"`).join(', ')}; expected one per database (DumpTask.restoreRole), got ${JSON.stringify(Object.keys(restoreRoles))}`,
    );
  }
  return Stack.of(scope).toJsonString(Object.fromEntries(Object.keys(plan.databases).map((name) => [name, restoreRoles[name].roleArn])));
}

/**
 * grantRunTasks for the restore and drill state machines: ECS may be handed the task definitions' execution
 * roles and the restore roles (the TaskRoleArn override), never a dump role.
 */
export function grantRestoreRunTasks(
  stateMachine: sfn.StateMachine,
  props: {
    readonly plan: Plan;
    readonly cluster: ecs.ICluster;
    readonly taskDefinitions: readonly ecs.TaskDefinition[];
    readonly restoreRoles: Readonly<Record<string, iam.IRole>>;
  },
): void {
  const passRoles = [
    ...props.taskDefinitions.map((t) => t.executionRole).filter((r) => r !== undefined),
    ...Object.values(props.restoreRoles),
  ];
  grantRunTasks(stateMachine, props.plan, props.cluster, props.taskDefinitions, passRoles);
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
