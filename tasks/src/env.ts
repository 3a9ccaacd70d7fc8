import * as z from 'zod';
import { describeIssues } from '../../contracts/issues';
import { TASK_ENV, type TaskEnv, TaskEnvError, TaskEnvSchema } from '../../contracts/task-env';

export interface TaskSettings {
  readonly env: TaskEnv;
  readonly sink: 's3' | 'null';
  /** Parsed STRONGBOX_INCLUDE: schemas/tables, databases/tables or key patterns to restore; empty = everything. */
  readonly include: readonly string[];
}

/** Validates the task's environment; the message names every bad variable and what it expects. */
export function readTaskEnv(source: NodeJS.ProcessEnv): TaskSettings {
  const known = Object.values(TASK_ENV) as string[];
  const picked = Object.fromEntries(Object.entries(source).filter(([name, value]) => known.includes(name) && value !== ''));
  const result = TaskEnvSchema.safeParse(picked);
  if (!result.success) {
    const lines = describeIssues(result.error, picked, {
      root: '(environment)',
      missing: 'not set',
      conceal: (path) => String(path[0]).includes('PASSWORD'),
    });
    throw new TaskEnvError(`Invalid task environment:\n${lines.join('\n')}`);
  }
  return { env: result.data, sink: result.data.STRONGBOX_SINK, include: parseInclude(result.data[TASK_ENV.include]) };
}

const IncludeSchema = z.array(z.string().min(1));

function parseInclude(text: string | undefined): string[] {
  if (!text) {
    return [];
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TaskEnvError(`${TASK_ENV.include}: "${text}"; expected a JSON array of names such as ["public.orders","sales"]`);
  }
  const parsed = IncludeSchema.safeParse(value);
  if (!parsed.success) {
    throw new TaskEnvError(`${TASK_ENV.include}: "${text}"; expected a JSON array of non-empty strings such as ["public.orders","sales"]`);
  }
  return parsed.data;
}
