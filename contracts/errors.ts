import type { z } from 'zod';
import { describeIssues } from './issues';

/**
 * Errors that reach a state machine. Step Functions shows `name` as the Error and `message` as the Cause,
 * so messages are written for the on-call engineer: what was wrong, with which value, and what to do.
 */
export class StrongboxError extends Error {
  public constructor(message: string) {
    super(capMessage(message));
    this.name = new.target.name;
  }
}

/** Execution input that fails its schema. Thrown at the first state, before anything is touched. */
export class InputValidationError extends StrongboxError {}

/** A backup whose artifact does not match its manifest, or whose manifest is missing or unreadable. */
export class VerificationError extends StrongboxError {}

/** A copy whose checksum at the destination differs from the source. */
export class ReplicationError extends StrongboxError {}

/**
 * A drill that found the backup not restorable as recorded: thrown by the drill task (drill.json says why, and
 * the task exits 1) and by the drill's Report, which fails the execution with it.
 */
export class DrillFailedError extends StrongboxError {}

/** A restore the guard refuses: source as target, non-empty target, or a recovery point that is not there. */
export class RestoreRefusedError extends StrongboxError {}

/**
 * The longest message a Strongbox error carries. Step Functions keeps at most 32,768 characters of a cause
 * (ExecutionFailedEventDetails.cause); a Lambda error's cause is its message inside Lambda's error JSON with
 * up to ten trace lines, and the workflows parse that JSON (States.StringToJson), which a truncated cause
 * would break. 4,000 characters stays far below, and is still a screenful for a person.
 */
export const MAX_MESSAGE_CHARS = 4000;

/** At most this many `field: ...` lines per message; a list of 200 bad names is the same mistake 200 times. */
const MAX_ISSUE_LINES = 20;

export function capMessage(message: string, max = MAX_MESSAGE_CHARS): string {
  return message.length > max ? `${message.slice(0, max - 3)}...` : message;
}

/** Zod issues as the message of an error: one `field: found <value>; expected ...` line each (contracts/issues.ts). */
export function describeZodIssues(error: z.ZodError, input: unknown): string {
  return describeIssues(error, input, { maxLines: MAX_ISSUE_LINES }).join('\n');
}

/** Parses `input` or throws an InputValidationError whose message names each field and the fix. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, what: string): z.output<T> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new InputValidationError(`Invalid ${what}:\n${describeZodIssues(result.error, input)}`);
  }
  return result.data;
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

/** The `count` candidates closest to `wanted` (case-insensitive edit distance, then name). */
export function closestNames(wanted: string, candidates: Iterable<string>, count = 3): string[] {
  const key = wanted.toLowerCase();
  return [...new Set(candidates)]
    .map((name) => ({ name, distance: editDistance(key, name.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name))
    .slice(0, count)
    .map((c) => c.name);
}

/** What a Catch hands on: Step Functions' `{Error, Cause}`. */
export interface StatesError {
  readonly Error?: string;
  readonly Cause?: string;
}

export interface ReadableError {
  /** The error type: the thrower's class name (InputValidationError, ...), or Step Functions' (States.TaskFailed). */
  readonly error: string;
  /** The message lines only: no stack trace, no file path, no JSON wrapper. */
  readonly cause: string;
  /** Where the cause came from, so a caller can look for more (the restore task writes its own error record). */
  readonly source: 'lambda' | 'task' | 'execution' | 'text';
}

const FRAME = /^\s+at \S.*$/;

/**
 * Step Functions' cause as a person reads it. A caught cause is one of: Lambda's error JSON
 * (`{errorType, errorMessage, trace}`), ECS DescribeTasks JSON for a failed RunTask .sync (which the container
 * cannot put its own words into), DescribeExecution JSON for a failed nested execution (with the child's own
 * Error and Cause), or plain text. Stack frames stay in the function's log.
 */
export function readableError(raw: StatesError | undefined): ReadableError {
  const error = raw?.Error || 'UnknownError';
  const text = raw?.Cause;
  if (!text) {
    return { error, cause: 'no cause was reported', source: 'text' };
  }
  let parsed: Record<string, unknown> | undefined;
  try {
    const value: unknown = JSON.parse(text);
    parsed = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed.errorMessage === 'string') {
    return {
      error: typeof parsed.errorType === 'string' ? parsed.errorType : error,
      cause: withoutFrames(parsed.errorMessage),
      source: 'lambda',
    };
  }
  if (parsed && ('StoppedReason' in parsed || Array.isArray(parsed.Containers))) {
    const containers = (parsed.Containers as { ExitCode?: number; Reason?: string }[] | undefined) ?? [];
    const exit = containers.find((c) => c.ExitCode !== undefined);
    const code = exit ? `; exit code ${exit.ExitCode}` : '';
    const reason = exit?.Reason ? ` (${exit.Reason})` : '';
    return { error, cause: `The task stopped: ${String(parsed.StoppedReason ?? 'no reason given')}${code}${reason}`, source: 'task' };
  }
  // DescribeExecution (AWS spells its fields Error/Cause; some callers hand them on as error/cause).
  const childError = parsed?.Error ?? parsed?.error;
  const childCause = parsed?.Cause ?? parsed?.cause;
  if (parsed && (typeof childCause === 'string' || typeof childError === 'string')) {
    const child = readableError({
      Error: typeof childError === 'string' ? childError : error,
      Cause: typeof childCause === 'string' ? childCause : undefined,
    });
    return { ...child, source: 'execution' };
  }
  return { error, cause: withoutFrames(text), source: 'text' };
}

function withoutFrames(text: string): string {
  return capMessage(
    text
      .split('\n')
      .filter((line) => !FRAME.test(line))
      .join('\n')
      .trim(),
  );
}
