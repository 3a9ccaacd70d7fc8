import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { AppFunction } from '../../../infra/constructs/app-function';
import { testPlan } from '../../lambdas/fixtures';

describe('AppFunction', () => {
  it('builds node22.x on arm64 with tracing, a retained log group, and the plan compiled into the bundle only', () => {
    // Prepare: the one test that bundles (test/support/setup-env.ts turns bundling off for the others)
    const app = new App({ postCliContext: { 'aws:cdk:bundling-stacks': ['**'] } });
    const stack = new Stack(app, 'Test');
    const plan = testPlan();

    // Act
    new AppFunction(stack, 'Fn', {
      name: 'backup/prepare',
      plan,
      description: 'test',
      environment: { STRONGBOX_A: 'b' },
      logRetention: logs.RetentionDays.ONE_WEEK,
    });
    const template = Template.fromStack(stack);
    const assembly = app.synth();

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: { STRONGBOX_A: 'b', POWERTOOLS_SERVICE_NAME: 'backup-prepare', POWERTOOLS_METRICS_NAMESPACE: 'Strongbox' },
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    const assetHash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
    const bundle = readFileSync(path.join(assembly.directory, `asset.${assetHash}`, 'index.js'), 'utf8');
    expect(bundle.includes('sbx-orders-dump')).toBe(true);
    expect(JSON.stringify(fn.Properties)).not.toContain('sbx-orders-dump');
    expect(bundle.includes('PutObjectCommand')).toBe(true);
  });

  it('rejects a name without a handler, showing where it looked', () => {
    // Act
    const act = () => new AppFunction(new Stack(new App(), 'Bad'), 'Fn', { name: 'nope', plan: testPlan(), description: 'x' });

    // Assess
    expect(act).toThrow(/name must be a folder under lambdas\/ with a handler.ts, got "nope"/);
  });
});
