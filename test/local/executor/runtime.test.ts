import { describe, expect, it } from 'vitest';
import {
  type AslDefinition,
  type AslState,
  LocalStateMachine,
  type TaskBinding,
  TaskFailedError,
  taskStates,
  UnboundStateError,
} from '../../../local/executor/runtime';

const LAMBDA = 'arn:aws:states:::lambda:invoke';

/** A small hand-written backup-shaped definition: two Lambda-style tasks, a Choice, a Catch and a Fail. */
const definition: AslDefinition = {
  StartAt: 'Prepare',
  States: {
    Prepare: {
      Type: 'Task',
      Resource: LAMBDA,
      Parameters: { FunctionName: 'prepare', 'Payload.$': '$', 'execution.$': '$$.Execution.Id' },
      ResultSelector: { 'status.$': '$.Payload.status', 'execution.$': '$.Payload.execution' },
      ResultPath: '$.prepare',
      TimeoutSeconds: 5,
      Next: 'Ready?',
    },
    'Ready?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.prepare.status', StringEquals: 'ready', Next: 'Dump' }],
      Default: 'Skipped',
    },
    Skipped: { Type: 'Succeed' },
    Dump: {
      Type: 'Task',
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      Parameters: { 'database.$': '$.database' },
      ResultPath: null,
      TimeoutSeconds: 5,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' }],
      End: true,
    },
    NotifyFailure: {
      Type: 'Task',
      Resource: LAMBDA,
      Parameters: { FunctionName: 'notify', 'Payload.$': '$' },
      ResultPath: null,
      TimeoutSeconds: 5,
      Next: 'Failed',
    },
    Failed: { Type: 'Fail', Error: 'BackupFailed', Cause: 'the dump failed' },
  },
};

function lambdaBinding(fn: (payload: Record<string, unknown>) => unknown, calls: unknown[] = []): TaskBinding {
  return {
    description: 'fake lambda',
    invoke: async (input) => {
      calls.push(input);
      return { StatusCode: 200, Payload: await fn(input as Record<string, unknown>) };
    },
  };
}

function bindAll(bindings: Record<string, TaskBinding>) {
  return (name: string, _state: AslState) => bindings[name] ?? { unbound: 'not in this test' };
}

describe('LocalStateMachine', () => {
  it('runs a definition through its bound tasks and reports the path and output', async () => {
    // Prepare
    const prepareCalls: unknown[] = [];
    const dumpCalls: unknown[] = [];
    const machine = new LocalStateMachine(
      'Backup',
      definition,
      bindAll({
        Prepare: lambdaBinding((input) => ({ status: 'ready', execution: input.execution }), prepareCalls),
        Dump: { description: 'fake task', invoke: async (input) => dumpCalls.push(input) },
        NotifyFailure: lambdaBinding(() => ({})),
      }),
    );

    // Act
    const result = await machine.execute({ database: 'orders' }, { name: 'run-1' });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.path).toEqual(['Prepare', 'Ready?', 'Dump']);
    expect(result.executionArn).toBe('arn:aws:states:eu-west-1:000000000000:execution:Backup:run-1');
    expect(prepareCalls).toEqual([{ FunctionName: 'prepare', Payload: { database: 'orders' }, execution: result.executionArn }]);
    expect(dumpCalls).toEqual([{ database: 'orders' }]);
    expect(result.output).toEqual({ database: 'orders', prepare: { status: 'ready', execution: result.executionArn } });
  });

  it('routes a failing binding through Catch with the Error name and Cause it threw', async () => {
    // Prepare
    const notifyCalls: unknown[] = [];
    const machine = new LocalStateMachine(
      'Backup',
      definition,
      bindAll({
        Prepare: lambdaBinding((input) => ({ status: 'ready', execution: input.execution })),
        Dump: {
          description: 'fake task',
          invoke: async () => {
            throw new TaskFailedError('States.TaskFailed', '{"StoppedReason":"Essential container in task exited"}');
          },
        },
        NotifyFailure: lambdaBinding(() => ({}), notifyCalls),
      }),
    );

    // Act
    const result = await machine.execute({ database: 'orders' });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('BackupFailed');
    expect(result.cause).toBe('the dump failed');
    expect(result.path).toEqual(['Prepare', 'Ready?', 'Dump', 'NotifyFailure', 'Failed']);
    expect(notifyCalls).toEqual([
      {
        FunctionName: 'notify',
        Payload: {
          database: 'orders',
          prepare: { status: 'ready', execution: result.executionArn },
          error: { Error: 'States.TaskFailed', Cause: '{"StoppedReason":"Essential container in task exited"}' },
        },
      },
    ]);
  });

  it('refuses to build a machine with a state that has no local binding, naming the state', () => {
    // Prepare
    const bindings = { Prepare: lambdaBinding(() => ({})), NotifyFailure: lambdaBinding(() => ({})) };

    // Act
    const build = () => new LocalStateMachine('Backup', definition, bindAll(bindings));

    // Assess
    expect(build).toThrow(UnboundStateError);
    expect(build).toThrow(/no local binding for state "Dump" \(arn:aws:states:::ecs:runTask\.sync: not in this test\)/);
  });

  it('finds Task states inside Parallel branches and Map iterators', () => {
    // Prepare
    const nested: AslDefinition = {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          Branches: [{ StartAt: 'Left', States: { Left: { Type: 'Task', Resource: LAMBDA, End: true } } }],
          Next: 'Each',
        },
        Each: {
          Type: 'Map',
          ItemProcessor: { StartAt: 'Item', States: { Item: { Type: 'Task', Resource: LAMBDA, End: true } } },
          End: true,
        },
      },
    };

    // Act
    const names = [...taskStates(nested).keys()];

    // Assess
    expect(names).toEqual(['Left', 'Item']);
  });

  it('keeps concurrent executions apart: each binding call sees its own execution', async () => {
    // Prepare
    const seen: string[] = [];
    const machine = new LocalStateMachine(
      'Backup',
      definition,
      bindAll({
        Prepare: {
          description: 'fake lambda',
          invoke: async (_input, call) => {
            await new Promise((resolve) => setTimeout(resolve, 20));
            seen.push(call.executionName);
            return { Payload: { status: 'skipped', execution: call.executionArn } };
          },
        },
        Dump: { description: 'fake task', invoke: async () => ({}) },
        NotifyFailure: lambdaBinding(() => ({})),
      }),
    );

    // Act
    const [a, b] = await Promise.all([machine.execute({}, { name: 'a' }), machine.execute({}, { name: 'b' })]);

    // Assess
    expect(seen.sort()).toEqual(['a', 'b']);
    expect(a.output).toMatchObject({ prepare: { execution: a.executionArn } });
    expect(b.output).toMatchObject({ prepare: { execution: b.executionArn } });
    expect(a.path).toEqual(['Prepare', 'Ready?', 'Skipped']);
  });

  it('times a task out after its TimeoutSeconds (the Promise.withResolvers polyfill path)', async () => {
    // Prepare
    const slow: AslDefinition = {
      StartAt: 'Slow',
      States: { Slow: { Type: 'Task', Resource: LAMBDA, TimeoutSeconds: 1, End: true } },
    };
    const machine = new LocalStateMachine('Slow', slow, () => ({
      description: 'never answers in time',
      invoke: () => new Promise((resolve) => setTimeout(resolve, 3000)),
    }));

    // Act
    const result = await machine.execute({});

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.Timeout');
  });

  it('keeps the retry decisions of the definition but not its long pauses', async () => {
    // Prepare
    const retrying: AslDefinition = {
      StartAt: 'Flaky',
      States: {
        Flaky: {
          Type: 'Task',
          Resource: LAMBDA,
          TimeoutSeconds: 5,
          Retry: [{ ErrorEquals: ['Lambda.ServiceException'], IntervalSeconds: 30, MaxAttempts: 2, BackoffRate: 2 }],
          End: true,
        },
      },
    };
    let calls = 0;
    const machine = new LocalStateMachine('Flaky', retrying, () => ({
      description: 'fails twice',
      invoke: async () => {
        calls++;
        if (calls <= 2) {
          throw new TaskFailedError('Lambda.ServiceException', 'try again');
        }
        return { ok: true };
      },
    }));
    const started = Date.now();

    // Act
    const result = await machine.execute({});

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(calls).toBe(3);
    expect(result.transitions.filter((t) => t.type === 'retried')).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
