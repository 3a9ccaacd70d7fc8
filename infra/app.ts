import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, HIPAASecurityChecks, type NagPack, NIST80053R5Checks, ServerlessChecks } from 'cdk-nag';
import { checkFleetLimits } from './config/limits';
import { ConfigError } from './config/load';
import type { StrongboxConfig } from './config/schema';
import { PrimaryStack } from './stacks/primary-stack';
import { ReplicaStack } from './stacks/replica-stack';

/**
 * Feature flags Strongbox relies on, set on every App it creates (so tests, the local runtime and the CLI
 * synthesize the same thing): server access logs are delivered through a bucket policy rather than the
 * legacy LogDeliveryWrite ACL, which would conflict with BucketOwnerEnforced object ownership.
 */
export const STRONGBOX_FEATURE_FLAGS: Readonly<Record<string, unknown>> = {
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
};

/**
 * A new App with {@link STRONGBOX_FEATURE_FLAGS}; `app` in {@link BuildAppProps} must come from here.
 *
 * Two defaults of aws-cdk-lib are turned off because a 500-database synth paid for them without using them
 * (README, "A fleet in one deploy"):
 * - the creation stack trace of every CloudFormation element (about 10,000 at 500 databases) in the assembly
 *   metadata; `CDK_DEBUG=true` (or `cdk --debug`) records them again;
 * - the built-in CloudFormation template validation, whose engine takes 7-8 s to start in every synth process,
 *   more than a whole 4-database synth, and which only warns; cdk-nag and the fleet limits fail synth instead.
 *   `CDK_VALIDATION=true` runs it again.
 */
export function createApp(props: AppProps = {}): App {
  return new App({
    builtinCloudFormationValidation: process.env.CDK_VALIDATION === 'true',
    // bin/strongbox.ts synthesizes explicitly. Auto-synth (on whenever CDK_OUTDIR is set, as under the CDK CLI and in
    // the tests) would add a second synth at process exit and one beforeExit listener per App.
    autoSynth: false,
    ...props,
    context: { 'aws:cdk:disable-creation-stack-traces': true, ...props.context },
    postCliContext: { ...STRONGBOX_FEATURE_FLAGS, ...props.postCliContext },
  });
}

export interface BuildAppProps {
  /**
   * An app made by {@link createApp} to add the stacks to (the CLI entry point creates it first to read
   * `-c config=...`).
   * @default a new App
   */
  readonly app?: App;
  /**
   * Directory of the cloud assembly, for a new App.
   * @default the CDK default (a temporary directory outside the CLI)
   */
  readonly outdir?: string;
  /**
   * Bundle Lambda code with esbuild. Tests and the local runtime turn it off to synthesize in-process quickly;
   * this sets the standard `aws:cdk:bundling-stacks` context to `[]`, for a new App only.
   * @default true
   */
  readonly bundling?: boolean;
  /**
   * Run the cdk-nag checks at synth (any unacknowledged finding fails synth): AwsSolutions, and with the
   * config's `compliance.nagPacks` (on by default) NIST 800-53 R5, HIPAA Security and Serverless too.
   * @default true
   */
  readonly nag?: boolean;
}

export interface StrongboxApp {
  readonly app: App;
  readonly primary: PrimaryStack;
  readonly replica: ReplicaStack;
  /** The AwsSolutions pack registered on the app, when `nag` is on; `validateScope(app)` reports its findings. */
  readonly nagPack?: AwsSolutionsChecks;
  /** Every cdk-nag pack registered on the app (AwsSolutions first); empty when `nag` is off. */
  readonly nagPacks: readonly NagPack[];
}

/**
 * Builds the Strongbox stacks for one validated config: `<app>-replica` in the replica region and
 * `<app>-primary` in the primary region, which depends on it. The account stays unresolved so synth needs
 * no credentials and no lookups.
 */
export function buildApp(config: StrongboxConfig, props: BuildAppProps = {}): StrongboxApp {
  const appProps: AppProps = {
    outdir: props.outdir,
    context: props.bundling === false ? { 'aws:cdk:bundling-stacks': [] } : undefined,
  };
  const app = props.app ?? createApp(appProps);
  if (app.node.tryGetContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy') !== true) {
    throw new Error('buildApp: the app must be made by createApp() so that the Strongbox feature flags are set');
  }
  // A fleet over a hard limit fails here, before any construct, with the same lines `npm run validate` prints.
  const limits = checkFleetLimits(config);
  if (limits.problems.length > 0) {
    throw new ConfigError(`app ${config.app.name}`, limits.problems);
  }
  const name = config.app.name;
  const replica = new ReplicaStack(app, `${name}-replica`, {
    config,
    env: { region: config.vault.replicaRegion },
    description: `Strongbox (${name}): replica vault in ${config.vault.replicaRegion}`,
    terminationProtection: true,
  });
  const primary = new PrimaryStack(app, `${name}-primary`, {
    config,
    env: { region: config.vault.primaryRegion },
    description: `Strongbox (${name}): vault, workflows and alarms in ${config.vault.primaryRegion}`,
    terminationProtection: true,
  });
  // Replication writes into the replica vault, so it must exist first.
  primary.addStackDependency(replica, 'the primary stack copies backups into the replica vault');
  let nagPack: AwsSolutionsChecks | undefined;
  const nagPacks: NagPack[] = [];
  if (props.nag !== false) {
    nagPack = new AwsSolutionsChecks(app);
    nagPacks.push(nagPack);
    if (config.compliance.nagPacks) {
      nagPacks.push(new NIST80053R5Checks(app), new HIPAASecurityChecks(app), new ServerlessChecks(app));
    }
    Validations.of(app).addPlugins(...nagPacks);
  }
  return { app, primary, replica, nagPack, nagPacks };
}
