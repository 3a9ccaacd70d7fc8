import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type LocalBindingsOptions, localBindings, type TaskOutputLine } from '../../local/bindings';
import { type AslDefinition, type ExecutionResult, LocalStateMachine, UnboundStateError } from '../../local/executor/runtime';
import { Outbox } from '../../local/outbox';
import type { SynthesizedApp, SynthesizedFunction, SynthesizedTaskDefinition } from '../../local/synth';

const dir = mkdtempSync(join(tmpdir(), 'strongbox-bindings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const echo: SynthesizedFunction = {
  logicalId: 'PrepareFunctionABCD1234',
  arn: 'arn:aws:lambda:eu-west-1:000000000000:function:PrepareFunctionABCD1234',
  functionName: 'PrepareFunctionABCD1234',
  handlerModule: 'test/local/fixtures/echo-handler.ts',
  environment: { STRONGBOX_VAULT_BUCKET: 'app-vault-000000000000-eu-west-1' },
  timeoutSeconds: 30,
  memoryMiB: 256,
};
const taskDefinition: SynthesizedTaskDefinition = {
  logicalId: 'OrdersDump',
  family: 'app-orders-dump',
  arn: 'arn:aws:ecs:eu-west-1:000000000000:task-definition/app-orders-dump:1',
  containers: [
    {
      name: 'dump',
      environment: { STRONGBOX_DATABASE: 'orders', STRONGBOX_DB_HOST: '127.0.0.1' },
      secrets: {
        STRONGBOX_DB_USERNAME: 'arn:aws:secretsmanager:eu-west-1:000000000000:secret:orders-AbCdEf:username::',
        STRONGBOX_DB_PASSWORD: 'arn:aws:secretsmanager:eu-west-1:000000000000:secret:orders-AbCdEf:password::',
      },
    },
  ],
};
const app: SynthesizedApp = {
  region: 'eu-west-1',
  stackName: 'app-primary',
  template: {},
  stateMachines: [],
  functions: new Map([
    [echo.arn, echo],
    [echo.functionName, echo],
  ]),
  taskDefinitions: new Map([
    [taskDefinition.family, taskDefinition],
    [taskDefinition.arn, taskDefinition],
  ]),
  buckets: { primary: 'p', replica: 'r' },
};

function options(extra: Partial<LocalBindingsOptions> = {}): LocalBindingsOptions {
  return {
    app,
    outbox: new Outbox(join(dir, `${Math.random()}.jsonl`)),
    lambdaEnv: { STRONGBOX_S3_ENDPOINT: 'http://127.0.0.1:1' },
    taskBaseEnv: { PATH: process.env.PATH ?? '', STRONGBOX_S3_ENDPOINT: 'http://127.0.0.1:1' },
    secretValues: (arn, key) => (arn.endsWith(':secret:orders-AbCdEf') ? { username: 'backup', password: 'pw' }[key ?? ''] : undefined),
    taskCommand: [process.execPath, 'test/local/fixtures/fake-task.js'],
    ...extra,
  };
}

const definition: AslDefinition = {
  StartAt: 'Prepare',
  States: {
    Prepare: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: echo.arn, 'Payload.$': '$' },
      ResultSelector: { 'payload.$': '$.Payload' },
      ResultPath: '$.prepare',
      TimeoutSeconds: 10,
      Next: 'Dump',
    },
    Dump: {
      Type: 'Task',
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      Parameters: {
        Cluster: 'arn:aws:ecs:eu-west-1:000000000000:cluster/app-tasks',
        'TaskDefinition.$': '$.family',
        Overrides: {
          ContainerOverrides: [
            {
              Name: 'dump',
              Environment: [
                { Name: 'STRONGBOX_COMMAND', Value: 'backup' },
                { Name: 'STRONGBOX_BACKUP_ID', 'Value.$': '$.backupId' },
                { Name: 'FAKE_EXIT', 'Value.$': '$.exit' },
              ],
            },
          ],
        },
      },
      ResultPath: '$.dump',
      TimeoutSeconds: 30,
      Next: 'Tell',
    },
    Tell: {
      Type: 'Task',
      Resource: 'arn:aws:states:::sns:publish',
      Parameters: { TopicArn: 'arn:aws:sns:eu-west-1:000000000000:Chat', Subject: 'done', 'Message.$': '$.prepare.payload' },
      ResultPath: null,
      End: true,
    },
  },
};

describe('local bindings', () => {
  it('runs the Lambda handler in process, the task as a child with exactly its ECS environment, and SNS into the outbox', async () => {
    // Prepare
    const lines: TaskOutputLine[] = [];
    const opts = options({ onTaskOutput: (line) => lines.push(line) });
    const machine = new LocalStateMachine('Backup', definition, localBindings(opts));

    // Act
    const result = await machine.execute(
      { family: 'app-orders-dump', backupId: 'orders-20261121T000000Z-full', exit: '0' },
      { name: 'ok' },
    );

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    const output = result.output as Record<string, Record<string, unknown>>;
    expect(output.prepare.payload).toMatchObject({
      bucket: 'app-vault-000000000000-eu-west-1',
      endpoint: 'http://127.0.0.1:1',
      functionName: 'PrepareFunctionABCD1234',
    });
    expect(output.dump).toMatchObject({
      LastStatus: 'STOPPED',
      Containers: [{ Name: 'dump', ExitCode: 0 }],
      TaskDefinitionArn: taskDefinition.arn,
    });
    const reported = lines.find((l) => l.json?.env)?.json?.env;
    expect(reported).toEqual({
      STRONGBOX_S3_ENDPOINT: 'http://127.0.0.1:1',
      STRONGBOX_DATABASE: 'orders',
      STRONGBOX_DB_HOST: '127.0.0.1',
      STRONGBOX_DB_USERNAME: 'backup',
      STRONGBOX_DB_PASSWORD: 'pw',
      STRONGBOX_COMMAND: 'backup',
      STRONGBOX_BACKUP_ID: 'orders-20261121T000000Z-full',
      FAKE_EXIT: '0',
    });
    expect(lines.find((l) => l.json?.message === 'dump progress')).toMatchObject({ stateName: 'Dump', stream: 'stdout' });
    expect(opts.outbox.read()).toMatchObject([{ topicArn: 'arn:aws:sns:eu-west-1:000000000000:Chat', subject: 'done', via: 'Tell' }]);
  });

  it('fails the RunTask state like ECS when the task exits non-zero: exit code and stopped reason in the Cause', async () => {
    // Prepare
    const failures: { exitCode: number; stderrTail: string }[] = [];
    const machine = new LocalStateMachine('Backup', definition, localBindings(options({ onTaskFailure: (f) => failures.push(f) })));

    // Act
    const result = await machine.execute({ family: 'app-orders-dump', backupId: 'orders-20261121T000000Z-full', exit: '3' });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.TaskFailed');
    expect(JSON.parse(result.cause!)).toMatchObject({
      StoppedReason: 'Essential container in task exited',
      StopCode: 'EssentialContainerExited',
      Containers: [{ Name: 'dump', ExitCode: 3 }],
    });
    expect(failures).toEqual([expect.objectContaining({ exitCode: 3, stderrTail: 'pg_dump: error: connection to server lost\n' })]);
  });

  it('reports a Lambda error as Step Functions does: errorType as Error, the Lambda error JSON as Cause', async () => {
    // Prepare
    const machine = new LocalStateMachine('Backup', definition, localBindings(options()));

    // Act
    const result = await machine.execute({ bad: true });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InputValidationError');
    expect(JSON.parse(result.cause!)).toMatchObject({
      errorType: 'InputValidationError',
      errorMessage: 'Invalid backup input:\ndatabase: found "nope"; expected one of orders',
    });
    expect(result.path).toEqual(['Prepare']);
  });

  it('refuses a definition with an integration it cannot run locally, and a Lambda it cannot find', () => {
    // Prepare
    const withUnknown: AslDefinition = {
      StartAt: 'Describe',
      States: {
        Describe: { Type: 'Task', Resource: 'arn:aws:states:::aws-sdk:ec2:describeInstances', Next: 'Other' },
        Other: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'Nope' }, End: true },
      },
    };

    // Act
    const build = () => new LocalStateMachine('Odd', withUnknown, localBindings(options()));

    // Assess
    expect(build).toThrow(UnboundStateError);
    expect(build).toThrow(
      'Odd: no local binding for states "Describe" (arn:aws:states:::aws-sdk:ec2:describeInstances: no local implementation of this integration), "Other" (arn:aws:states:::lambda:invoke: FunctionName "Nope" is not a Strongbox function with a lambdas/<name>/handler.ts)',
    );
  });
});

describe('stopping a local execution (StopExecution)', () => {
  // A task that starts a tool of its own and waits, like the restore task streaming into pg_restore.
  const waitingTask = [
    process.execPath,
    '-e',
    "const c = require('node:child_process').spawn('sleep', ['60'], { stdio: 'ignore' }); console.log(JSON.stringify({ pid: process.pid, tool: c.pid })); setInterval(() => {}, 1000);",
  ];
  // Running, not a zombie waiting for a parent that no longer reaps it (ps prints nothing for a process that is gone).
  const alive = (pid: number) => {
    try {
      return !execFileSync('ps', ['-o', 'stat=', '-p', String(pid)])
        .toString()
        .trim()
        .startsWith('Z');
    } catch {
      return false;
    }
  };

  it('reports ABORTED, runs no further state, and ends the task together with its tools', async () => {
    // Prepare
    const stop = new AbortController();
    let pids: { pid: number; tool: number } | undefined;
    let group: string | undefined;
    const opts = options({
      taskCommand: waitingTask,
      onTaskOutput: (line) => {
        if (typeof line.json?.pid === 'number') {
          pids = line.json as { pid: number; tool: number };
          group = execFileSync('ps', ['-o', 'pgid=', '-p', String(pids.pid)])
            .toString()
            .trim();
          stop.abort();
        }
      },
    });
    const machine = new LocalStateMachine('Backup', definition, localBindings(opts));

    // Act
    const result = await machine.execute(
      { family: 'app-orders-dump', backupId: 'orders-20261121T000000Z-full', exit: '0' },
      { name: 'stopped', signal: stop.signal },
    );

    // Assess
    expect(result.status).toBe('ABORTED');
    expect(result.path).toEqual(['Prepare', 'Dump']);
    // Its own process group, so a terminal's Ctrl-C reaches the runtime and not the task.
    expect(group).toBe(String(pids!.pid));
    expect(alive(pids!.pid)).toBe(false);
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(pids!.tool)).toBe(false);
  });

  it('stops a nested execution when its parent is stopped', async () => {
    // Prepare
    const stop = new AbortController();
    let nestedSignal: AbortSignal | undefined;
    const nested: AslDefinition = {
      StartAt: 'Child',
      States: {
        Child: {
          Type: 'Task',
          Resource: 'arn:aws:states:::states:startExecution.sync:2',
          Parameters: { StateMachineArn: 'arn:aws:states:eu-west-1:000000000000:stateMachine:child', Input: {} },
          End: true,
        },
      },
    };
    const opts = options({
      startExecution: (_arn, _input, _name, signal) => {
        nestedSignal = signal;
        const stopped = { executionArn: 'x', name: 'child', startedAt: new Date(), stoppedAt: new Date(), transitions: [], path: [] };
        // The child runs until the signal says its parent was stopped.
        const ended = new Promise<ExecutionResult>((resolve) =>
          signal?.addEventListener('abort', () => resolve({ ...stopped, status: 'ABORTED' })),
        );
        stop.abort();
        return ended;
      },
    });
    const machine = new LocalStateMachine('Parent', nested, localBindings(opts));

    // Act
    const result = await machine.execute({}, { signal: stop.signal });

    // Assess
    expect(result.status).toBe('ABORTED');
    expect(nestedSignal?.aborted).toBe(true);
  });
});
