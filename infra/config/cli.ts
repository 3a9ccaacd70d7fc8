import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { binlogServerNeeds } from '../../contracts/logs';
import { WAL_SERVER_NEEDS, walSlotName } from '../../contracts/wal';
import { isRdsEndpoint } from './engines';
import { checkFleetLimits } from './limits';
import { ConfigError, configJsonSchema, loadConfig } from './load';
import { logsRpoSeconds, type StrongboxConfig } from './schema';

/**
 * `npm run validate -- --config <file>`: checks a config and prints one line per problem (exit 1).
 * `npm run schema [-- --out <file>]`: writes the JSON Schema editors use to complete the config.
 *
 * Every outcome is a line of text and an exit code; no stack trace reaches the user.
 */
export const USAGE = 'usage: cli.ts validate [--config <file>] | schema [--out <file>]';
export const DEFAULT_CONFIG = 'strongbox.config.yaml';
export const DEFAULT_SCHEMA = 'strongbox.schema.json';

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** Returns the exit code, so tests can call it in-process. */
export function runCli(argv: readonly string[], io: CliIo): number {
  const [command, ...rest] = argv;
  const options = parseOptions(rest);
  if (typeof options === 'string') {
    io.err(`${options}\n${USAGE}`);
    return 2;
  }
  switch (command) {
    case 'validate':
      return validate(options.config ?? process.env.STRONGBOX_CONFIG ?? DEFAULT_CONFIG, io);
    case 'schema':
      return writeSchema(options.out ?? DEFAULT_SCHEMA, io);
    default:
      io.err(`unknown command ${JSON.stringify(command ?? '')}\n${USAGE}`);
      return 2;
  }
}

function parseOptions(args: readonly string[]): { config?: string; out?: string } | string {
  const options: { config?: string; out?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const [name, inline] = flag.split('=', 2);
    if (name !== '--config' && name !== '--out') {
      return `unknown option ${JSON.stringify(flag)}`;
    }
    const value = inline ?? args[++i];
    if (!value) {
      return `option ${name} needs a value`;
    }
    options[name === '--config' ? 'config' : 'out'] = value;
  }
  return options;
}

function validate(file: string, io: CliIo): number {
  try {
    const config = loadConfig(file);
    const limits = checkFleetLimits(config);
    for (const warning of limits.warnings) {
      io.err(`${file}: warning: ${warning}`);
    }
    if (limits.problems.length > 0) {
      throw new ConfigError(file, limits.problems);
    }
    for (const note of logNotes(config)) {
      io.out(`${file}: note: ${note}`);
    }
    io.out(`${file}: valid (${config.databases.length} database${config.databases.length === 1 ? '' : 's'})`);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) {
        io.err(`${file}: ${problem}`);
      }
      io.err(`${file}: ${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}`);
      return 1;
    }
    io.err(`${file}: unexpected error: ${(error as Error).message}`);
    return 1;
  }
}

/**
 * What each log-archiving database's server must have: synth cannot see the server, so validate says it once,
 * and the archiving task refuses a server without it in the same words.
 */
export function logNotes(config: StrongboxConfig): string[] {
  return config.databases.flatMap((db) => {
    if (!db.logs) {
      return [];
    }
    if (db.engine === 'postgres') {
      return [
        `${db.name}: WAL archived every ${db.logs.intervalMinutes} min from the slot ${walSlotName(db.name)}, base backups on ${db.logs.baseBackup?.expression}, any second of the last ${db.logs.windowDays} days restorable; ${WAL_SERVER_NEEDS}`,
      ];
    }
    const intervalMinutes = Math.ceil(logsRpoSeconds(db.logs) / 60);
    const needs = isRdsEndpoint(db.connection.host)
      ? binlogServerNeeds(intervalMinutes)
      : 'the server needs log_bin ON and binlog_format=ROW';
    const every =
      db.logs.mode === 'continuous'
        ? `streamed by a Fargate service, the tail flushed every ${logsRpoSeconds(db.logs)} s`
        : `archived every ${intervalMinutes} min`;
    return [`${db.name}: binlog ${every}, any second of the last ${db.logs.windowDays} days restorable; ${needs}`];
  });
}

function writeSchema(out: string, io: CliIo): number {
  try {
    writeFileSync(resolve(out), `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    io.out(`wrote ${out}`);
    return 0;
  } catch (error) {
    io.err(`cannot write ${out}: ${(error as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  process.exitCode = runCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
}
