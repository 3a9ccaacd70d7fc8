import '../../../local/executor/polyfill';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { StateMachine } from 'aws-local-stepfunctions';
import type { Plan } from '../../../contracts/plan';
import { type IVault, Vault } from '../../../infra/constructs/vault';
import { type CfnTemplate, IntrinsicResolver } from '../../../local/executor/intrinsics';
import type { AslDefinition } from '../../../local/executor/runtime';

/** The pieces the restore, drill and DR plan workflows need, in a stack that synthesizes without bundling. */
export interface WorkflowStack {
  readonly stack: Stack;
  readonly vpc: ec2.Vpc;
  readonly cluster: ecs.Cluster;
  readonly chatTopic: sns.Topic;
  readonly vault: IVault;
  readonly taskDefinitions: ecs.FargateTaskDefinition[];
  /** One restore role per database, as DumpTask.restoreRole. */
  readonly restoreRoles: Record<string, iam.Role>;
  readonly subnets: ec2.ISubnet[];
  readonly securityGroups: ec2.ISecurityGroup[];
}

export function workflowStack(plan: Plan): WorkflowStack {
  // No esbuild at synth: the template is what is asserted, not the bundle.
  const app = new App({ autoSynth: false, context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'tasks', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc, clusterName: 'strongbox-tasks' });
  const chatTopic = new sns.Topic(stack, 'Chat');
  const securityGroup = new ec2.SecurityGroup(stack, 'TaskSg', { vpc });
  const taskDefinitions = Object.values(plan.databases).map((db) => {
    const td = new ecs.FargateTaskDefinition(stack, `Task-${db.name}`, { family: db.taskFamily, cpu: 1024, memoryLimitMiB: 2048 });
    td.addContainer('dump', { image: ecs.ContainerImage.fromRegistry('strongbox/dump'), containerName: 'dump' });
    return td;
  });
  const restoreRoles = Object.fromEntries(
    Object.values(plan.databases).map((db) => [
      db.name,
      new iam.Role(stack, `Restore-${db.name}`, { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') }),
    ]),
  );
  const vault = Vault.fromAttributes(stack, 'Vault', {
    bucketName: 'strongbox-vault-primary',
    bucketArn: 'arn:aws:s3:::strongbox-vault-primary',
    region: 'eu-west-1',
    keyArn: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
  });
  return {
    stack,
    vpc,
    cluster,
    chatTopic,
    vault,
    taskDefinitions,
    restoreRoles,
    subnets: vpc.isolatedSubnets,
    securityGroups: [securityGroup],
  };
}

/** The props the restore and drill workflows take from the stack's parts (each construct ignores what it does not need). */
export function workflowProps(parts: WorkflowStack) {
  return {
    vault: parts.vault,
    cluster: parts.cluster,
    vpc: parts.vpc,
    taskSubnets: parts.subnets,
    taskSecurityGroups: parts.securityGroups,
    chatTopic: parts.chatTopic,
  };
}

/** The ASL of the one state machine whose name ends with `suffix`, intrinsics resolved the way the local runtime does. */
export function definitionOf(stack: Stack, suffix: string): { template: Template; definition: AslDefinition } {
  const template = Template.fromStack(stack);
  const json = template.toJSON() as CfnTemplate;
  const resolver = new IntrinsicResolver(json, { region: 'eu-west-1', stackName: 'Test' });
  const machines = Object.entries(json.Resources ?? {}).filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine');
  const found = machines.find(([, r]) => String((r.Properties as { StateMachineName?: string }).StateMachineName).endsWith(suffix));
  if (!found) {
    throw new Error(`no state machine named *${suffix} in the template`);
  }
  const props = found[1].Properties as { DefinitionString: unknown };
  return { template, definition: JSON.parse(resolver.resolveString(props.DefinitionString)) as AslDefinition };
}

/** The replica vault the workflows that copy to the second region are given, in `stack`. */
export function replicaVaultProps(stack: Stack) {
  return {
    replicaVault: Vault.fromAttributes(stack, 'ReplicaVault', {
      bucketName: 'strongbox-vault-replica',
      bucketArn: 'arn:aws:s3:::strongbox-vault-replica',
      region: 'eu-central-1',
      keyAliasName: 'alias/strongbox-vault-replica',
    }),
    replicaKmsKey: 'arn:aws:kms:eu-central-1:123456789012:alias/strongbox-vault-replica',
  };
}

/** Every statement of the inline policies attached to `role`, as JSON text for containment checks. */
export function policyText(stack: Stack, template: Template, role: iam.IRole | undefined): string {
  const logicalId = stack.getLogicalId(role?.node.defaultChild as iam.CfnRole);
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
    JSON.stringify(p.Properties.Roles).includes(`"${logicalId}"`),
  );
  return JSON.stringify(policies.map((p) => p.Properties.PolicyDocument.Statement));
}

/** The environment variables the template gives `fn`. */
export function functionEnvironment(stack: Stack, template: Template, fn: lambda.IFunction): Record<string, unknown> {
  return template.findResources('AWS::Lambda::Function')[stack.getLogicalId(fn.node.defaultChild as never)].Properties.Environment
    .Variables;
}

/** What constructing threw, or undefined when it did not: the refusal tests assert on the error itself. */
export function constructionError(construct: () => unknown): Error | undefined {
  try {
    construct();
    return undefined;
  } catch (e) {
    return e as Error;
  }
}

type LocalHandler = (input: never) => unknown;

/**
 * Runs `definition` with a local handler per task state, recording each state's name in `calls` as it runs,
 * so a test can assert the path a run took.
 */
export function runRecorded(
  definition: AslDefinition,
  handlers: Record<string, LocalHandler>,
  calls: string[],
  input: Record<string, unknown>,
  context: Record<string, unknown>,
) {
  const recorded = Object.fromEntries(
    Object.entries(handlers).map(([state, fn]) => [
      state,
      async (given: never) => {
        calls.push(state);
        return fn(given);
      },
    ]),
  );
  return new StateMachine(definition as never).run(input as never, {
    overrides: { taskResourceLocalHandlers: recorded as never },
    context: context as never,
  }).result;
}
