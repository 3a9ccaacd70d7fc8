import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { Vault } from '../../../infra/constructs/vault';
import { Watchdog, type WatchdogProps } from '../../../infra/constructs/watchdog';
import { monitoringPlan } from './monitoring-plan';

const VAULT = {
  bucketName: 'acme-vault-primary-eu-west-1',
  bucketArn: 'arn:aws:s3:::acme-vault-primary-eu-west-1',
  region: 'eu-west-1',
  keyArn: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
};

function synth(overrides: Partial<WatchdogProps> = {}) {
  const app = new App({ autoSynth: false });
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const watchdog = new Watchdog(stack, 'Watchdog', {
    plan: monitoringPlan(),
    vault: Vault.fromAttributes(stack, 'Vault', VAULT),
    ...overrides,
  });
  return { app, stack, watchdog, template: Template.fromStack(stack) };
}

describe('Watchdog construct', () => {
  // Bundling runs esbuild once per synth; one synth serves the assertions that need no overrides.
  let base: ReturnType<typeof synth>;
  beforeAll(() => {
    base = synth();
  });

  it('runs the bundled watchdog handler on nodejs24.x arm64 with the vault bucket and no plan in its environment', () => {
    // Prepare / Act
    const fn = Object.values(base.template.findResources('AWS::Lambda::Function'))[0];
    // Assess
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 60,
      ReservedConcurrentExecutions: 1,
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: {
          STRONGBOX_VAULT_BUCKET: VAULT.bucketName,
          POWERTOOLS_SERVICE_NAME: 'watchdog',
          POWERTOOLS_METRICS_NAMESPACE: 'Strongbox',
        },
      },
    });
    expect(JSON.stringify(fn.Properties.Environment)).not.toContain('STRONGBOX_PLAN');
  });

  it('runs every five minutes by default, without retries of a missed sample', () => {
    // Prepare / Act / Assess
    base.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 0 } })],
    });
  });

  it('takes its interval from props and refuses one that is not whole minutes', () => {
    // Prepare
    const { template } = synth({ interval: Duration.minutes(10) });
    // Act
    const attempt = () => synth({ interval: Duration.seconds(30) });
    // Assess
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(10 minutes)' });
    expect(attempt).toThrow('Watchdog: interval must be a whole number of minutes, got 30 seconds');
  });

  it('may read and list only the latest-verified pointers, and decrypt only through S3', () => {
    // Prepare / Act
    const policy = Object.values(base.template.findResources('AWS::IAM::Policy'))[0];
    const statements = policy.Properties.PolicyDocument.Statement as {
      Action: string | string[];
      Resource: unknown;
      Condition?: unknown;
    }[];
    // Assess
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 's3:GetObject', Resource: `${VAULT.bucketArn}/index/*` }),
        expect.objectContaining({
          Action: 's3:ListBucket',
          Resource: VAULT.bucketArn,
          Condition: { StringLike: { 's3:prefix': ['index/*'] } },
        }),
        expect.objectContaining({
          Action: 'kms:Decrypt',
          Resource: VAULT.keyArn,
          Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
        }),
      ]),
    );
    const s3Actions = statements.flatMap((s) => [s.Action].flat()).filter((a) => a.startsWith('s3:'));
    expect(s3Actions.sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
  });

  it('keeps its logs in its own log group with a retention', () => {
    // Prepare / Act / Assess
    base.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    base.template.hasResourceProperties('AWS::Lambda::Function', { LoggingConfig: { LogGroup: Match.anyValue() } });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    // Prepare
    const { app } = synth();
    // Act
    const report = new AwsSolutionsChecks(app).validateScope(app);
    // Assess
    expect(report.violations).toEqual([]);
  });
});
