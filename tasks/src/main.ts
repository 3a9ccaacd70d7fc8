import type { S3Client } from '@aws-sdk/client-s3';
import { TASK_ENV, TaskEnvError } from '../../contracts/task-env';
import { keys, type RestoreTaskError } from '../../contracts/vault';
import type { SecretReader } from '../../engines/connection';
import { ToolFailedError } from '../../engines/tools';
import type { BackupFailedError, TaskDeps } from './commands/backup';
import { readTaskEnv, type TaskSettings } from './env';
import { logLine, resultLine } from './log';

/**
 * The dump task's entrypoint: `STRONGBOX_COMMAND` picks a command, the rest of the environment configures it.
 * Exit codes: 0 success, 1 failure (the message and the tool's stderr tail on stderr), 2 bad environment.
 * The last stdout line is always the command's JSON result.
 */
export type Command = (settings: TaskSettings, deps: TaskDeps) => Promise<Record<string, unknown>>;

/**
 * Commands by name; a new command registers here. Each is loaded when it runs: a backup's wall clock starts
 * with the task, and evaluating the restore, drill and engine modules it never uses cost it ~0.2 s of CPU.
 */
export const COMMANDS: Record<string, () => Promise<Command>> = {
  backup: async () => (await import('./commands/backup')).runBackup,
  restore: async () => (await import('./commands/restore')).runRestore,
  inventory: async () => (await import('./commands/inventory')).runInventory,
  drill: async () => (await import('./commands/drill')).runDrill,
  'archive-logs': async () => (await import('./commands/archive-logs')).runArchiveLogs,
  'base-backup': async () => (await import('./commands/base-backup')).runBaseBackup,
  'stream-logs': async () => (await import('./commands/stream-logs')).runStreamLogs,
};

/** What a caller (a test, the local runtime) may provide instead of the task's own AWS clients. */
export interface TaskOverrides {
  readonly s3?: S3Client;
  readonly readSecret?: SecretReader;
}

/**
 * The S3 client, created on first use: the AWS SDK is the largest module the task loads (~0.15 s of CPU and
 * ~10 MB), and a backup needs it only once its first compressed bytes are ready for upload (a null sink, never).
 */
function lazyS3(settings: TaskSettings, given?: S3Client): () => Promise<S3Client> {
  let client: Promise<S3Client> | undefined;
  return () => {
    client ??= given
      ? Promise.resolve(given)
      : import('./stream/download').then(({ taskS3Client }) => taskS3Client(settings.env.STRONGBOX_S3_ENDPOINT));
    return client;
  };
}

export async function main(environment: NodeJS.ProcessEnv = process.env, deps?: TaskOverrides): Promise<number> {
  let settings: TaskSettings;
  try {
    settings = readTaskEnv(environment);
  } catch (error) {
    if (error instanceof TaskEnvError) {
      process.stderr.write(`strongbox: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const load = COMMANDS[settings.env.STRONGBOX_COMMAND];
  if (!load) {
    process.stderr.write(
      `strongbox: ${TASK_ENV.command}: "${settings.env.STRONGBOX_COMMAND}" is not available in this build; expected one of ${Object.keys(COMMANDS).join(', ')}\n`,
    );
    return 2;
  }
  const s3 = lazyS3(settings, deps?.s3);
  try {
    const command = await load();
    const result = await command(settings, { s3, readSecret: deps?.readSecret });
    resultLine(result);
    return 0;
  } catch (error) {
    await recordRestoreError(settings, s3, error);
    if (error instanceof TaskEnvError) {
      process.stderr.write(`strongbox: ${error.message}\n`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    // By name: the backup module is loaded only when the backup command runs.
    const tail =
      error instanceof Error && error.name === 'BackupFailedError'
        ? (error as BackupFailedError).record.stderrTail
        : error instanceof ToolFailedError
          ? error.stderrTail
          : '';
    logLine('error', `${settings.env.STRONGBOX_COMMAND} failed`, { error: error instanceof Error ? error.name : 'Error', message });
    resultLine({ command: settings.env.STRONGBOX_COMMAND, ok: false, error: message });
    process.stderr.write(`strongbox: ${message}\n${tail ? `--- stderr tail ---\n${tail.trimEnd()}\n` : ''}`);
    return 1;
  }
}

/** How much of a failing tool's stderr the error record keeps: enough for the tool's own error lines. */
const RECORD_STDERR_CHARS = 1500;

/**
 * A failed restore says why in the vault, at the key its execution's NotifyFailure reads: ECS hands Step
 * Functions only the task's exit code and stop reason. Best effort: the exit code still reports the failure.
 */
async function recordRestoreError(settings: TaskSettings, s3: TaskDeps['s3'], error: unknown): Promise<void> {
  const env = settings.env;
  const executionName = env[TASK_ENV.executionName];
  if (env.STRONGBOX_COMMAND !== 'restore' || !executionName) {
    return;
  }
  const tail = error instanceof ToolFailedError ? error.stderrTail : '';
  const record: RestoreTaskError = {
    schemaVersion: 1,
    database: env.STRONGBOX_DATABASE,
    executionName,
    ...(env.STRONGBOX_BACKUP_ID && { backupId: env.STRONGBOX_BACKUP_ID }),
    failedAt: new Date().toISOString(),
    errorType: error instanceof Error ? error.name : 'Error',
    message: (error instanceof Error ? error.message : String(error)).slice(0, 4000),
    ...(tail.trim() && { stderrTail: tail.trimEnd().slice(-RECORD_STDERR_CHARS) }),
  };
  const write = async () => {
    const { putJson } = await import('../../contracts/vault-io');
    await putJson(await s3(), env.STRONGBOX_VAULT_BUCKET, keys.restoreTaskError(env.STRONGBOX_DATABASE, executionName), record);
  };
  await write().catch((e: Error) => logLine('error', 'could not write the restore error record', { error: e.message }));
}

/** Runs the task as a process: tasks/src/entry.ts (the image's bundle) and `node --import tsx tasks/src/main.ts`. */
export function runAsEntry(): void {
  // A pipeline promise that can never settle would otherwise let Node exit 0 with no result: never a success.
  process.once('beforeExit', () => {
    process.stderr.write('strongbox: internal error: the command stopped before producing a result\n');
    process.exit(1);
  });
  main().then(
    (code) => {
      // Drivers may keep sockets or timers alive; the result is written, so leave once stdout is flushed.
      process.stdout.write('', () => process.exit(code));
    },
    (error: Error) => {
      process.stderr.write(`strongbox: unexpected error: ${error.message}\n`);
      process.exitCode = 1;
    },
  );
}

// typeof: the image's bundle is an ES module, where `module` does not exist; it starts through entry.ts.
if (typeof module !== 'undefined' && require.main === module) {
  runAsEntry();
}
