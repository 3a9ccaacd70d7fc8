import type { z } from 'zod';

/**
 * Errors that reach a state machine. Step Functions shows `name` as the Error and `message` as the Cause,
 * so messages are written for the on-call engineer: what was wrong, with which value, and what to do.
 */
export class StrongboxError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Execution input that fails its schema. Thrown at the first state, before anything is touched. */
export class InputValidationError extends StrongboxError {}

/** A backup whose artifact does not match its manifest, or whose manifest is missing or unreadable. */
export class VerificationError extends StrongboxError {}

/** A copy whose checksum at the destination differs from the source. */
export class ReplicationError extends StrongboxError {}

/** A restore the guard refuses: source as target, non-empty target, or a recovery point that is not there. */
export class RestoreRefusedError extends StrongboxError {}

/** Formats zod issues as one line each: `field: found <value>; expected ...`. */
export function describeZodIssues(error: z.ZodError, input: unknown): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.') || '(input)';
      let found: unknown = input;
      for (const part of issue.path) {
        found = found !== null && typeof found === 'object' ? (found as Record<PropertyKey, unknown>)[part] : undefined;
      }
      if (issue.code === 'unrecognized_keys') {
        return `${path === '(input)' ? '' : `${path}: `}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}; remove ${issue.keys.length > 1 ? 'them' : 'it'}`;
      }
      const shown = found === undefined ? 'nothing' : JSON.stringify(found);
      return `${path}: found ${shown && shown.length > 60 ? `${shown.slice(0, 57)}...` : shown}; ${issue.message.replace(/^Invalid input: /, '')}`;
    })
    .join('\n');
}

/** Parses `input` or throws an InputValidationError whose message names each field and the fix. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, what: string): z.output<T> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new InputValidationError(`Invalid ${what}:\n${describeZodIssues(result.error, input)}`);
  }
  return result.data;
}
