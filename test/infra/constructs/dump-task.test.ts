import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { buildDeploymentPlan } from '../../../infra/config/plan';
import { StrongboxConfigSchema } from '../../../infra/config/schema';
import { DumpTask, type DumpTaskProps } from '../../../infra/constructs/dump-task';
import { ValidationError } from '../../../infra/constructs/validation-error';
import { type IVault, Vault, type VaultAttributes } from '../../../infra/constructs/vault';
import { policyText } from './workflow-stack';

const SECRET_A = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-db-AbCdEf';
const SECRET_B = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing-db-GhIjKl';
const VAULT: VaultAttributes = {
  bucketName: 'sb-vault-123456789012-eu-west-1',
  bucketArn: 'arn:aws:s3:::sb-vault-123456789012-eu-west-1',
  region: 'eu-west-1',
  keyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000001',
};

function database(name: string, secretArn: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    engine: 'postgres',
    connection: { host: `${name}.example.internal`, database: name, secretArn },
    tier: 'general',
    schedule: { expression: 'cron(0 3 * * ? *)' },
    task: { cpu: 2048, memoryMiB: 4096, timeoutMinutes: 60 },
    ...extra,
  };
}

/** The deployment plan of app `sb` with the two databases the tests dump. */
const PLAN = buildDeploymentPlan(
  StrongboxConfigSchema.parse({
    app: { name: 'sb' },
    vault: { primaryRegion: 'eu-west-1', replicaRegion: 'eu-central-1' },
    alerts: {},
    databases: [database('orders', SECRET_A), database('billing', SECRET_B)],
  }),
);

function vaultIn(stack: Stack): IVault {
  return Vault.fromAttributes(stack, 'Vault', VAULT);
}

function twoTasks(props: Partial<DumpTaskProps> = {}) {
  const stack = new Stack(undefined, 'Test', { env: { region: 'eu-west-1', account: '123456789012' } });
  const image = ecs.ContainerImage.fromRegistry('strongbox/dump:test');
  const vault = vaultIn(stack);
  const a = new DumpTask(stack, 'Orders', { plan: PLAN, database: 'orders', vault, image, ...props });
  const b = new DumpTask(stack, 'Billing', { plan: PLAN, database: 'billing', vault, image });
  return { stack, a, b, template: Template.fromStack(stack) };
}

/** The one task of app `sb` whose only database, `ledger`, archives its log as `extra` configures it. */
function ledgerTask(extra: Record<string, unknown>) {
  const plan = buildDeploymentPlan(
    StrongboxConfigSchema.parse({
      app: { name: 'sb' },
      vault: { primaryRegion: 'eu-west-1', replicaRegion: 'eu-central-1' },
      alerts: {},
      databases: [database('ledger', SECRET_B, extra)],
    }),
  );
  const stack = new Stack(undefined, 'Test', { env: { region: 'eu-west-1', account: '123456789012' } });
  const task = new DumpTask(stack, 'Ledger', {
    plan,
    database: 'ledger',
    vault: vaultIn(stack),
    image: ecs.ContainerImage.fromRegistry('strongbox/dump:test'),
  });
  return { stack, task, template: Template.fromStack(stack) };
}

type Statement = { Action: string | string[]; Resource: unknown };

/** The statements of a `policyText`, one flat list. */
function statementsIn(text: string): Statement[] {
  return (JSON.parse(text) as Statement[][]).flat();
}

describe('DumpTask', () => {
  it('defines a Fargate task per database with the plan family, the dump container and the configured size', () => {
    // Prepare
    const { template, a } = twoTasks();
    // Act
    const definitions = template.findResources('AWS::ECS::TaskDefinition');
    // Assess
    expect(Object.keys(definitions)).toHaveLength(2);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'sb-orders-dump',
      Cpu: '2048',
      Memory: '4096',
      RequiresCompatibilities: ['FARGATE'],
      EphemeralStorage: { SizeInGiB: 100 },
      ContainerDefinitions: [Match.objectLike({ Name: 'dump', Essential: true })],
    });
    expect(a.containerName).toBe('dump');
  });

  it('passes static settings as environment and the credentials only as secrets from the username/password keys', () => {
    // Prepare
    const { template } = twoTasks();
    // Act
    const definition = Object.values(template.findResources('AWS::ECS::TaskDefinition')).find(
      (d) => d.Properties.Family === 'sb-orders-dump',
    );
    const container = definition?.Properties.ContainerDefinitions[0];
    const environment = Object.fromEntries(container.Environment.map((e: { Name: string; Value: string }) => [e.Name, e.Value]));
    // Assess
    expect(environment).toMatchObject({
      STRONGBOX_DATABASE: 'orders',
      STRONGBOX_ENGINE: 'postgres',
      STRONGBOX_DB_HOST: 'orders.example.internal',
      STRONGBOX_DB_PORT: '5432',
      STRONGBOX_DB_NAME: 'orders',
      STRONGBOX_VAULT_BUCKET: VAULT.bucketName,
      STRONGBOX_COMPRESSION_LEVEL: '3',
    });
    expect(Object.keys(environment).some((name) => /PASSWORD|USERNAME|SECRET/.test(name))).toBe(false);
    expect(container.Secrets).toEqual([
      { Name: 'STRONGBOX_DB_USERNAME', ValueFrom: `${SECRET_A}:username::` },
      { Name: 'STRONGBOX_DB_PASSWORD', ValueFrom: `${SECRET_A}:password::` },
    ]);
  });

  it('logs to its own log group with the configured retention', () => {
    // Prepare
    const { template } = twoTasks({ logRetention: logs.RetentionDays.ONE_MONTH });
    // Act
    const groups = template.findResources('AWS::Logs::LogGroup', { Properties: { LogGroupName: '/strongbox/sb/dump/orders' } });
    // Assess
    expect(Object.values(groups).map((g) => g.Properties.RetentionInDays)).toEqual([30]);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'sb-orders-dump',
      ContainerDefinitions: [Match.objectLike({ LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }) })],
    });
  });

  it("lets database A's task role upload only under A's prefix, read nothing there, and read only A's secret", () => {
    // Prepare
    const { stack, template, a } = twoTasks();
    // Act
    const text = policyText(stack, template, a.taskRole);
    const statements = statementsIn(text);
    const s3Actions = statements.flatMap((s) => [s.Action].flat()).filter((action) => action.startsWith('s3:'));
    // Assess
    expect(new Set(s3Actions)).toEqual(new Set(['s3:PutObject', 's3:AbortMultipartUpload']));
    expect(text).toContain(`${VAULT.bucketArn}/backups/orders/*`);
    expect(text).not.toContain('backups/billing');
    expect(text).toContain(SECRET_A);
    expect(text).not.toContain(SECRET_B);
    expect(text).not.toMatch(/s3:DeleteObject|s3:PutObjectRetention|s3:PutObjectLegalHold|s3:\*|secretsmanager:\*/);
    expect(text).not.toContain('secretsmanager:ResourceTag/strongbox:restore-target');
  });

  it('lets an archiving database write its own segments and move its own cursor, with the interval in its environment', () => {
    // Prepare
    const { stack, task, template } = ledgerTask({
      engine: 'mariadb',
      connection: { host: 'ledger.example.internal', secretArn: SECRET_B },
      logs: { intervalMinutes: 5, windowDays: 7 },
    });

    // Act
    const text = policyText(stack, template, task.taskRole);

    // Assess
    expect(text).toContain(`${VAULT.bucketArn}/logs/ledger/*`);
    expect(text).toContain(`${VAULT.bucketArn}/index/ledger/log-cursor.json*`);
    expect(text).toContain('s3:GetObject');
    const segmentReads = statementsIn(text).filter(
      (st) => JSON.stringify(st.Resource).includes('/logs/ledger/*') && [st.Action].flat().includes('s3:GetObject'),
    );
    expect(segmentReads).toHaveLength(1);
    expect(text).not.toMatch(/index\/ledger\/\*|logs\/\*|s3:DeleteObject/);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'STRONGBOX_LOG_INTERVAL_MINUTES', Value: '5' }]) })],
    });
  });

  it('lets a PostgreSQL database with WAL archiving upload its own bases, without reading or deleting any', () => {
    // Prepare
    const { stack, task, template } = ledgerTask({
      engine: 'postgres',
      connection: { host: 'ledger.example.internal', database: 'ledger', secretArn: SECRET_B },
      logs: { intervalMinutes: 5, windowDays: 7, baseBackup: { expression: 'cron(0 2 * * ? *)' } },
    });

    // Act
    const text = policyText(stack, template, task.taskRole);
    const baseStatements = statementsIn(text).filter((st) => JSON.stringify(st.Resource).includes('/bases/ledger/*'));

    // Assess
    expect(baseStatements.flatMap((st) => [st.Action].flat()).sort()).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
    expect(text).not.toMatch(/bases\/\*|s3:DeleteObject/);
  });

  it("lets database A's restore role read A's backups, write only drill.json and A's restore error records, and read tagged target secrets", () => {
    // Prepare
    const { stack, template, a } = twoTasks();
    // Act
    const text = policyText(stack, template, a.restoreRole);
    const statements = statementsIn(text);
    const writes = statements.filter((st) => [st.Action].flat().some((action) => /^s3:(Put|Delete|Abort)/.test(action)));
    // Assess
    expect(writes).toEqual([
      expect.objectContaining({
        Action: 's3:PutObject',
        Resource: [`${VAULT.bucketArn}/backups/orders/*/drill.json`, `${VAULT.bucketArn}/restores/orders/task-errors/*`],
      }),
    ]);
    expect(text).not.toContain('restores/billing');
    expect(text).not.toContain('restores/*');
    expect(text).toContain('s3:GetObject');
    expect(text).toContain(`${VAULT.bucketArn}/backups/orders/*`);
    expect(text).not.toContain('backups/billing');
    expect(text).not.toContain(SECRET_B);
    const secretReads = statements.filter((st) => [st.Action].flat().includes('secretsmanager:GetSecretValue') && st.Resource === '*');
    expect(JSON.stringify(secretReads)).toContain('secretsmanager:ResourceTag/strongbox:restore-target');
  });

  it('lets a PostgreSQL database with logs have its restore role read its own base backups, for a point-in-time restore', () => {
    // Prepare
    const { stack, task, template } = ledgerTask({
      connection: { host: 'ledger.example.internal', database: 'ledger', secretArn: SECRET_B },
      logs: { intervalMinutes: 5, windowDays: 7, baseBackup: { expression: 'cron(0 2 * * ? *)' } },
    });

    // Act
    const statements = statementsIn(policyText(stack, template, task.restoreRole));

    // Assess
    const baseReads = statements.filter(
      (st) => JSON.stringify(st.Resource).includes('/bases/ledger/*') && [st.Action].flat().includes('s3:GetObject'),
    );
    expect(baseReads).toHaveLength(1);
    const baseWrites = statements.filter(
      (st) => JSON.stringify(st.Resource).includes('/bases/') && [st.Action].flat().some((a) => /^s3:(Put|Delete)/.test(a)),
    );
    expect(baseWrites).toEqual([]);
    expect(JSON.stringify(statements)).not.toContain('bases/*');
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { EphemeralStorage: { SizeInGiB: 100 } });
  });

  it("lets database A's execution role resolve only A's secret", () => {
    // Prepare
    const { stack, template, a, b } = twoTasks();
    // Act
    const textA = policyText(stack, template, a.executionRole);
    const textB = policyText(stack, template, b.executionRole);
    // Assess
    expect(textA).toContain(SECRET_A);
    expect(textA).not.toContain(SECRET_B);
    expect(textB).toContain(SECRET_B);
    expect(textB).not.toContain(SECRET_A);
    expect(textA).not.toContain('s3:PutObject');
  });

  it('rejects an ephemeral storage size Fargate does not offer, showing the value', () => {
    // Prepare
    const stack = new Stack();
    // Act
    const create = () =>
      new DumpTask(stack, 'Bad', {
        plan: PLAN,
        database: 'orders',
        vault: vaultIn(stack),
        image: ecs.ContainerImage.fromRegistry('x'),
        ephemeralStorageGiB: 500,
      });
    // Assess
    expect(create).toThrow('ephemeralStorageGiB must be a whole number of GiB from 21 to 200, got 500');
  });

  it('rejects a database the plan does not have, with the construct path and the names it has', () => {
    // Prepare
    const stack = new Stack(undefined, 'Fleet');
    // Act
    const error = (() => {
      try {
        new DumpTask(stack, 'DumpTask-ordrs', { plan: PLAN, database: 'ordrs', vault: vaultIn(stack) });
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();
    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(
      'Fleet/DumpTask-ordrs: database "ordrs" is not in the plan; expected one of ["orders","billing"]',
    );
  });

  it('builds the image from tasks/Dockerfile by default without needing Docker at synth', () => {
    // Prepare
    const stack = new Stack(undefined, 'Default', { env: { region: 'eu-west-1', account: '123456789012' } });
    // Act
    new DumpTask(stack, 'Orders', { plan: PLAN, database: 'orders', vault: vaultIn(stack) });
    const template = Template.fromStack(stack);
    // Assess
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Image: { 'Fn::Sub': Match.stringLikeRegexp('cdk-hnb659fds-container-assets') } })],
    });
  });
});
