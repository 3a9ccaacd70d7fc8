import { join } from 'node:path';
import type { Plan } from '../../lambdas/shared/plan';
import { buildPlan } from '../config/plan';
import { type LocalBindingsOptions, localBindings } from './bindings';
import type { LocalConfig } from './local-config';
import { type LocalSns, Outbox, startLocalSns } from './outbox';
import { type ExecuteOptions, type ExecutionResult, LocalStateMachine } from './runtime';
import { type SynthesizedApp, synthesize } from './synth';
import { LOCAL_SDK_ENV, type LocalVault, startVault } from './vault';

/**
 * Strongbox on one machine: the synthesized app, the vault (both regions' buckets in one s3rver), the SNS
 * outbox with its local endpoint, and the state machines bound to the real handlers and the real task.
 */
export interface LocalStrongboxOptions {
  readonly local: LocalConfig;
  /** @default `<dataDir>/vault` */
  readonly vaultDir?: string;
  /** @default `<dataDir>/outbox.jsonl` */
  readonly outboxFile?: string;
  /**
   * Powertools log level of the in-process handlers.
   * @default 'WARN'
   */
  readonly logLevel?: string;
  readonly onTaskOutput?: LocalBindingsOptions['onTaskOutput'];
  readonly onTaskFailure?: LocalBindingsOptions['onTaskFailure'];
  readonly beforeState?: LocalBindingsOptions['beforeState'];
  readonly taskCommand?: readonly string[];
}

export interface LocalStrongbox {
  readonly app: SynthesizedApp;
  readonly plan: Plan;
  readonly vault: LocalVault;
  readonly outbox: Outbox;
  readonly sns: LocalSns;
  /** The state machine whose name or logical id contains `name` (case-insensitive), bound and ready. */
  stateMachine(name: string): LocalStateMachine;
  /** Runs the backup state machine with `{database, kind, trigger}`. */
  backup(input: unknown, options?: ExecuteOptions): Promise<ExecutionResult>;
  stop(): Promise<void>;
}

export class StateMachineNotFoundError extends Error {
  public constructor(name: string, available: readonly string[]) {
    super(`no state machine named like "${name}" in the synthesized app; found: ${available.join(', ') || 'none'}`);
    this.name = 'StateMachineNotFoundError';
  }
}

export async function startLocalStrongbox(options: LocalStrongboxOptions): Promise<LocalStrongbox> {
  const { local } = options;
  const app = synthesize(local.config);
  const plan = buildPlan(local.config);
  const vault = await startVault(options.vaultDir ?? join(local.dataDir, 'vault'), [app.buckets.primary, app.buckets.replica]);
  const outbox = new Outbox(options.outboxFile ?? join(local.dataDir, 'outbox.jsonl'));
  const sns = await startLocalSns(outbox);

  const lambdaEnv: Record<string, string> = {
    ...LOCAL_SDK_ENV,
    AWS_REGION: app.region,
    AWS_DEFAULT_REGION: app.region,
    AWS_ENDPOINT_URL_SNS: sns.endpoint,
    STRONGBOX_S3_ENDPOINT: vault.endpoint,
    STRONGBOX_OBJECT_LOCK: 'off',
    STRONGBOX_PLAN: JSON.stringify(plan),
    POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
    POWERTOOLS_METRICS_NAMESPACE: 'Strongbox',
  };
  // The Powertools singletons read their settings when the first handler module loads; set them before that.
  Object.assign(process.env, lambdaEnv);

  const taskBaseEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    TMPDIR: process.env.TMPDIR ?? '/tmp',
    LANG: process.env.LANG ?? 'C.UTF-8',
    NODE_OPTIONS: process.env.NODE_OPTIONS ?? '',
    ...LOCAL_SDK_ENV,
    AWS_REGION: app.region,
    AWS_ENDPOINT_URL_SNS: sns.endpoint,
    STRONGBOX_S3_ENDPOINT: vault.endpoint,
  };

  const databaseBySecret = new Map<string, string>();
  for (const db of Object.values(plan.databases)) {
    if (db.connection.secretArn) {
      databaseBySecret.set(db.connection.secretArn, db.name);
    }
  }
  const secretValues = (secretArn: string, jsonKey: string | undefined): string | undefined => {
    const database = databaseBySecret.get(secretArn);
    const credentials = database ? local.credentials[database] : undefined;
    if (!credentials) {
      return undefined;
    }
    if (jsonKey === undefined) {
      return JSON.stringify(credentials);
    }
    return (credentials as unknown as Record<string, string | undefined>)[jsonKey];
  };

  const resolver = localBindings({
    app,
    outbox,
    lambdaEnv,
    taskBaseEnv,
    secretValues,
    onTaskOutput: options.onTaskOutput,
    onTaskFailure: options.onTaskFailure,
    beforeState: options.beforeState,
    taskCommand: options.taskCommand,
  });
  const machines = new Map<string, LocalStateMachine>();
  const stateMachine = (name: string): LocalStateMachine => {
    const wanted = name.toLowerCase();
    const found = app.stateMachines.find((m) => m.name.toLowerCase().includes(wanted) || m.logicalId.toLowerCase().includes(wanted));
    if (!found) {
      throw new StateMachineNotFoundError(
        name,
        app.stateMachines.map((m) => m.name),
      );
    }
    let machine = machines.get(found.logicalId);
    if (!machine) {
      machine = new LocalStateMachine(found.name, found.definition, resolver, { region: app.region });
      machines.set(found.logicalId, machine);
    }
    return machine;
  };

  return {
    app,
    plan,
    vault,
    outbox,
    sns,
    stateMachine,
    backup: (input, executeOptions) => stateMachine('backup').execute(input, executeOptions),
    stop: async () => {
      await sns.stop();
      await vault.stop();
    },
  };
}
