import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Plan } from '../contracts/plan';
import { TASK_CONTAINER_NAME } from '../contracts/task-env';
import { LOCAL_SDK_ENV, type LocalVault, startVault } from '../dev/servers/vault';
import { buildPlan } from '../infra/config/plan';
import { ecsBinding, type LocalBindingsOptions, lambdaBinding, localBindings } from './bindings';
import { type ExecuteOptions, type ExecutionResult, LocalStateMachine, TaskFailedError } from './executor/runtime';
import type { LocalConfig } from './local-config';
import { type LocalSns, Outbox, startLocalSns } from './outbox';
import { type LocalSecrets, startLocalSecrets } from './secrets';
import { type SynthesizedApp, synthesize } from './synth';

/**
 * Strongbox on one machine: the synthesized app, the vault (both regions' buckets in one s3rver), the SNS
 * outbox with its local endpoint, and the state machines bound to the real handlers and the real task.
 */
export interface LocalStrongboxOptions {
  readonly local: LocalConfig;
  /**
   * The synthesized app to run.
   * @default synthesize(local.config)
   */
  readonly app?: SynthesizedApp;
  /** @default `<dataDir>/vault` */
  readonly vaultDir?: string;
  /** @default `<dataDir>/outbox.jsonl` */
  readonly outboxFile?: string;
  /**
   * Let the in-process handlers print their CloudWatch EMF metrics (off for the demo: noise on a terminal).
   * @default false
   */
  readonly metrics?: boolean;
  /**
   * Powertools log level of the in-process handlers.
   * @default 'WARN'
   */
  readonly logLevel?: string;
  readonly onTaskOutput?: LocalBindingsOptions['onTaskOutput'];
  readonly onTaskFailure?: LocalBindingsOptions['onTaskFailure'];
  readonly beforeState?: LocalBindingsOptions['beforeState'];
  readonly taskCommand?: readonly string[];
  /**
   * How often the task reports bytes and MB/s: a local-only default under the task definition's own setting.
   * @default 1
   */
  readonly progressIntervalSeconds?: number;
  /** Transitions of nested executions (the restores a DR plan starts), as they happen. */
  readonly onNestedTransition?: ExecuteOptions['onTransition'];
}

export interface LocalStrongbox {
  readonly app: SynthesizedApp;
  readonly plan: Plan;
  readonly vault: LocalVault;
  readonly outbox: Outbox;
  readonly sns: LocalSns;
  /** Secrets Manager on loopback: restore targets' secrets (`secrets.put(arn, JSON)` adds one). */
  readonly secrets: LocalSecrets;
  /** The state machine whose name or logical id contains `name` (case-insensitive), bound and ready. */
  stateMachine(name: string): LocalStateMachine;
  /** Runs the backup state machine with `{database, kind, trigger}`. */
  backup(input: unknown, options?: ExecuteOptions): Promise<ExecutionResult>;
  /** Runs the restore state machine with a console restore input. */
  restore(input: unknown, options?: ExecuteOptions): Promise<ExecutionResult>;
  /** Runs the drill state machine with `{database, trigger}`. */
  drill(input: unknown, options?: ExecuteOptions): Promise<ExecutionResult>;
  /**
   * Runs one database's task outside any state machine, the way the restore and drill workflows start it:
   * its task definition's environment plus `environment` (e.g. STRONGBOX_COMMAND=restore).
   */
  runTask(database: string, environment: Record<string, string>, label?: string): Promise<TaskRun>;
  /**
   * Invokes a deployed function outside any state machine, as EventBridge or the console would: the real
   * handler of the synthesized function whose handler folder is `folder` (e.g. `watchdog`), with its template
   * environment.
   */
  invoke(folder: string, event: unknown): Promise<unknown>;
  /** Runs the scheduled watchdog once, as its EventBridge rule does; resolves with its summary. */
  watchdog(): Promise<unknown>;
  stop(): Promise<void>;
}

export interface TaskRun {
  readonly exitCode: number;
  /** The task's last JSON stdout line: its result. */
  readonly result?: Record<string, unknown>;
  readonly stderrTail: string;
  readonly seconds: number;
}

export class StateMachineNotFoundError extends Error {
  public constructor(name: string, available: readonly string[]) {
    super(`no state machine named like "${name}" in the synthesized app; found: ${available.join(', ') || 'none'}`);
    this.name = 'StateMachineNotFoundError';
  }
}

export async function startLocalStrongbox(options: LocalStrongboxOptions): Promise<LocalStrongbox> {
  const { local } = options;
  const app = options.app ?? synthesize(local.config);
  const plan = buildPlan(local.config);
  const vault = await startVault(options.vaultDir ?? join(local.dataDir, 'vault'), [app.buckets.primary, app.buckets.replica]);
  const outbox = new Outbox(options.outboxFile ?? join(local.dataDir, 'outbox.jsonl'));
  const sns = await startLocalSns(outbox);
  const secrets = await startLocalSecrets(initialSecrets(local, plan));
  const endpoints = { sns: sns.endpoint, secrets: secrets.endpoint, vault: vault.endpoint };
  const lambdaEnv = lambdaEnvironment(app.region, endpoints, plan, options);
  // The Powertools singletons read their settings when the first handler module loads; set them before that.
  Object.assign(process.env, lambdaEnv);

  // Direct task runs collect their result line and stderr tail here, by the run's name.
  const collectors = new Map<string, TaskCollector>();
  const bindingOptions: LocalBindingsOptions = {
    app,
    outbox,
    lambdaEnv,
    taskBaseEnv: taskBaseEnvironment(app.region, endpoints, options),
    secretValues: secretValueLookup(local, plan),
    onTaskOutput: (line) => {
      const collector = collectors.get(line.executionName);
      if (collector && line.json && line.stream === 'stdout') {
        collector.last = line.json;
      }
      options.onTaskOutput?.(line);
    },
    onTaskFailure: (failure) => {
      const collector = collectors.get(failure.executionName);
      if (collector) {
        collector.stderrTail = failure.stderrTail;
      }
      options.onTaskFailure?.(failure);
    },
    beforeState: options.beforeState,
    taskCommand: options.taskCommand,
    startExecution: (stateMachineArn, input, name, signal) => {
      const machineName = stateMachineArn.replace(/^.*:stateMachine:/, '');
      // Stopping the parent stops the nested execution, as Step Functions does for .sync children.
      return stateMachine(machineName).execute(input, { name, onTransition: options.onNestedTransition, signal });
    },
  };
  const stateMachine = stateMachineLookup(app, localBindings(bindingOptions));

  return {
    app,
    plan,
    vault,
    outbox,
    sns,
    stateMachine,
    secrets,
    backup: (input, executeOptions) => stateMachine('backup').execute(input, executeOptions),
    restore: (input, executeOptions) => stateMachine('restore').execute(input, executeOptions),
    drill: (input, executeOptions) => stateMachine('drill').execute(input, executeOptions),
    runTask: taskRunner(plan, ecsBinding({ Type: 'Task' }, bindingOptions), collectors),
    invoke: (folder, event) => invokeFunction(app, bindingOptions, folder, event),
    watchdog: () => invokeFunction(app, bindingOptions, 'watchdog', { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }),
    stop: async () => {
      await sns.stop();
      await secrets.stop();
      await vault.stop();
    },
  };
}

interface LocalEndpoints {
  readonly sns: string;
  readonly secrets: string;
  readonly vault: string;
}

interface TaskCollector {
  last?: Record<string, unknown>;
  stderrTail: string;
}

function secretJson(c: { username?: string; password?: string }): string {
  return JSON.stringify({
    ...(c.username !== undefined && { username: c.username }),
    ...(c.password !== undefined && { password: c.password }),
  });
}

/** The local Secrets Manager's contents: the config's named secrets, then each database's own credentials. */
function initialSecrets(local: LocalConfig, plan: Plan): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const [arn, credentials] of Object.entries(local.secrets)) {
    secrets[arn] = secretJson(credentials);
  }
  for (const db of Object.values(plan.databases)) {
    const credentials = local.credentials[db.name];
    if (db.connection.secretArn && credentials) {
      secrets[db.connection.secretArn] = secretJson(credentials);
    }
  }
  return secrets;
}

/** What a deployed function would find in its environment, with the local endpoints standing in for AWS. */
function lambdaEnvironment(region: string, endpoints: LocalEndpoints, plan: Plan, options: LocalStrongboxOptions): Record<string, string> {
  return {
    ...LOCAL_SDK_ENV,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ENDPOINT_URL_SNS: endpoints.sns,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secrets,
    STRONGBOX_S3_ENDPOINT: endpoints.vault,
    STRONGBOX_OBJECT_LOCK: 'off',
    STRONGBOX_PLAN: JSON.stringify(plan),
    POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
    POWERTOOLS_METRICS_NAMESPACE: 'Strongbox',
    POWERTOOLS_METRICS_DISABLED: options.metrics ? 'false' : 'true',
    // Dev mode makes Powertools write through the global console, which the demo filters.
    POWERTOOLS_DEV: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** The part of a task's environment that ECS and the container image would provide; the task definition adds the rest. */
function taskBaseEnvironment(region: string, endpoints: LocalEndpoints, options: LocalStrongboxOptions): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    TMPDIR: process.env.TMPDIR ?? '/tmp',
    LANG: process.env.LANG ?? 'C.UTF-8',
    NODE_OPTIONS: process.env.NODE_OPTIONS ?? '',
    // The SDK's "Node 22 will be required from 2027" notice would otherwise open every task's stderr tail.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...LOCAL_SDK_ENV,
    AWS_REGION: region,
    AWS_ENDPOINT_URL_SNS: endpoints.sns,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secrets,
    STRONGBOX_S3_ENDPOINT: endpoints.vault,
    STRONGBOX_PROGRESS_INTERVAL_SECONDS: String(options.progressIntervalSeconds ?? 1),
  };
}

/** Resolves a task definition's `secrets` entry (`<arn>:<jsonKey>::`) the way ECS does at task start. */
function secretValueLookup(local: LocalConfig, plan: Plan): LocalBindingsOptions['secretValues'] {
  const databaseBySecret = new Map<string, string>();
  for (const db of Object.values(plan.databases)) {
    if (db.connection.secretArn) {
      databaseBySecret.set(db.connection.secretArn, db.name);
    }
  }
  return (secretArn, jsonKey) => {
    const database = databaseBySecret.get(secretArn);
    const credentials = database ? local.credentials[database] : undefined;
    if (!credentials) {
      return undefined;
    }
    if (jsonKey === undefined) {
      return JSON.stringify(credentials);
    }
    // A secret without the key would stop ECS from starting the task; a password-only Redis has no user name.
    return (credentials as unknown as Record<string, string | undefined>)[jsonKey] ?? (jsonKey === 'username' ? '' : undefined);
  };
}

/** Runs one database's task through the same ECS binding the state machines use, outside any execution. */
function taskRunner(plan: Plan, task: ReturnType<typeof ecsBinding>, collectors: Map<string, TaskCollector>): LocalStrongbox['runTask'] {
  return async (database, environment, label = 'Task') => {
    const db = plan.databases[database];
    if (!db) {
      throw new Error(`runTask: no database "${database}" in the config; expected one of ${Object.keys(plan.databases).join(', ')}`);
    }
    const name = `${label}-${randomUUID()}`;
    const collector: TaskCollector = { stderrTail: '' };
    collectors.set(name, collector);
    const started = Date.now();
    let exitCode = 0;
    try {
      await task.invoke(
        {
          TaskDefinition: db.taskFamily,
          Overrides: {
            ContainerOverrides: [
              { Name: TASK_CONTAINER_NAME, Environment: Object.entries(environment).map(([Name, Value]) => ({ Name, Value })) },
            ],
          },
        },
        { stateName: label, executionArn: name, executionName: name },
      );
    } catch (error) {
      if (!(error instanceof TaskFailedError)) {
        throw error;
      }
      exitCode = (JSON.parse(error.message) as { Containers: { ExitCode: number }[] }).Containers[0].ExitCode;
    } finally {
      collectors.delete(name);
    }
    return { exitCode, result: collector.last, stderrTail: collector.stderrTail, seconds: (Date.now() - started) / 1000 };
  };
}

export class FunctionNotFoundError extends Error {
  public constructor(folder: string, available: readonly string[]) {
    super(`no function with its handler in lambdas/${folder}/ in the synthesized app; found: ${available.join(', ') || 'none'}`);
    this.name = 'FunctionNotFoundError';
  }
}

async function invokeFunction(app: SynthesizedApp, options: LocalBindingsOptions, folder: string, event: unknown): Promise<unknown> {
  const functions = [...new Set(app.functions.values())];
  const fn = functions.find((f) => f.handlerModule === `lambdas/${folder}/handler.ts`);
  if (!fn) {
    throw new FunctionNotFoundError(
      folder,
      functions.map((f) => f.handlerModule.replace(/^lambdas\/|\/handler\.ts$/g, '')),
    );
  }
  const name = `${folder.replace('/', '-')}-${randomUUID()}`;
  return lambdaBinding(fn, options, false).invoke(event, { stateName: folder, executionArn: name, executionName: name });
}

/** Finds a synthesized state machine by a part of its name and binds it once. */
function stateMachineLookup(app: SynthesizedApp, resolver: ReturnType<typeof localBindings>): LocalStrongbox['stateMachine'] {
  const machines = new Map<string, LocalStateMachine>();
  return (name) => {
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
}
