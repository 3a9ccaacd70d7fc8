import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AslState, BindingResolver, ExecutionResult, TaskBinding, TaskCall } from './executor/runtime';
import { TaskFailedError } from './executor/runtime';
import type { Outbox } from './outbox';
import { REPO_ROOT, type SynthesizedApp, type SynthesizedFunction, type SynthesizedTaskDefinition, secretJsonKey } from './synth';

/**
 * The local implementations of the Task states in Strongbox's definitions, chosen by each state's Resource:
 *   - `arn:aws:states:::lambda:invoke` and bare Lambda ARNs: the real handler module, in process;
 *   - `arn:aws:states:::ecs:runTask.sync`: `tasks/src/main.ts` as a child process;
 *   - `arn:aws:states:::sns:publish`: the outbox;
 *   - `arn:aws:states:::states:startExecution.sync(:2)`: another of the app's state machines, run to its end.
 * Anything else is reported unbound, which stops the run before it starts.
 */

export const LAMBDA_INVOKE = /^arn:aws:states:::lambda:invoke$/;
export const ECS_RUN_TASK_SYNC = /^arn:aws:states:::ecs:runTask\.sync$/;
export const SNS_PUBLISH = /^arn:aws:states:::sns:publish$/;
export const START_EXECUTION_SYNC = /^arn:aws:states:::states:startExecution\.sync(:2)?$/;
const LAMBDA_ARN = /^arn:aws:lambda:[^:]+:\d{12}:function:([^:]+)(:.+)?$/;

export interface TaskOutputLine {
  readonly stateName: string;
  readonly executionName: string;
  readonly stream: 'stdout' | 'stderr';
  readonly line: string;
  /** The line parsed, when the task printed JSON. */
  readonly json?: Record<string, unknown>;
}

export interface LocalBindingsOptions {
  readonly app: SynthesizedApp;
  readonly outbox: Outbox;
  /**
   * Environment every in-process handler sees on top of its template environment: the local endpoints, the
   * plan (which the bundle would have baked in), `STRONGBOX_OBJECT_LOCK=off`.
   */
  readonly lambdaEnv: Readonly<Record<string, string>>;
  /** Environment the task process gets besides its container environment: PATH, local SDK settings. */
  readonly taskBaseEnv: Readonly<Record<string, string>>;
  /** Values for ECS `secrets`: secret ARN -> JSON key (or '' for the whole value) -> value. */
  readonly secretValues: (secretArn: string, jsonKey: string | undefined) => string | undefined;
  /** Every line the task prints, as it prints it. */
  readonly onTaskOutput?: (line: TaskOutputLine) => void;
  /** A task that exited non-zero, with the last 4 KB of its stderr. */
  readonly onTaskFailure?: (failure: {
    stateName: string;
    executionName: string;
    exitCode: number;
    signal: NodeJS.Signals | null;
    stderrTail: string;
  }) => void;
  /** Runs before a state's binding: the e2e tests use it to tamper with the vault between two states. */
  readonly beforeState?: (stateName: string, input: unknown, call: TaskCall) => Promise<void> | void;
  /** The task command. @default node --import tsx tasks/src/main.ts */
  readonly taskCommand?: readonly string[];
  /**
   * Runs a nested execution of one of the app's state machines to its end (DR plans start restores).
   * @default undefined (states that start executions are reported unbound)
   */
  readonly startExecution?: (
    stateMachineArn: string,
    input: unknown,
    name: string | undefined,
    signal?: AbortSignal,
  ) => Promise<ExecutionResult>;
}

/** Real Lambda returns the handler's error like this; `Cause` in Step Functions is this object as JSON. */
export function lambdaErrorCause(error: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  const e = error instanceof Error ? error : new Error(String(error));
  return {
    errorType: e.name || 'Error',
    errorMessage: e.message,
    trace: (e.stack ?? '').split('\n').slice(0, 10),
  };
}

let lambdaQueue: Promise<unknown> = Promise.resolve();

/**
 * Handlers run one at a time. Lambdas read their environment at call time, so interleaved calls of different
 * functions would see each other's variables; and the S3 conditional-write shim (s3rver has no If-None-Match)
 * is only correct for sequential callers. Real Lambdas are isolated; serialising reproduces that isolation.
 */
function serialised<T>(fn: () => Promise<T>): Promise<T> {
  const run = lambdaQueue.then(fn, fn);
  lambdaQueue = run.catch(() => undefined);
  return run;
}

type Handler = (event: unknown, context: unknown) => Promise<unknown>;
const handlers = new Map<string, Promise<Handler>>();

async function loadHandler(module: string): Promise<Handler> {
  let loading = handlers.get(module);
  if (!loading) {
    loading = import(join(REPO_ROOT, module)).then((loaded: { handler?: Handler; default?: { handler?: Handler } }) => {
      const handler = loaded.handler ?? loaded.default?.handler;
      if (typeof handler !== 'function') {
        throw new Error(`${module} exports no "handler" function`);
      }
      return handler;
    });
    handlers.set(module, loading);
  }
  return loading;
}

function lambdaContext(fn: SynthesizedFunction) {
  const deadline = Date.now() + fn.timeoutSeconds * 1000;
  return {
    functionName: fn.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: fn.arn,
    memoryLimitInMB: String(fn.memoryMiB),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${fn.functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export function lambdaBinding(fn: SynthesizedFunction, options: LocalBindingsOptions, invokeIntegration: boolean): TaskBinding {
  return {
    description: `lambda ${fn.functionName} (${fn.handlerModule})`,
    invoke: async (input, call) => {
      await options.beforeState?.(call.stateName, input, call);
      const payload = invokeIntegration ? (input as { Payload?: unknown }).Payload : input;
      const handler = await loadHandler(fn.handlerModule);
      const result = await serialised(async () => {
        Object.assign(process.env, fn.environment, options.lambdaEnv, { AWS_LAMBDA_FUNCTION_NAME: fn.functionName });
        try {
          return await handler(payload, lambdaContext(fn));
        } catch (error) {
          const cause = lambdaErrorCause(error);
          throw new TaskFailedError(cause.errorType, JSON.stringify(cause));
        } finally {
          // Tracing and the Lambda-only code paths in Powertools switch on this variable.
          delete process.env.AWS_LAMBDA_FUNCTION_NAME;
        }
      });
      return invokeIntegration ? { ExecutedVersion: '$LATEST', Payload: result ?? null, StatusCode: 200 } : (result ?? null);
    },
  };
}

interface RunTaskInput {
  TaskDefinition?: string;
  Cluster?: string;
  Overrides?: { ContainerOverrides?: { Name?: string; Environment?: { Name: string; Value: string }[]; Command?: string[] }[] };
}

export class LocalTaskSecretError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'LocalTaskSecretError';
  }
}

/** The environment ECS would give the container: static environment, secrets, then the run's overrides. */
export function taskEnvironment(
  taskDefinition: SynthesizedTaskDefinition,
  input: RunTaskInput,
  options: Pick<LocalBindingsOptions, 'taskBaseEnv' | 'secretValues'>,
): { container: string; env: Record<string, string>; overridden: string[] } {
  const container = taskDefinition.containers[0];
  if (!container) {
    throw new LocalTaskSecretError(`task definition ${taskDefinition.family} has no container`);
  }
  const env: Record<string, string> = { ...options.taskBaseEnv, ...container.environment };
  for (const [name, valueFrom] of Object.entries(container.secrets)) {
    const { secretArn, jsonKey } = secretJsonKey(valueFrom);
    const value = options.secretValues(secretArn, jsonKey);
    if (value === undefined) {
      throw new LocalTaskSecretError(
        `${taskDefinition.family}: no local value for secret ${name} (${secretArn}${jsonKey ? ` key ${jsonKey}` : ''}); add the database's credentials under local.credentials`,
      );
    }
    env[name] = value;
  }
  const override = input.Overrides?.ContainerOverrides?.find((o) => o.Name === container.name);
  const overridden: string[] = [];
  for (const { Name, Value } of override?.Environment ?? []) {
    env[Name] = String(Value);
    overridden.push(Name);
  }
  return { container: container.name, env, overridden };
}

/** Stops for the tasks still running; a detached task group would otherwise outlive a runtime that exits. */
const runningTasks = new Set<() => void>();
process.on('exit', () => {
  for (const stopTask of runningTasks) {
    stopTask();
  }
});

export function ecsBinding(state: AslState, options: LocalBindingsOptions): TaskBinding {
  const command = options.taskCommand ?? [process.execPath, '--import', 'tsx', 'tasks/src/main.ts'];
  const timeoutSeconds = typeof state.TimeoutSeconds === 'number' ? state.TimeoutSeconds : undefined;
  return {
    description: `ECS task as a child process (${command.join(' ')})`,
    invoke: async (rawInput, call) => {
      await options.beforeState?.(call.stateName, rawInput, call);
      const input = rawInput as RunTaskInput;
      const reference = String(input.TaskDefinition ?? '');
      const family = reference.replace(/^.*:task-definition\//, '').replace(/:\d+$/, '');
      const taskDefinition = options.app.taskDefinitions.get(reference) ?? options.app.taskDefinitions.get(family);
      if (!taskDefinition) {
        throw new TaskFailedError(
          'ECS.ClientException',
          `Unable to find task definition "${reference}" (local task definitions: ${[...new Set([...options.app.taskDefinitions.values()].map((t) => t.family))].join(', ') || 'none'})`,
        );
      }
      const { container, env } = taskEnvironment(taskDefinition, input, options);
      const taskId = randomUUID().replace(/-/g, '');
      const region = options.app.region;
      const taskArn = `arn:aws:ecs:${region}:000000000000:task/local/${taskId}`;
      const startedAt = new Date();
      // Its own process group, like a container: a terminal's Ctrl-C reaches only the runtime's process, which
      // decides whether the execution (and so the task) stops; a stop then ends the task and its tools together.
      const child = spawn(command[0], command.slice(1), { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const stopTask = () => {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          // already gone
        }
      };
      call.signal?.addEventListener('abort', stopTask, { once: true });
      runningTasks.add(stopTask);
      let stderrTail = '';
      const forward = (stream: 'stdout' | 'stderr') =>
        createInterface({ input: child[stream]! }).on('line', (line) => {
          if (stream === 'stderr') {
            stderrTail = `${stderrTail}${line}\n`.slice(-4096);
          }
          let json: Record<string, unknown> | undefined;
          if (line.startsWith('{')) {
            try {
              json = JSON.parse(line) as Record<string, unknown>;
            } catch {
              json = undefined;
            }
          }
          options.onTaskOutput?.({ stateName: call.stateName, executionName: call.executionName, stream, line, json });
        });
      forward('stdout');
      forward('stderr');
      // Step Functions stops the task when the state times out; do the same so nothing outlives its state.
      const killer = timeoutSeconds ? setTimeout(stopTask, timeoutSeconds * 1000) : undefined;
      const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
      }).finally(() => {
        call.signal?.removeEventListener('abort', stopTask);
        runningTasks.delete(stopTask);
      });
      if (killer) {
        clearTimeout(killer);
      }
      const exitCode = code ?? (signal ? 128 + (signalNumbers[signal] ?? 0) : 1);
      const stoppedReason = signal ? `Task stopped: container ${container} killed by ${signal}` : 'Essential container in task exited';
      // The shape of ECS DescribeTasks, which is what a `.sync` RunTask returns or puts in the failure Cause.
      const description = {
        Attachments: [],
        ClusterArn: `arn:aws:ecs:${region}:000000000000:cluster/${String(input.Cluster ?? 'local').replace(/^.*\//, '')}`,
        Containers: [{ Name: container, ExitCode: exitCode, LastStatus: 'STOPPED', TaskArn: taskArn, Reason: signal ?? undefined }],
        Group: `family:${taskDefinition.family}`,
        LastStatus: 'STOPPED',
        LaunchType: 'FARGATE',
        StartedAt: startedAt.toISOString(),
        StopCode: 'EssentialContainerExited',
        StoppedAt: new Date().toISOString(),
        StoppedReason: stoppedReason,
        TaskArn: taskArn,
        TaskDefinitionArn: taskDefinition.arn,
      };
      if (exitCode !== 0) {
        // The stderr tail stays out of the Cause, as on ECS: the task writes it into failure.json itself.
        options.onTaskFailure?.({ stateName: call.stateName, executionName: call.executionName, exitCode, signal, stderrTail });
        throw new TaskFailedError('States.TaskFailed', JSON.stringify(description));
      }
      return description;
    },
  };
}

const signalNumbers: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2 };

export function snsBinding(stateName: string, options: LocalBindingsOptions): TaskBinding {
  return {
    description: `SNS publish to the outbox (${options.outbox.file})`,
    invoke: async (rawInput, call) => {
      await options.beforeState?.(call.stateName, rawInput, call);
      const input = rawInput as { TopicArn?: string; TargetArn?: string; Message?: unknown; Subject?: string; MessageAttributes?: unknown };
      const attributes: Record<string, string> = {};
      for (const [name, value] of Object.entries((input.MessageAttributes ?? {}) as Record<string, { StringValue?: string }>)) {
        attributes[name] = String(value?.StringValue ?? '');
      }
      options.outbox.publish({
        topicArn: String(input.TopicArn ?? input.TargetArn ?? ''),
        subject: input.Subject,
        message: typeof input.Message === 'string' ? input.Message : JSON.stringify(input.Message),
        attributes,
        via: stateName,
      });
      return { MessageId: randomUUID(), SdkHttpMetadata: { HttpStatusCode: 200 } };
    },
  };
}

/**
 * `.sync` waits for the nested execution and returns DescribeExecution; `.sync:2` returns its Output as JSON
 * rather than a string. A nested execution that did not succeed fails the state with States.TaskFailed and
 * the description (with the child's Error and Cause) as the Cause, which is what AWS does.
 */
export function startExecutionBinding(
  state: AslState,
  start: NonNullable<LocalBindingsOptions['startExecution']>,
  options: LocalBindingsOptions,
): TaskBinding {
  const outputAsJson = String(state.Resource).endsWith(':2');
  return {
    description: 'nested execution of a local state machine',
    invoke: async (rawInput, call) => {
      await options.beforeState?.(call.stateName, rawInput, call);
      const input = rawInput as { StateMachineArn?: unknown; Input?: unknown; Name?: unknown };
      const stateMachineArn = String(input.StateMachineArn ?? '');
      const nestedInput = typeof input.Input === 'string' ? (JSON.parse(input.Input) as unknown) : (input.Input ?? {});
      const result = await start(stateMachineArn, nestedInput, typeof input.Name === 'string' ? input.Name : undefined, call.signal);
      const description = {
        ExecutionArn: result.executionArn,
        StateMachineArn: stateMachineArn,
        Name: result.name,
        Status: result.status,
        StartDate: result.startedAt.getTime(),
        StopDate: result.stoppedAt.getTime(),
        Input: JSON.stringify(nestedInput),
        InputDetails: { Included: true },
        ...(result.status === 'SUCCEEDED'
          ? { Output: outputAsJson ? (result.output ?? null) : JSON.stringify(result.output ?? null), OutputDetails: { Included: true } }
          : { Error: result.error, Cause: result.cause }),
      };
      if (result.status !== 'SUCCEEDED') {
        throw new TaskFailedError('States.TaskFailed', JSON.stringify(description));
      }
      return description;
    },
  };
}

/** Chooses the binding for each Task state of a synthesized definition. */
export function localBindings(options: LocalBindingsOptions): BindingResolver {
  return (stateName, state) => {
    const resource = String(state.Resource ?? '');
    if (LAMBDA_INVOKE.test(resource)) {
      const target = String((state.Parameters as Record<string, unknown> | undefined)?.FunctionName ?? '');
      const fn = options.app.functions.get(target) ?? options.app.functions.get(target.replace(LAMBDA_ARN, '$1'));
      return fn
        ? lambdaBinding(fn, options, true)
        : { unbound: `FunctionName ${JSON.stringify(target)} is not a Strongbox function with a lambdas/<name>/handler.ts` };
    }
    const arn = LAMBDA_ARN.exec(resource);
    if (arn) {
      const fn = options.app.functions.get(resource) ?? options.app.functions.get(arn[1]);
      return fn ? lambdaBinding(fn, options, false) : { unbound: 'not a Strongbox function with a lambdas/<name>/handler.ts' };
    }
    if (ECS_RUN_TASK_SYNC.test(resource)) {
      return ecsBinding(state, options);
    }
    if (SNS_PUBLISH.test(resource)) {
      return snsBinding(stateName, options);
    }
    if (START_EXECUTION_SYNC.test(resource)) {
      return options.startExecution
        ? startExecutionBinding(state, options.startExecution, options)
        : { unbound: 'no runner for nested executions was given to the local bindings' };
    }
    return { unbound: 'no local implementation of this integration' };
  };
}
