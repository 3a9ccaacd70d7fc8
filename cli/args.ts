import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CliUsageError } from './errors';

/**
 * Argument parsing for every command: node's strict parseArgs, with errors rewritten into one line that names
 * the flag and the fix, plus the one shape parseArgs has no notion of, `--local [dataDir]` (a flag whose value
 * is optional).
 */

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** `--flag <value>` in the help text. */
  readonly value?: string;
  readonly description: string;
}

export interface CommandSpec {
  readonly name: string;
  /** `points <database> [--at <instant>]` */
  readonly usage: string;
  readonly summary: string;
  /** One line for the command list of `strongbox --help`. */
  readonly brief: string;
  readonly positionals: readonly { readonly name: string; readonly required: boolean }[];
  readonly flags: Readonly<Record<string, FlagSpec>>;
  readonly examples: readonly string[];
  /** Extra help paragraphs. */
  readonly notes?: readonly string[];
}

export interface CommonOptions {
  readonly json: boolean;
  readonly help: boolean;
  /** Set with --local; `dataDir` when one was given. */
  readonly local?: { readonly dataDir?: string };
  readonly config?: string;
  readonly account?: string;
}

export const COMMON_FLAGS: Readonly<Record<string, FlagSpec>> = {
  local: {
    type: 'boolean',
    value: '[dataDir]',
    description: 'the local vault of `npm run demo` (dataDir: default the config\'s local.dataDir, ".strongbox")',
  },
  config: {
    type: 'string',
    value: '<file>',
    description: "the config (default $STRONGBOX_CONFIG, else ./strongbox.config.yaml; with --local the demo's own config)",
  },
  account: {
    type: 'string',
    value: '<12 digits>',
    description: 'AWS account of the vault buckets (default: read from the <app>-restore state machine ARN)',
  },
  json: { type: 'boolean', description: 'one JSON document on stdout instead of tables' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
};

export interface ParsedCommandLine {
  readonly common: CommonOptions;
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
}

/** A value after `--local` is its data directory when it looks like a path or names an existing directory. */
function isDataDir(token: string | undefined): token is string {
  if (token === undefined || token.startsWith('-')) {
    return false;
  }
  if (token.startsWith('.') || token.startsWith('/') || token.startsWith('~') || token.includes('/')) {
    return true;
  }
  return existsSync(token) && statSync(token).isDirectory();
}

export function parseCommandLine(spec: CommandSpec, argv: readonly string[]): ParsedCommandLine {
  const rest: string[] = [];
  let local: { dataDir?: string } | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--local') {
      local = isDataDir(argv[i + 1]) ? { dataDir: argv[++i] } : {};
    } else if (arg.startsWith('--local=')) {
      const dataDir = arg.slice('--local='.length);
      if (!dataDir) {
        throw new CliUsageError('--local=: found an empty data directory; expected --local <dataDir> or --local alone');
      }
      local = { dataDir };
    } else {
      rest.push(arg);
    }
  }
  const flags = { ...COMMON_FLAGS, ...spec.flags };
  const options = Object.fromEntries(
    Object.entries(flags)
      .filter(([name]) => name !== 'local')
      .map(([name, flag]) => [
        name,
        { type: flag.type, ...(flag.multiple && { multiple: true }), ...(flag.short && { short: flag.short }) },
      ]),
  );
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: options as never, strict: true, allowPositionals: true });
  } catch (error) {
    throw new CliUsageError(`${describeParseError(error as Error & { code?: string }, spec)}\n${usageLine(spec)}`);
  }
  const common: CommonOptions = {
    json: parsed.values.json === true,
    help: parsed.values.help === true,
    ...(local && { local }),
    ...(typeof parsed.values.config === 'string' && { config: parsed.values.config }),
    ...(typeof parsed.values.account === 'string' && { account: parsed.values.account }),
  };
  if (!common.help) {
    checkPositionals(spec, parsed.positionals);
  }
  return { common, positionals: parsed.positionals, values: parsed.values as ParsedCommandLine['values'] };
}

function checkPositionals(spec: CommandSpec, positionals: readonly string[]): void {
  const required = spec.positionals.filter((p) => p.required);
  if (positionals.length < required.length) {
    const missing = required[positionals.length];
    throw new CliUsageError(`<${missing.name}>: found nothing; expected it as an argument\n${usageLine(spec)}`);
  }
  if (positionals.length > spec.positionals.length) {
    const extra = positionals[spec.positionals.length];
    throw new CliUsageError(`found an extra argument ${JSON.stringify(extra)}; expected ${spec.usage}\n${usageLine(spec)}`);
  }
}

function describeParseError(error: Error & { code?: string }, spec: CommandSpec): string {
  const flag = /'(-[^']*)'/.exec(error.message)?.[1] ?? '';
  const name = flag.replace(/^-+/, '').replace(/ .*$/, '');
  const known = Object.keys({ ...COMMON_FLAGS, ...spec.flags }).map((f) => `--${f}`);
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `${flag}: unknown option for "strongbox ${spec.name}"; expected one of ${known.join(', ')}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const takesValue = ({ ...COMMON_FLAGS, ...spec.flags } as Record<string, FlagSpec>)[name]?.type === 'string';
      return takesValue ? `--${name}: found nothing; expected a value after it` : `--${name}: found a value; expected the flag alone`;
    }
    default:
      return error.message.split('\n')[0];
  }
}

export function usageLine(spec: CommandSpec): string {
  return `usage: strongbox ${spec.usage}   (strongbox ${spec.name} --help for more)`;
}

export function helpText(spec: CommandSpec): string {
  const flagLines = (flags: Readonly<Record<string, FlagSpec>>) =>
    Object.entries(flags).map(([name, flag]) => {
      const left = `${flag.short ? `-${flag.short}, ` : ''}--${name}${flag.value ? ` ${flag.value}` : flag.type === 'string' ? ' <value>' : ''}`;
      return `  ${left.padEnd(30)} ${flag.description}`;
    });
  return [
    `strongbox ${spec.usage}`,
    '',
    spec.summary,
    ...(spec.notes ?? []).flatMap((note) => ['', note]),
    '',
    ...(Object.keys(spec.flags).length > 0 ? ['Options:', ...flagLines(spec.flags), ''] : []),
    'Common options:',
    ...flagLines(COMMON_FLAGS),
    '',
    'Examples:',
    ...spec.examples.map((e) => `  ${e}`),
    '',
    EXIT_CODE_HELP,
  ].join('\n');
}

export const EXIT_CODE_HELP =
  'Exit codes: 0 ok, 1 the operation failed or was refused, 2 bad arguments (nothing was started), 3 the vault or AWS cannot be reached, 130 stopped with Ctrl-C.';

/** A string flag's value, or undefined. */
export function stringFlag(values: ParsedCommandLine['values'], name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}
