import { ArnFormat, Aws, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { FUNCTION_ENV } from '../../contracts/function-env';
import type { Plan } from '../../contracts/plan';
import { TASK_CONTAINER_NAME, TASK_ENV } from '../../contracts/task-env';
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

/**
 * The RunTask .sync state of a machine whose Prepare step chose the work: the database's own task family
 * (`$.prepare.taskFamily`), the command, the trigger and (with `passBackupId`) the id Prepare minted. ECS resolves a
 * family to its latest ACTIVE revision. The task's exit lands in `$.dump` (taskArn, stoppedReason, exitCode).
 */
export function preparedTaskState(
  scope: Construct,
  id: string,
  props: Parameters<typeof fargateTaskParameters>[0] & {
    readonly comment: string;
    readonly command: string;
    readonly passBackupId: boolean;
    readonly timeoutSeconds: number;
  },
): sfn.CustomState {
  return new sfn.CustomState(scope, id, {
    stateJson: {
      Type: 'Task',
      Comment: props.comment,
      Resource: `arn:${Aws.PARTITION}:states:::ecs:runTask.sync`,
      Parameters: {
        ...fargateTaskParameters(props),
        'TaskDefinition.$': '$.prepare.taskFamily',
        Overrides: {
          ContainerOverrides: [
            {
              Name: TASK_CONTAINER_NAME,
              Environment: [
                { Name: TASK_ENV.command, Value: props.command },
                ...(props.passBackupId ? [{ Name: TASK_ENV.backupId, 'Value.$': '$.prepare.backupId' }] : []),
                { Name: TASK_ENV.trigger, 'Value.$': '$.prepare.trigger' },
              ],
            },
          ],
        },
      },
      // Fixed (the longest task timeout of the plan plus provisioning). TimeoutSecondsPath would allow a per-database
      // value, but aws-local-stepfunctions 3 evaluates it against the state's effective input (after Parameters),
      // where `$.prepare` does not exist, so the local runtime could not run it.
      TimeoutSeconds: props.timeoutSeconds,
      ResultSelector: {
        'taskArn.$': '$.TaskArn',
        'stoppedReason.$': '$.StoppedReason',
        'exitCode.$': '$.Containers[0].ExitCode',
      },
      ResultPath: '$.dump',
    },
  });
}
