import { createInterface } from 'node:readline';
import { InputValidationError, RestoreRefusedError } from '../contracts/errors';
import { RecordFormatError } from '../contracts/vault-io';
import { ConfigError } from '../infra/config/load';
import { EXIT_CODE_HELP, helpText, parseCommandLine } from './args';
import type { AwsOptions } from './backends/aws';
import { pointsCommand } from './commands/points';
import { reportCommand } from './commands/report';
import { drillCommand, drPlanCommand, restoreCommand } from './commands/run';
import { showCommand } from './commands/show';
import { statsCommand } from './commands/stats';
import type { CliIo, Command } from './context';
import { CliUsageError, EXIT, OperationFailedError, unreachable, VaultUnavailableError } from './errors';

/**
 * `strongbox <command>`: the operator's CLI against the deployed app (AWS SDK default credentials) or the local
 * vault of `npm run demo` (--local). `runCli` returns the exit code, so tests run it in-process; `launch` is
 * what bin/strongbox-cli.cjs calls.
 */

export const COMMANDS: readonly Command[] = [
  pointsCommand,
  showCommand,
  statsCommand,
  reportCommand,
  restoreCommand,
  drillCommand,
  drPlanCommand,
];

export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length));
  return [
    'strongbox <command> [options]: backups, restores, drills and evidence of a Strongbox app',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}  ${c.spec.brief}`),
    '',
    'Where: the deployed app by default (AWS SDK default credentials, regions and app name from --config),',
    'or --local [dataDir] for the local vault of `npm run demo`. Every command takes --json and --help.',
    '',
    'Examples:',
    '  strongbox points orders --at 2026-11-21T03:30:00Z',
    '  strongbox restore orders --latest --target-host orders-copy.internal --target-database orders_copy --target-secret-arn arn:aws:secretsmanager:...',
    '  strongbox report --month 2026-11 --out strongbox-2026-11.html',
    '  strongbox stats --local',
    '',
    EXIT_CODE_HELP,
  ].join('\n');
}

export interface RunOptions {
  readonly now?: () => Date;
  readonly aws?: AwsOptions;
}

export async function runCli(argv: readonly string[], io: CliIo, options: RunOptions = {}): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(topHelp());
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(topHelp());
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.spec.name === name);
  try {
    if (!command) {
      throw new CliUsageError(
        `${JSON.stringify(name)}: unknown command; expected one of ${COMMANDS.map((c) => c.spec.name).join(', ')} (strongbox --help)`,
      );
    }
    const parsed = parseCommandLine(command.spec, rest);
    if (parsed.common.help) {
      io.out(helpText(command.spec));
      return EXIT.ok;
    }
    return await command.run({ ...parsed, io, now: options.now ?? (() => new Date()), ...(options.aws && { aws: options.aws }) });
  } catch (error) {
    return reportError(error, io);
  }
}

/** Every failure becomes lines on stderr and an exit code; a stack trace only with STRONGBOX_DEBUG=1. */
export function reportError(error: unknown, io: CliIo): number {
  const message = error instanceof Error ? error.message : String(error);
  if (process.env.STRONGBOX_DEBUG === '1' && error instanceof Error) {
    io.err(error.stack ?? message);
  }
  if (error instanceof CliUsageError || error instanceof InputValidationError) {
    io.err(`strongbox: ${message}`);
    return EXIT.usage;
  }
  if (error instanceof ConfigError) {
    io.err(`strongbox: ${message}`);
    return EXIT.usage;
  }
  if (error instanceof OperationFailedError || error instanceof RestoreRefusedError || error instanceof RecordFormatError) {
    io.err(`strongbox: ${message}`);
    return EXIT.failed;
  }
  if (error instanceof VaultUnavailableError) {
    io.err(`strongbox: ${message}`);
    return EXIT.unavailable;
  }
  const sdk = error as { $metadata?: unknown; name?: string; Bucket?: string };
  if (sdk?.$metadata !== undefined || sdk?.name === 'CredentialsProviderError') {
    io.err(`strongbox: ${unreachable(error, 'read the vault').message}`);
    return EXIT.unavailable;
  }
  io.err(`strongbox: unexpected error: ${error instanceof Error ? `${error.name}: ` : ''}${message} (STRONGBOX_DEBUG=1 shows where)`);
  return EXIT.failed;
}

/** The process's terminal: stdout for results, stderr for progress and questions, stdin for answers. */
export function processIo(): CliIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    ask: (question) =>
      new Promise((resolve) => {
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        let answered = false;
        rl.on('SIGINT', () => {
          // Ctrl-C at the question is an answer too: stop.
          answered = true;
          rl.close();
          resolve('stop');
        });
        rl.on('close', () => {
          if (!answered) {
            resolve(undefined);
          }
        });
        rl.question(question, (answer) => {
          answered = true;
          rl.close();
          resolve(answer);
        });
      }),
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      return () => process.removeListener('SIGINT', handler);
    },
  };
}

export function launch(): void {
  runCli(process.argv.slice(2), processIo()).then(
    (code) => {
      // SDK sockets and servers may keep the loop alive; the result is written, so leave once stdout is flushed.
      process.stdout.write('', () => process.exit(code));
    },
    (error: unknown) => {
      process.stderr.write(`strongbox: unexpected error: ${(error as Error).message}\n`);
      process.exit(EXIT.failed);
    },
  );
}

if (require.main === module) {
  launch();
}
