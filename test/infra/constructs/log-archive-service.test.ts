import { readFileSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TASK_ENV } from '../../../contracts/task-env';
import { buildApp } from '../../../infra/app';
import { parseConfig } from '../../../infra/config/load';
import { fullFeaturedConfig } from '../full-featured-config';

const example = parseConfig(readFileSync('strongbox.config.yaml', 'utf8'));
const billing = example.databases.findIndex((db) => db.name === 'billing');
/** The full-featured fleet with billing (mariadb) streamed and extra-1 (mariadb) still on its 5-minute schedule. */
const CONTINUOUS: [(string | number)[], unknown][] = [
  [['databases', billing, 'logs'], { mode: 'continuous', flushSeconds: 15, windowDays: 7 }],
];

describe('LogArchiveService in the primary stack', () => {
  let built: ReturnType<typeof buildApp>;
  let primary: Template;
  let shardOf: (database: string) => Template;

  beforeAll(() => {
    built = buildApp(fullFeaturedConfig(17, CONTINUOUS), { bundling: false });
    built.app.synth();
    primary = Template.fromStack(built.primary);
    shardOf = (database) => Template.fromStack(Stack.of(built.primary.dumpTasks[database].taskDefinition));
  });

  it('runs one Fargate task of billing without a public IP, stopping the old task before a new one, with the circuit breaker', () => {
    // Prepare
    const services = primary.findResources('AWS::ECS::Service');

    // Act
    const billingService = Object.values(services).map((s) => s.Properties as Record<string, unknown>);

    // Assess
    expect(billingService).toHaveLength(1);
    primary.hasResourceProperties('AWS::ECS::Service', {
      ServiceName: 'strongbox-logs-billing',
      LaunchType: 'FARGATE',
      DesiredCount: 1,
      DeploymentConfiguration: {
        MinimumHealthyPercent: 0,
        MaximumPercent: 100,
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
      },
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
    });
  });

  it("gives billing's task definition stream-logs as its default command and its flush, and its task role the lease", () => {
    // Prepare
    const shard = shardOf('billing');

    // Act
    const family = (database: string) => ({ Properties: { Family: built.primary.plan.databases[database].taskFamily } });
    const definitions = shard.findResources('AWS::ECS::TaskDefinition', family('billing'));
    const environment = (
      Object.values(definitions)[0].Properties as { ContainerDefinitions: { Environment: { Name: string; Value: string }[] }[] }
    ).ContainerDefinitions[0].Environment;
    const scheduled = shardOf('extra-1').findResources('AWS::ECS::TaskDefinition', family('extra-1'));

    // Assess
    expect(environment).toEqual(
      expect.arrayContaining([
        { Name: TASK_ENV.command, Value: 'stream-logs' },
        { Name: TASK_ENV.logFlushSeconds, Value: '15' },
      ]),
    );
    expect(Object.keys(scheduled)).toHaveLength(1);
    expect(JSON.stringify(scheduled)).toContain(TASK_ENV.logIntervalMinutes);
    expect(JSON.stringify(scheduled)).not.toContain(TASK_ENV.logFlushSeconds);
    expect(JSON.stringify(shard.findResources('AWS::IAM::Policy'))).toContain('locks/logs/billing.json');
  });

  it('schedules no log-archive run for billing, still schedules extra-1, and copies billing segments to the replica every minute', () => {
    // Prepare
    const schedules = built.primary.shards.flatMap((shard) => Object.keys(shard.schedules.logArchiveSchedules));

    // Act
    const rules = primary.findResources('AWS::Events::Rule', { Properties: { ScheduleExpression: 'rate(1 minute)' } });

    // Assess
    expect(schedules).not.toContain('billing');
    expect(schedules).toContain('extra-1');
    expect(JSON.stringify(rules)).toContain('{\\"database\\":\\"billing\\"}');
    primary.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('log-archive service: server-side copy of streamed segments'),
      ReservedConcurrentExecutions: 1,
      DeadLetterConfig: Match.anyValue(),
    });
  });

  it('keeps the lag alarm of billing treating missing data as breaching: a stopped streamer alarms', () => {
    // Act
    const alarm = primary.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: 'strongbox-billing-log-archive-lag' } });

    // Assess
    expect(Object.values(alarm)[0]?.Properties).toMatchObject({
      TreatMissingData: 'breaching',
      Period: 60,
      AlarmDescription: expect.stringContaining(
        'the log-archive service strongbox-logs-billing reported no flush for two of three minutes',
      ),
    });
  });

  it('leaves zero unacknowledged findings in each of the four packs', () => {
    // Act
    const findings = Object.fromEntries(
      built.nagPacks.map((pack) => [
        pack.readPackName,
        pack
          .validateScope(built.app)
          .violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} ${r.constructPath}`)),
      ]),
    );

    // Assess
    expect(findings).toEqual({ AwsSolutions: [], 'NIST.800.53.R5': [], 'HIPAA.Security': [], Serverless: [] });
  });
});
