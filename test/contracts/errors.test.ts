import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  closestNames,
  describeZodIssues,
  InputValidationError,
  MAX_MESSAGE_CHARS,
  parseInput,
  readableError,
} from '../../contracts/errors';
import { lambdaErrorCause } from '../../local/bindings';

/** Causes as Step Functions hands them to a Catch, and what a person should read instead. */
describe('readableError', () => {
  it("keeps a Lambda error's type and message, without its trace", () => {
    // Prepare: the cause exactly as a failed Lambda state reports it
    const thrown = new InputValidationError('Invalid restore input:\ntarget.port: found "5432"; expected a TCP port number 1-65535');
    const cause = JSON.stringify(lambdaErrorCause(thrown));

    // Act
    const readable = readableError({ Error: 'InputValidationError', Cause: cause });

    // Assess
    expect(cause).toContain('"trace"');
    expect(readable).toEqual({
      error: 'InputValidationError',
      cause: 'Invalid restore input:\ntarget.port: found "5432"; expected a TCP port number 1-65535',
      source: 'lambda',
    });
  });

  it("turns ECS's task description into the stop reason and exit code", () => {
    // Prepare
    const cause = JSON.stringify({
      Containers: [{ Name: 'dump', ExitCode: 137, Reason: 'OutOfMemoryError: Container killed due to memory usage' }],
      StoppedReason: 'Essential container in task exited',
      TaskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/strongbox-tasks/1',
    });

    // Act
    const readable = readableError({ Error: 'States.TaskFailed', Cause: cause });

    // Assess
    expect(readable).toEqual({
      error: 'States.TaskFailed',
      cause: 'The task stopped: Essential container in task exited; exit code 137 (OutOfMemoryError: Container killed due to memory usage)',
      source: 'task',
    });
  });

  it("reads a failed nested execution's own error and cause out of DescribeExecution", () => {
    // Prepare
    const child = JSON.stringify(lambdaErrorCause(new InputValidationError('Invalid restore input:\ninclude.0: found "x"')));
    const cause = JSON.stringify({
      ExecutionArn: 'arn:aws:states:eu-west-1:1:execution:r:1',
      Status: 'FAILED',
      Error: 'InputValidationError',
      Cause: child,
    });

    // Act
    const readable = readableError({ Error: 'States.TaskFailed', Cause: cause });

    // Assess
    expect(readable).toEqual({ error: 'InputValidationError', cause: 'Invalid restore input:\ninclude.0: found "x"', source: 'execution' });
  });

  it.each([
    ['plain text', { Error: 'States.Timeout', Cause: 'The task timed out' }, { error: 'States.Timeout', cause: 'The task timed out' }],
    ['no cause', { Error: 'States.Timeout' }, { error: 'States.Timeout', cause: 'no cause was reported' }],
    ['nothing at all', undefined, { error: 'UnknownError', cause: 'no cause was reported' }],
    [
      'text with stack frames',
      { Error: 'Error', Cause: 'Error: boom\n    at run (/var/task/index.js:1:2)\n    at main (/var/task/index.js:3:4)' },
      { error: 'Error', cause: 'Error: boom' },
    ],
  ])('keeps %s readable', (_what, raw, expected) => {
    // Act
    const readable = readableError(raw);

    // Assess
    expect(readable).toMatchObject(expected);
  });
});

describe('messages stay within what Step Functions and a person can take', () => {
  it('caps a Strongbox error message', () => {
    // Act
    const error = new InputValidationError('x'.repeat(100_000));

    // Assess
    expect(error.message).toHaveLength(MAX_MESSAGE_CHARS);
    expect(error.message.endsWith('...')).toBe(true);
  });

  it('reports at most 20 field lines, then says how many more', () => {
    // Prepare
    const schema = z.array(z.string());
    const input = Array.from({ length: 200 }, (_, i) => i);

    // Act
    const text = describeZodIssues(schema.safeParse(input).error!, input);

    // Assess
    const lines = text.split('\n');
    expect(lines).toHaveLength(21);
    expect(lines[0]).toBe('0: found 0; expected string');
    expect(lines[20]).toBe('... and 180 more problems like these');
  });

  it('quotes a huge value shortened, and an unknown field without its value', () => {
    // Prepare
    const schema = z.strictObject({ host: z.string().max(5) });
    const input = { host: 'h'.repeat(200_000), password: 'hunter2' };

    // Act
    const error = (() => {
      try {
        parseInput(schema, input, 'input');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();

    // Assess
    expect(error?.message.length).toBeLessThan(300);
    expect(error?.message).toContain(`host: found "${'h'.repeat(56)}...`);
    expect(error?.message).toContain('unknown field "password"; remove it');
    expect(error?.message).not.toContain('hunter2');
  });
});

describe('closestNames', () => {
  it('lists the nearest names by edit distance, ignoring case', () => {
    // Act
    const names = closestNames('Sales.Order', ['sales.orders', 'sales.customers', 'hr.employees', 'sales']);

    // Assess
    expect(names).toEqual(['sales.orders', 'sales', 'sales.customers']);
  });
});
