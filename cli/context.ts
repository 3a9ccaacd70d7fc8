import type { Plan } from '../contracts/plan';
import type { CommandSpec, ParsedCommandLine } from './args';
import type { AwsOptions } from './backends/aws';
import type { ExecutionRunner } from './backends/runner';
import type { VaultAccess } from './backends/vault';
import { CliUsageError } from './errors';

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** Asks one question on the terminal and resolves with the answer line (undefined when stdin has ended). */
  readonly ask?: (question: string) => Promise<string | undefined>;
  /** Registers a Ctrl-C handler while an execution is followed; returns the unregister function. */
  readonly onInterrupt?: (handler: () => void) => () => void;
}

export interface CommandContext extends ParsedCommandLine {
  readonly io: CliIo;
  readonly now: () => Date;
  /** Tests wire AWS clients to aws-sdk-client-mock. */
  readonly aws?: AwsOptions;
}

export interface Command {
  readonly spec: CommandSpec;
  run(ctx: CommandContext): Promise<number>;
}

// The backends load on use: the local one pulls in the CDK app (synth), the AWS one the SDK clients, and
// `--help` or a bad argument should answer at once.
export async function openVault(ctx: CommandContext): Promise<VaultAccess> {
  return ctx.common.local
    ? (await import('./backends/local')).openLocalVault(ctx.common)
    : (await import('./backends/aws')).openAwsVault(ctx.common, ctx.aws);
}

export async function openRunner(ctx: CommandContext): Promise<ExecutionRunner> {
  return ctx.common.local
    ? (await import('./backends/local')).openLocalRunner(ctx.common)
    : (await import('./backends/aws')).openAwsRunner(ctx.common, ctx.aws);
}

/** Runs `body` with the vault open and closes it whatever happens. */
export async function withVault<T>(ctx: CommandContext, body: (vault: VaultAccess) => Promise<T>): Promise<T> {
  const vault = await openVault(ctx);
  try {
    return await body(vault);
  } finally {
    await vault.close();
  }
}

/** The same wording Resolve uses for a database that is not in the config. */
export function requireDatabase(plan: Plan, database: string): void {
  if (!plan.databases[database]) {
    const known = Object.keys(plan.databases);
    throw new CliUsageError(
      `database: found ${JSON.stringify(database)}; expected one of the configured databases: ${known.join(', ') || '(none)'}`,
    );
  }
}

export function printJson(ctx: CommandContext, document: unknown): void {
  ctx.io.out(JSON.stringify(document, null, 2));
}
