import type { z } from 'zod';

/**
 * The one formatter of zod issues, for every input a person gets wrong: the config file, the console inputs,
 * a vault record, the task's and the functions' environments. Each issue becomes one line,
 *
 *   `<path>: found <value>; expected ...`
 *
 * which is why every schema message is written as "expected ...". The options carry what differs between
 * those inputs and nothing else: where the line points to (a YAML line), how paths look (YAML paths index
 * lists as `[0]`), values that must never be quoted (secrets), and a spelling hint for unknown keys.
 */

export interface IssueFormatOptions {
  /** Prefix of a line, such as `line 12: ` of the config file. */
  readonly locate?: (path: readonly PropertyKey[]) => string;
  /** `dotted` (include.0, the console inputs' and records') or `indexed` (databases[0].name, the config's). @default 'dotted' */
  readonly pathStyle?: 'dotted' | 'indexed';
  /** The path of the input itself, when an issue is about the whole input. @default '(input)' */
  readonly root?: string;
  /** Values at these paths are described, never quoted (passwords in the task environment). */
  readonly conceal?: (path: readonly PropertyKey[]) => boolean;
  /** What a missing value reads as. @default 'found nothing' */
  readonly missing?: string;
  /** The longest quoted value; a 200 KiB value is not repeated. @default 60 */
  readonly maxValueChars?: number;
  /** At most this many lines, then one line saying how many more; 200 bad names are the same mistake 200 times. */
  readonly maxLines?: number;
  /**
   * One line per unknown key, for inputs with a schema to suggest from (the config). Without it, unknown keys
   * read `<path>: unknown field "x"; remove it`.
   */
  readonly unknownKey?: (path: readonly PropertyKey[], key: string) => string;
}

/** A value as an error message quotes it: JSON, at most `max` characters. */
export function shown(value: unknown, max = 60): string {
  const text = value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value));
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

export function formatPath(path: readonly PropertyKey[], style: 'dotted' | 'indexed' = 'dotted', root = '(input)'): string {
  let out = '';
  for (const part of path) {
    out += style === 'indexed' && typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  }
  return out || root;
}

/**
 * The "expected ..." half of a message. Strongbox's own messages already read that way; zod's defaults read
 * "Invalid input: expected string, received number", where the received half repeats what `found` shows.
 */
export function expectedPart(message: string): string {
  if (message.startsWith('expected')) {
    return message;
  }
  const match = /expected .*/i.exec(message);
  return match ? match[0].replace(/, received .*/, '') : `expected ${message.charAt(0).toLowerCase()}${message.slice(1)}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const part of path) {
    if (current === null || typeof current !== 'object') {
      return undefined;
    }
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/** One line per issue (one per key for unknown keys), as described at the top of this file. */
export function describeIssues(error: z.ZodError, input: unknown, options: IssueFormatOptions = {}): string[] {
  const locate = options.locate ?? (() => '');
  const path = (p: readonly PropertyKey[]) => formatPath(p, options.pathStyle, options.root);
  const lines = error.issues.flatMap((issue): string[] => {
    if (issue.code === 'unrecognized_keys') {
      if (options.unknownKey) {
        const unknownKey = options.unknownKey;
        return issue.keys.map((key) => `${locate([...issue.path, key])}${unknownKey(issue.path, key)}`);
      }
      const where = issue.path.length === 0 ? '' : `${path(issue.path)}: `;
      const many = issue.keys.length > 1;
      const names = issue.keys.map((k) => `"${k.slice(0, 60)}"`).join(', ');
      return [`${locate(issue.path)}${where}unknown field${many ? 's' : ''} ${names}; remove ${many ? 'them' : 'it'}`];
    }
    const found = valueAt(input, issue.path);
    const described =
      found === undefined
        ? (options.missing ?? 'found nothing')
        : options.conceal?.(issue.path)
          ? 'set (value hidden)'
          : `found ${shown(found, options.maxValueChars)}`;
    return [`${locate(issue.path)}${path(issue.path)}: ${described}; ${expectedPart(issue.message)}`];
  });
  const extra = options.maxLines === undefined ? 0 : lines.length - options.maxLines;
  return extra > 0 ? [...lines.slice(0, options.maxLines), `... and ${extra} more problems like these`] : lines;
}
