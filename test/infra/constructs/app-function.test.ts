import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ServerlessChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { runtimePlan } from '../../../infra/config/plan';
import { AppFunction } from '../../../infra/constructs/app-function';
import { testPlan } from '../../lambdas/fixtures';

describe('AppFunction', () => {
  it('builds node24.x on arm64 with tracing, a retained log group, and the plan compiled into the bundle only', () => {
    // Prepare
    const app = new App();
    const stack = new Stack(app, 'Test');
    const plan = testPlan();

    // Act
    new AppFunction(stack, 'Fn', {
      name: 'backup/prepare',
      plan,
      description: 'test',
      environment: { A: 'b' },
      logRetention: logs.RetentionDays.ONE_WEEK,
    });
    const template = Template.fromStack(stack);
    const assembly = app.synth();

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Environment: { Variables: { A: 'b', POWERTOOLS_SERVICE_NAME: 'backup-prepare', POWERTOOLS_METRICS_NAMESPACE: 'Strongbox' } },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    const assetHash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
    const assetDir = path.join(assembly.directory, `asset.${assetHash}`);
    const bundle = readFileSync(path.join(assetDir, 'index.js'), 'utf8');
    // The plan travels brotli-compressed (it is 14 copies of up to 300 KB at 500 databases); inflate it back.
    const packed = /Buffer\.from\(["'`]([A-Za-z0-9+/=]{40,})["'`],\s*["'`]base64["'`]\)/.exec(bundle)?.[1];
    expect(packed).toBeDefined();
    expect(JSON.parse(brotliDecompressSync(Buffer.from(packed!, 'base64')).toString('utf8'))).toEqual(runtimePlan(plan));
    expect(JSON.stringify(fn.Properties)).not.toContain('sbx-orders-dump');
    expect(bundle.includes('PutObjectCommand')).toBe(true);
    expect(readdirSync(assetDir)).toEqual(['index.js']);
  });

  it("runs the newest Node.js runtime: cdk-nag's Serverless pack finds nothing to say about it", () => {
    // Prepare
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Runtime');
    new AppFunction(stack, 'Fn', { name: 'backup/prepare', plan: testPlan(), description: 'test' });

    const older = new App();
    new lambda.Function(new Stack(older, 'Older'), 'Fn', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => 1;'),
    });
    const runtimeFindings = (scope: App) =>
      new ServerlessChecks(scope).validateScope(scope).violations.filter((v) => v.ruleName.includes('LambdaLatestVersion'));

    // Act
    const ours = runtimeFindings(app);
    const theirs = runtimeFindings(older);

    // Assess: the rule does fire for an older runtime, and not for ours.
    expect(theirs).toHaveLength(1);
    expect(ours).toEqual([]);
  });

  it('rejects a name without a handler, showing where it looked', () => {
    // Act
    const act = () => new AppFunction(new Stack(new App(), 'Bad'), 'Fn', { name: 'nope', plan: testPlan(), description: 'x' });

    // Assess
    expect(act).toThrow(/name must be a folder under lambdas\/ with a handler.ts, got "nope"/);
  });
});
