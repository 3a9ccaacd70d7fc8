import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SNSClient } from '@aws-sdk/client-sns';
import { FUNCTION_ENV } from '../../contracts/function-env';
import { LegacyOpenSslRequiredError, startVault } from '../../dev/servers/vault';
import { buildPlan } from '../../infra/config/plan';
import { notifyAborted } from '../../lambdas/restore/notify/restore-notify';
import { LOCAL_ACCOUNT } from '../../local/executor/intrinsics';
import { DEMO_CONFIG_FILE, type LocalConfig, loadLocalConfig } from '../../local/local-config';
import type { LocalStrongbox } from '../../local/local-strongbox';
import type { CommonOptions } from '../args';
import { VaultUnavailableError } from '../errors';
import { type ExecutionOutcome, type ExecutionRunner, executionName, type MachineKind, type RunObserver, taskLineText } from './runner';
import { type VaultAccess, vaultBuckets } from './vault';

/**
 * `--local [dataDir]`: the vault `npm run demo` leaves in `<dataDir>/vault` (an s3rver data directory), read
 * through an s3rver of our own on loopback, and for restore/drill/dr-plan the whole local runtime
 * (startLocalStrongbox) against the config's databases.
 */

const LEGACY_OPENSSL = '--openssl-legacy-provider';

/** The config: --config, else STRONGBOX_CONFIG, else the demo's own config (what `npm run demo` ran). */
export function loadCliLocalConfig(common: CommonOptions, env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const file = common.config ?? env.STRONGBOX_CONFIG ?? DEMO_CONFIG_FILE;
  const local = loadLocalConfig(file, env);
  return common.local?.dataDir ? { ...local, dataDir: resolve(common.local.dataDir) } : local;
}

function vaultDirectory(local: LocalConfig): string {
  const directory = join(local.dataDir, 'vault');
  if (!existsSync(directory)) {
    throw new VaultUnavailableError(
      `no local vault in ${directory}: run \`npm run demo\` first, or name the data directory that holds vault/ with --local <dataDir>`,
    );
  }
  return directory;
}

function requireLegacyOpenSsl(): void {
  if (!(process.env.NODE_OPTIONS ?? '').includes(LEGACY_OPENSSL) && !process.execArgv.includes(LEGACY_OPENSSL)) {
    throw new VaultUnavailableError(`${new LegacyOpenSslRequiredError().message} (npx strongbox sets it)`);
  }
  // Tasks started by the local runtime are child processes: they list the vault too.
  if (!(process.env.NODE_OPTIONS ?? '').includes(LEGACY_OPENSSL)) {
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${LEGACY_OPENSSL}`.trim();
  }
}

/** The local vault for the read-only commands: no synth, no engines. */
export async function openLocalVault(common: CommonOptions): Promise<VaultAccess> {
  requireLegacyOpenSsl();
  const local = loadCliLocalConfig(common);
  const directory = vaultDirectory(local);
  const buckets = vaultBuckets(local.config, LOCAL_ACCOUNT);
  const vault = await startVault(directory, [buckets.primary, buckets.replica]);
  const s3 = vault.client(local.config.vault.primaryRegion);
  return {
    where: 'local',
    primary: { s3, bucket: buckets.primary, region: local.config.vault.primaryRegion },
    replica: { s3, bucket: buckets.replica, region: local.config.vault.replicaRegion },
    objectLock: false,
    description: `local vault ${directory}`,
    config: local.config,
    plan: buildPlan(local.config),
    close: () => vault.stop(),
  };
}

/** Powertools warns on every in-process invocation that publishes no custom metric: on a terminal only noise. */
function quietEmptyMetricsWarnings(): void {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).startsWith('No application metrics to publish')) {
      warn(...args);
    }
  };
}

/** The local runtime for restore, drill and dr-plan. */
export async function openLocalRunner(common: CommonOptions): Promise<ExecutionRunner> {
  requireLegacyOpenSsl();
  quietEmptyMetricsWarnings();
  const local = loadCliLocalConfig(common);
  let observer: RunObserver | undefined;
  // Loaded here, not at the top: it synthesizes the CDK app, which the read-only commands never need.
  const { startLocalStrongbox } = await import('../../local/local-strongbox');
  const strongbox: LocalStrongbox = await startLocalStrongbox({
    local,
    onTaskOutput: (line) => {
      const text = taskLineText(line.json, line.line, line.stream);
      if (text !== undefined) {
        observer?.taskLine(text);
      }
    },
    onNestedTransition: (t) =>
      observer?.step({
        state: t.state,
        type: t.type,
        at: t.at,
        nested: true,
        ...(t.error !== undefined && { error: t.error }),
        ...(typeof t.cause === 'string' && { cause: t.cause }),
      }),
  });
  const s3 = strongbox.vault.client(local.config.vault.primaryRegion);
  const vault: VaultAccess = {
    where: 'local',
    primary: { s3, bucket: strongbox.app.buckets.primary, region: local.config.vault.primaryRegion },
    replica: { s3, bucket: strongbox.app.buckets.replica, region: local.config.vault.replicaRegion },
    objectLock: false,
    description: `local vault ${strongbox.vault.directory}`,
    config: local.config,
    plan: strongbox.plan,
    close: async () => undefined,
  };

  /**
   * In AWS an EventBridge rule runs the restore Notify Lambda for a stopped restore (a stopped execution runs no
   * further state); locally nothing routes events, so the CLI plays that rule's part with the same code.
   */
  const recordAborted = async (outcome: ExecutionOutcome, input: unknown) => {
    const notify = [...strongbox.app.functions.values()].find((fn) => fn.handlerModule === 'lambdas/restore/notify/handler.ts');
    await notifyAborted(
      {
        'detail-type': 'Step Functions Execution Status Change',
        detail: {
          executionArn: outcome.executionArn,
          name: outcome.name,
          status: 'ABORTED',
          startDate: outcome.startedAt.getTime(),
          stopDate: outcome.stoppedAt.getTime(),
          input: JSON.stringify(input),
        },
      },
      {
        s3,
        bucket: strongbox.app.buckets.primary,
        sns: new SNSClient({ region: strongbox.app.region, endpoint: strongbox.sns.endpoint }),
        chatTopicArn: notify?.environment[FUNCTION_ENV.chatTopicArn] ?? '',
        plan: strongbox.plan,
      },
    );
  };

  return {
    vault,
    start: async (kind: MachineKind, input: unknown, runObserver: RunObserver) => {
      observer = runObserver;
      const machine = strongbox.stateMachine(`${strongbox.plan.app}-${kind}`);
      const stop = new AbortController();
      const name = executionName();
      const startedAt = new Date();
      const done = machine
        .execute(input, {
          name,
          signal: stop.signal,
          onTransition: (t) =>
            runObserver.step({
              state: t.state,
              type: t.type,
              at: t.at,
              ...(t.output !== undefined && { output: t.output }),
              ...(t.error !== undefined && { error: t.error }),
              ...(typeof t.cause === 'string' && { cause: t.cause }),
            }),
        })
        .then(async (result): Promise<ExecutionOutcome> => {
          const outcome: ExecutionOutcome = {
            executionArn: result.executionArn,
            name: result.name,
            status: result.status,
            output: result.output,
            ...(result.error !== undefined && { error: result.error }),
            ...(result.cause !== undefined && { cause: result.cause }),
            startedAt: result.startedAt,
            stoppedAt: result.stoppedAt,
            steps: result.transitions.map((t) => ({ state: t.state, type: t.type, at: t.at })),
          };
          if (outcome.status === 'ABORTED' && kind === 'restore') {
            await recordAborted(outcome, input);
          }
          return outcome;
        });
      return {
        executionArn: machine.arn.replace(':stateMachine:', ':execution:') + `:${name}`,
        name,
        startedAt,
        canDetach: false,
        done,
        stop: async () => {
          stop.abort();
          await done.catch(() => undefined);
        },
      };
    },
    close: () => strongbox.stop(),
  };
}
