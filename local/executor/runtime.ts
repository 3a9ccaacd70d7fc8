import './polyfill';
import { randomUUID } from 'node:crypto';
import {
  ExecutionAbortedError,
  ExecutionError,
  type StateMachineDefinition,
  StateMachine as StepFunctionsEngine,
} from 'aws-local-stepfunctions';
import { LOCAL_ACCOUNT } from './intrinsics';

/**
 * Runs one ASL definition with aws-local-stepfunctions, binding every Task state to a local implementation
 * by state name. The definition is the one `cdk synth` produced (see `synth.ts`); nothing here knows which
 * workflow it is.
 */

export type AslState = Record<string, unknown> & { readonly Type: string; readonly Resource?: string };
export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
  readonly TimeoutSeconds?: number;
  readonly Comment?: string;
}

/** What a binding learns about the call it serves. */
export interface TaskCall {
  readonly stateName: string;
  readonly executionArn: string;
  readonly executionName: string;
  /** Aborted when the execution is stopped (StopExecution): a binding stops its work, as a .sync integration does. */
  readonly signal?: AbortSignal;
}

export interface TaskBinding {
  /** Shown in errors and progress, e.g. `lambda lambdas/backup/prepare/handler.ts`. */
  readonly description: string;
  invoke(input: unknown, call: TaskCall): Promise<unknown>;
}

/** Thrown by a binding to fail its state with a given Error name and Cause, as AWS would report them. */
export class TaskFailedError extends Error {
  public constructor(errorName: string, cause: string) {
    super(cause);
    this.name = errorName;
  }
}

/** A definition with Task states that no local binding serves; lists every such state by name. */
export class UnboundStateError extends Error {
  public constructor(
    public readonly stateMachine: string,
    public readonly states: readonly { name: string; resource: string; reason: string }[],
  ) {
    super(
      `${stateMachine}: no local binding for ${states.length === 1 ? 'state' : 'states'} ${states
        .map((s) => `"${s.name}" (${s.resource}: ${s.reason})`)
        .join(', ')}; the local runtime runs no state it cannot bind`,
    );
    this.name = 'UnboundStateError';
  }
}

export interface StateTransition {
  readonly state: string;
  readonly type: 'entered' | 'exited' | 'failed' | 'retried' | 'caught';
  readonly at: number;
  readonly input?: unknown;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: unknown;
}

export interface ExecutionResult {
  readonly executionArn: string;
  readonly name: string;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly startedAt: Date;
  readonly stoppedAt: Date;
  readonly transitions: readonly StateTransition[];
  /** Names of the states entered, in order (a convenience over `transitions`). */
  readonly path: readonly string[];
}

export interface ExecuteOptions {
  readonly name?: string;
  /** Called for every transition as it happens: progress on the terminal. */
  readonly onTransition?: (transition: StateTransition) => void;
  /** Aborting it stops the execution as StopExecution does: status ABORTED, running tasks and nested executions stopped. */
  readonly signal?: AbortSignal;
}

/** Every state with its name, including those inside Parallel branches and Map iterators, depth first. */
function* allStates(states: Record<string, AslState>): Generator<[string, AslState]> {
  for (const [name, state] of Object.entries(states)) {
    yield [name, state];
    for (const branch of (state.Branches as AslDefinition[] | undefined) ?? []) {
      yield* allStates(branch.States);
    }
    const iterator = (state.ItemProcessor ?? state.Iterator) as AslDefinition | undefined;
    if (iterator) {
      yield* allStates(iterator.States);
    }
  }
}

/** Every Task state, including those inside Parallel branches and Map iterators, by state name. */
export function taskStates(definition: AslDefinition): Map<string, AslState> {
  return new Map([...allStates(definition.States)].filter(([, state]) => state.Type === 'Task'));
}

/** Every state with a Retry field, at any depth. */
function retryingStates(definition: AslDefinition): string[] {
  return [...allStates(definition.States)]
    .filter(([, state]) => Array.isArray(state.Retry) && state.Retry.length > 0)
    .map(([name]) => name);
}

export interface LocalStateMachineOptions {
  readonly region?: string;
  /**
   * Pause between retries, instead of the definition's IntervalSeconds/BackoffRate: the retry decisions
   * (which errors, how many attempts) are the definition's, only the waiting is shortened for local runs.
   * @default 100
   */
  readonly retryIntervalMs?: number;
}

export type BindingResolver = (stateName: string, state: AslState) => TaskBinding | { unbound: string };

export class LocalStateMachine {
  public readonly arn: string;
  private readonly bindings: ReadonlyMap<string, TaskBinding>;
  private readonly engine: StepFunctionsEngine;
  private readonly retryIntervals: Record<string, number>;

  /**
   * @param resolveBinding decides which local implementation serves each Task state; a state it cannot bind
   * makes the constructor throw an UnboundStateError, so a run never starts with a hole in it.
   */
  public constructor(
    public readonly name: string,
    public readonly definition: AslDefinition,
    resolveBinding: BindingResolver,
    options: LocalStateMachineOptions = {},
  ) {
    const region = options.region ?? 'eu-west-1';
    this.retryIntervals = Object.fromEntries(retryingStates(definition).map((state) => [state, options.retryIntervalMs ?? 100]));
    this.arn = `arn:aws:states:${region}:${LOCAL_ACCOUNT}:stateMachine:${name}`;
    const bindings = new Map<string, TaskBinding>();
    const unbound: { name: string; resource: string; reason: string }[] = [];
    for (const [stateName, state] of taskStates(definition)) {
      const binding = resolveBinding(stateName, state);
      if ('unbound' in binding) {
        unbound.push({ name: stateName, resource: String(state.Resource), reason: binding.unbound });
      } else {
        bindings.set(stateName, binding);
      }
    }
    if (unbound.length > 0) {
      throw new UnboundStateError(name, unbound);
    }
    this.bindings = bindings;
    this.engine = new StepFunctionsEngine(definition as unknown as StateMachineDefinition, {
      validationOptions: { checkArn: false },
    });
  }

  public bindingFor(stateName: string): TaskBinding | undefined {
    return this.bindings.get(stateName);
  }

  public async execute(input: unknown, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    const name = options.name ?? randomUUID();
    const executionArn = this.arn.replace(':stateMachine:', ':execution:') + `:${name}`;
    const startedAt = new Date();
    const stop = new AbortController();
    // Calls still running when the execution is stopped: ABORTED is reported once they have wound down, so no
    // task outlives the run that reported it stopped.
    const running = new Set<Promise<unknown>>();
    const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const [stateName, binding] of this.bindings) {
      overrides[stateName] = (taskInput) => {
        const call = binding.invoke(taskInput, { stateName, executionArn, executionName: name, signal: stop.signal });
        running.add(call);
        return call.finally(() => running.delete(call));
      };
    }
    const run = this.engine.run(input as never, {
      overrides: { taskResourceLocalHandlers: overrides as never, retryIntervalOverrides: this.retryIntervals },
      context: {
        Execution: {
          Id: executionArn,
          Name: name,
          Input: input as never,
          StartTime: startedAt.toISOString(),
          RoleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/local`,
        },
        StateMachine: { Id: this.arn, Name: this.name },
      },
    });
    const onStop = () => {
      stop.abort();
      run.abort();
    };
    if (options.signal?.aborted) {
      onStop();
    }
    options.signal?.addEventListener('abort', onStop, { once: true });
    const transitions: StateTransition[] = [];
    const collecting = (async () => {
      for await (const event of run.eventLogs) {
        const transition = toTransition(event as unknown as Record<string, unknown>);
        if (transition) {
          transitions.push(transition);
          options.onTransition?.(transition);
        }
      }
    })();
    const base = { executionArn, name, startedAt, transitions };
    try {
      const output = await run.result;
      await collecting;
      return { ...base, status: 'SUCCEEDED', output, stoppedAt: new Date(), path: entered(transitions) };
    } catch (error) {
      await collecting.catch(() => undefined);
      if (error instanceof ExecutionAbortedError) {
        await Promise.allSettled([...running]);
        return { ...base, status: 'ABORTED', stoppedAt: new Date(), path: entered(transitions) };
      }
      if (error instanceof ExecutionError) {
        const cause = error.cause as Error | undefined;
        return {
          ...base,
          status: 'FAILED',
          error: cause?.name ?? 'States.Runtime',
          cause: cause?.message ?? error.message,
          stoppedAt: new Date(),
          path: entered(transitions),
        };
      }
      const named = error as Error;
      if (named.name === 'ExecutionTimeoutError') {
        return {
          ...base,
          status: 'TIMED_OUT',
          error: 'States.Timeout',
          cause: named.message,
          stoppedAt: new Date(),
          path: entered(transitions),
        };
      }
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', onStop);
    }
  }
}

function entered(transitions: readonly StateTransition[]): string[] {
  return transitions.filter((t) => t.type === 'entered').map((t) => t.state);
}

const EVENT_TYPES: Record<string, StateTransition['type']> = {
  StateEntered: 'entered',
  StateExited: 'exited',
  StateFailed: 'failed',
  StateRetried: 'retried',
  StateCaught: 'caught',
};

function toTransition(event: Record<string, unknown>): StateTransition | undefined {
  const type = EVENT_TYPES[String(event.type)];
  if (!type) {
    return undefined;
  }
  const state = event.state as { name: string; input?: unknown; output?: unknown };
  return {
    state: state.name,
    type,
    at: Number(event.timestamp),
    input: state.input,
    output: state.output,
    error: event.Error as string | undefined,
    cause: event.Cause,
  };
}
