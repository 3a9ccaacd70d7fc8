import { readFileSync } from 'node:fs';
import { LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import { editDistance } from '../../contracts/errors';
import { describeIssues, formatPath } from '../../contracts/issues';
import { type StrongboxConfig, StrongboxConfigSchema } from './schema';

/**
 * A config that cannot be used. `problems` holds one line per problem, each naming the YAML path, the
 * value found and what is expected, so that the CLI and `cdk synth` can print them without a stack trace.
 */
export class ConfigError extends Error {
  public constructor(
    public readonly file: string,
    public readonly problems: readonly string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The text of a config file, or a ConfigError that names the file and why it cannot be read. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [
      `cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'}); expected a readable YAML file`,
    ]);
  }
}

export function loadConfig(file: string): StrongboxConfig {
  const text = readConfigText(file);
  return parseConfig(text, file);
}

export function parseConfig(text: string, file = 'strongbox.config.yaml'): StrongboxConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        // prettyErrors is off (it would print a code frame), so linePos is unset: locate through the LineCounter.
        const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
        return `${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${e.message.split('\n')[0]}; expected valid YAML`;
      }),
    );
  }
  const input: unknown = doc.toJS();
  const result = StrongboxConfigSchema.safeParse(input ?? {});
  if (result.success) {
    return result.data;
  }
  // A missing key has no node of its own, so point at the nearest enclosing one that exists.
  const locate = (path: readonly PropertyKey[]): string => {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = doc.getIn(path.slice(0, depth) as unknown[], true) as Node | undefined;
      const offset = node?.range?.[0];
      if (offset !== undefined) {
        return `line ${lines.linePos(offset).line}: `;
      }
    }
    return '';
  };
  const problems = describeIssues(result.error, input, {
    locate,
    pathStyle: 'indexed',
    root: '(root)',
    maxValueChars: 80,
    unknownKey: (path, key) => {
      const hint = suggest(key, knownKeys(path));
      return `${formatPath([...path, key], 'indexed', '(root)')}: found unknown key "${key}"; expected ${hint ? `"${hint}"` : 'it to be removed'} (check the spelling against strongbox.schema.json)`;
    },
  });
  throw new ConfigError(file, problems);
}

/** Keys the schema knows at `path`, read from the schema's JSON Schema so the hint never drifts. */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let node = jsonSchema();
  for (const part of path) {
    if (typeof part === 'number') {
      node = (node.items as JsonSchemaNode | undefined) ?? {};
    } else {
      node = (node.properties?.[String(part)] as JsonSchemaNode | undefined) ?? {};
    }
  }
  return Object.keys(node.properties ?? {});
}

interface JsonSchemaNode {
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
}

let cachedJsonSchema: JsonSchemaNode | undefined;
function jsonSchema(): JsonSchemaNode {
  cachedJsonSchema ??= configJsonSchema() as JsonSchemaNode;
  return cachedJsonSchema;
}

/** The JSON Schema that editors use to complete `strongbox.config.yaml`. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(StrongboxConfigSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'Strongbox configuration',
  };
}

function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}
