import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { buildApp, createApp } from '../../infra/app';
import { parseConfig } from '../../infra/config/load';

const config = parseConfig(readFileSync('strongbox.config.yaml', 'utf8'));

describe('buildApp', () => {
  it('builds the replica and primary stacks, env-agnostic in account, primary after replica', () => {
    // Prepare
    const props = { bundling: false };

    // Act
    const { app, primary, replica } = buildApp(config, props);

    // Assess
    expect(app.node.children.filter(Stack.isStack).map((s) => s.stackName)).toEqual(['strongbox-replica', 'strongbox-primary']);
    expect(primary.dependencies).toEqual([replica]);
    expect(primary.resolve(primary.account)).toEqual({ Ref: 'AWS::AccountId' });
    expect(primary.terminationProtection).toBe(true);
    expect(app.node.tryGetContext('aws:cdk:bundling-stacks')).toEqual([]);
  });

  it('synthesizes the example config with zero unacknowledged cdk-nag findings', () => {
    // Prepare
    const { app, nagPack } = buildApp(config, { bundling: false });

    // Act
    const assembly = app.synth();
    const report = nagPack!.validateScope(app);

    // Assess
    expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
    expect(assembly.stacks.map((s) => s.stackName).sort()).toEqual(['strongbox-primary', 'strongbox-replica']);
    expect(assembly.manifest.missing ?? []).toEqual([]);
  });

  it('fails synth on an unacknowledged cdk-nag finding', () => {
    // Prepare
    const { app, primary } = buildApp(config, { bundling: false });
    new s3.Bucket(primary, 'CarelessBucket');

    // Act
    const synth = () => app.synth();

    // Assess
    expect(synth).toThrow(/AwsSolutions-S1[\s\S]*strongbox-primary\/CarelessBucket/);
  });

  it('refuses an App that lacks the Strongbox feature flags', () => {
    // Prepare
    const plain = new App();

    // Act
    const build = () => buildApp(config, { app: plain });

    // Assess
    expect(build).toThrow('buildApp: the app must be made by createApp() so that the Strongbox feature flags are set');
    expect(() => buildApp(config, { app: createApp(), nag: false })).not.toThrow();
  });
});
