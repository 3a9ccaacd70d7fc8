import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { buildApp, createApp } from '../../infra/app';
import { parseConfig } from '../../infra/config/load';
import { parseLocalConfig } from '../../local/local-config';
import { EXISTING_NETWORK_AND_KEYS, fullFeaturedConfig } from './full-featured-config';

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

  /** Unacknowledged findings (errors and warnings) of every pack registered on the app, by pack. */
  const findings = (built: ReturnType<typeof buildApp>) =>
    Object.fromEntries(
      built.nagPacks.map((pack) => [
        pack.readPackName,
        pack
          .validateScope(built.app)
          .violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} ${r.constructPath}`)),
      ]),
    );
  const EMPTY = { AwsSolutions: [], 'NIST.800.53.R5': [], 'HIPAA.Security': [], Serverless: [] };

  it('synthesizes the demo config with zero unacknowledged findings in each of the four packs', () => {
    // Prepare
    const demo = parseLocalConfig(readFileSync('local/demo/demo.config.yaml', 'utf8'), 'demo.config.yaml').config;
    const built = buildApp(demo, { bundling: false });

    // Act
    built.app.synth();

    // Assess
    expect(findings(built)).toEqual(EMPTY);
  });

  it('synthesizes a full-featured config (every engine, DR plan, two shards, created network) with zero unacknowledged findings in each pack', () => {
    // Prepare
    const built = buildApp(fullFeaturedConfig(), { bundling: false });

    // Act
    const assembly = built.app.synth();

    // Assess
    expect(built.primary.shards).toHaveLength(2);
    expect(built.primary.drPlan).toBeDefined();
    expect(built.primary.logArchive).toBeDefined();
    expect(findings(built)).toEqual(EMPTY);
    expect(assembly.stacks.map((s) => s.stackName).sort()).toEqual(['strongbox-primary', 'strongbox-replica']);
  });

  it('synthesizes a full-featured config on an existing network with imported vault keys with zero unacknowledged findings', () => {
    // Prepare
    const built = buildApp(fullFeaturedConfig(17, EXISTING_NETWORK_AND_KEYS), { bundling: false });

    // Act
    built.app.synth();

    // Assess
    expect(findings(built)).toEqual(EMPTY);
  });

  it('runs only AwsSolutions when compliance.nagPacks is false, and no pack with nag off', () => {
    // Prepare
    const off = fullFeaturedConfig(0, [[['compliance'], { nagPacks: false }]]);

    // Act
    const switchedOff = buildApp(off, { bundling: false });
    const defaulted = buildApp(config, { bundling: false });
    const noNag = buildApp(config, { bundling: false, nag: false });

    // Assess
    expect(config.compliance.nagPacks).toBe(true);
    expect(switchedOff.nagPacks.map((p) => p.readPackName)).toEqual(['AwsSolutions']);
    expect(defaulted.nagPacks.map((p) => p.readPackName)).toEqual(['AwsSolutions', 'NIST.800.53.R5', 'HIPAA.Security', 'Serverless']);
    expect(defaulted.nagPack).toBe(defaulted.nagPacks[0]);
    expect(noNag.nagPacks).toEqual([]);
  });

  it('fails synth on an unacknowledged finding of a compliance pack', () => {
    // Prepare
    const { app, primary } = buildApp(config, { bundling: false });
    new logs.LogGroup(primary, 'CarelessLogs');

    // Act
    const synth = () => app.synth();

    // Assess
    expect(synth).toThrow(/NIST\.800\.53\.R5-CloudWatchLogGroupEncrypted[\s\S]*strongbox-primary\/CarelessLogs/);
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
    const plain = new App({ autoSynth: false });

    // Act
    const build = () => buildApp(config, { app: plain });

    // Assess
    expect(build).toThrow('buildApp: the app must be made by createApp() so that the Strongbox feature flags are set');
    expect(() => buildApp(config, { app: createApp(), nag: false })).not.toThrow();
  });
});

describe('createApp', () => {
  const withEnv = <T>(name: string, value: string, act: () => T): T => {
    const before = process.env[name];
    process.env[name] = value;
    try {
      return act();
    } finally {
      if (before === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = before;
      }
    }
  };
  const creationStacks = (app: App) =>
    app.node
      .findAll()
      .flatMap((c) => c.node.metadata)
      .filter((m) => m.type === 'aws:cdk:creationStack').length;

  it('records no creation stack traces, unless CDK_DEBUG asks for them', () => {
    // Prepare
    const build = () => {
      const app = createApp();
      new s3.CfnBucket(new Stack(app, 'Traces'), 'Bucket');
      return app;
    };

    // Act
    const quiet = creationStacks(build());
    const debug = withEnv('CDK_DEBUG', 'true', () => creationStacks(build()));

    // Assess
    expect(quiet).toBe(0);
    expect(debug).toBeGreaterThan(0);
  });

  it('leaves the built-in CloudFormation validation off, unless CDK_VALIDATION=true', () => {
    // Act
    const quiet = createApp() as unknown as { _builtinCloudFormationValidation: boolean };
    const asked = withEnv('CDK_VALIDATION', 'true', () => createApp()) as unknown as { _builtinCloudFormationValidation: boolean };

    // Assess: aws-cdk-lib keeps the setting in this field (App's builtinCloudFormationValidation prop).
    expect(quiet._builtinCloudFormationValidation).toBe(false);
    expect(asked._builtinCloudFormationValidation).toBe(true);
  });
});
