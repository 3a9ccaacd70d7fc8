import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  paginateListStateMachines,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { Plan } from '../../contracts/plan';
import { taskLogGroupName, taskLogStreamName } from '../../contracts/task-env';
import { loadConfig } from '../../infra/config/load';
import { buildPlan } from '../../infra/config/plan';
import type { StrongboxConfig } from '../../infra/config/schema';
import type { CommonOptions } from '../args';
import { CliUsageError, unreachable, VaultUnavailableError } from '../errors';
import {
  type ExecutionOutcome,
  type ExecutionRunner,
  type ExecutionStatus,
  executionName,
  type MachineKind,
  type RunObserver,
  type Step,
} from './runner';
import { TaskLogFollower, type TaskStream } from './task-logs';
import { type VaultAccess, vaultBuckets } from './vault';

/**
 * The deployed app: AWS SDK default credentials (environment, profile, SSO, instance role), the regions and the
 * app name from the config. The account comes from --account or, so that no extra client or permission is
 * needed, from the ARN of the `<app>-restore` state machine (states:ListStateMachines in the primary region).
 */

export interface AwsClients {
  readonly sfn: SFNClient;
  readonly primaryS3: S3Client;
  readonly replicaS3: S3Client;
  /**
   * The tasks' log streams, in the primary region. Without it the CLI names each task's stream with an
   * `aws logs tail` command instead of showing its lines.
   */
  readonly logs?: CloudWatchLogsClient;
}

export interface AwsOptions {
  /** Tests pass clients wired to aws-sdk-client-mock. @default clients for the config's regions */
  readonly clients?: AwsClients;
  /** How often a followed execution is polled. @default 2000 */
  readonly pollMs?: number;
}

export function loadCliConfig(common: CommonOptions, env: NodeJS.ProcessEnv = process.env): StrongboxConfig {
  return loadConfig(common.config ?? env.STRONGBOX_CONFIG ?? 'strongbox.config.yaml');
}

function defaultClients(config: StrongboxConfig): AwsClients {
  return {
    sfn: new SFNClient({ region: config.vault.primaryRegion }),
    primaryS3: new S3Client({ region: config.vault.primaryRegion }),
    replicaS3: new S3Client({ region: config.vault.replicaRegion }),
    logs: new CloudWatchLogsClient({ region: config.vault.primaryRegion }),
  };
}

async function stateMachineArns(sfn: SFNClient, config: StrongboxConfig): Promise<Map<string, string>> {
  const wanted = new Set(['restore', 'drill', 'dr-plan', 'backup'].map((kind) => `${config.app.name}-${kind}`));
  const found = new Map<string, string>();
  try {
    for await (const page of paginateListStateMachines({ client: sfn }, {})) {
      for (const machine of page.stateMachines ?? []) {
        if (machine.name && machine.stateMachineArn && wanted.has(machine.name)) {
          found.set(machine.name, machine.stateMachineArn);
        }
      }
    }
  } catch (error) {
    throw unreachable(error, `list the state machines in ${config.vault.primaryRegion}`);
  }
  return found;
}

function accountOf(arn: string): string {
  return arn.split(':')[4];
}

export async function openAwsVault(
  common: CommonOptions,
  options: AwsOptions = {},
): Promise<VaultAccess & { machines: Map<string, string> }> {
  const config = loadCliConfig(common);
  const clients = options.clients ?? defaultClients(config);
  if (common.account !== undefined && !/^\d{12}$/.test(common.account)) {
    throw new CliUsageError(`--account: found ${JSON.stringify(common.account)}; expected the 12-digit AWS account id`);
  }
  const machines = await stateMachineArns(clients.sfn, config);
  const restoreArn = machines.get(`${config.app.name}-restore`);
  const account = common.account ?? (restoreArn ? accountOf(restoreArn) : undefined);
  if (!account) {
    throw new VaultUnavailableError(
      `no state machine ${config.app.name}-restore in ${config.vault.primaryRegion}: is app "${config.app.name}" deployed there? Pass --account <id> to read the vault anyway`,
    );
  }
  const buckets = vaultBuckets(config, account);
  return {
    where: 'aws',
    primary: { s3: clients.primaryS3, bucket: buckets.primary, region: config.vault.primaryRegion },
    replica: { s3: clients.replicaS3, bucket: buckets.replica, region: config.vault.replicaRegion },
    objectLock: true,
    description: `s3://${buckets.primary} (${config.vault.primaryRegion})`,
    config,
    plan: buildPlan(config),
    machines,
    close: async () => undefined,
  };
}

const TERMINAL: Record<string, ExecutionStatus> = { SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED', TIMED_OUT: 'TIMED_OUT', ABORTED: 'ABORTED' };

/** A history event as a step: `*StateEntered`/`*StateExited` by name, failures with the state they belong to. */
export function stepOf(event: HistoryEvent, currentState: string | undefined): Step | undefined {
  const at = event.timestamp ? new Date(event.timestamp).getTime() : Date.now();
  const type = event.type ?? '';
  if (type.endsWith('StateEntered') && event.stateEnteredEventDetails?.name) {
    return { state: event.stateEnteredEventDetails.name, type: 'entered', at };
  }
  if (type.endsWith('StateExited') && event.stateExitedEventDetails?.name) {
    const output = event.stateExitedEventDetails.output;
    return { state: event.stateExitedEventDetails.name, type: 'exited', at, ...(output !== undefined && { output: parseJson(output) }) };
  }
  if (type === 'ExecutionFailed' || type === 'ExecutionAborted' || type === 'ExecutionTimedOut' || type === 'ExecutionSucceeded') {
    return undefined; // the outcome, reported from DescribeExecution
  }
  const details = Object.entries(event).find(([key]) => key.endsWith('FailedEventDetails') || key.endsWith('TimedOutEventDetails'))?.[1] as
    | { error?: string; cause?: string }
    | undefined;
  if (details) {
    return {
      state: currentState ?? '(execution)',
      type: 'failed',
      at,
      ...(details.error !== undefined && { error: details.error }),
      ...(details.cause !== undefined && { cause: details.cause }),
    };
  }
  return undefined;
}

/** The log group and stream of the task a `TaskSubmitted` event started (the awslogs driver's names). */
export function taskStreamOf(event: HistoryEvent, plan: Plan): TaskStream | undefined {
  const details = event.taskSubmittedEventDetails;
  if (event.type !== 'TaskSubmitted' || details?.resourceType !== 'ecs') {
    return undefined;
  }
  const task = (parseJson(details.output) as { Tasks?: { TaskArn?: string; TaskDefinitionArn?: string }[] } | undefined)?.Tasks?.[0];
  const taskId = task?.TaskArn?.split('/').at(-1);
  const family = task?.TaskDefinitionArn?.split(':task-definition/')[1]?.split(':')[0];
  const database = Object.entries(plan.databases).find(([, db]) => db.taskFamily === family)?.[0];
  if (!taskId || !database) {
    return undefined;
  }
  return { group: taskLogGroupName(plan.app, database), stream: taskLogStreamName(database, taskId) };
}

/** The fallback when the CLI cannot read a task's stream itself: the `aws logs tail` command that does. */
export function tailCommandLine(where: TaskStream, region: string): string {
  return `progress and log lines: aws logs tail ${where.group} --log-stream-names ${where.stream} --follow --region ${region}`;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function openAwsRunner(common: CommonOptions, options: AwsOptions = {}): Promise<ExecutionRunner> {
  const vault = await openAwsVault(common, options);
  const config = vault.config;
  const clients = options.clients ?? defaultClients(config);
  const pollMs = options.pollMs ?? 2000;
  const machineArn = (kind: MachineKind) => {
    const name = `${config.app.name}-${kind}`;
    const arn = vault.machines.get(name);
    if (arn) {
      return arn;
    }
    if (common.account) {
      return `arn:aws:states:${config.vault.primaryRegion}:${common.account}:stateMachine:${name}`;
    }
    throw new VaultUnavailableError(`no state machine ${name} in ${config.vault.primaryRegion}: is it deployed?`);
  };
  return {
    vault,
    start: async (kind: MachineKind, input: unknown, observer: RunObserver) => {
      const stateMachineArn = machineArn(kind);
      const name = executionName();
      let started: { executionArn?: string; startDate?: Date };
      try {
        started = await clients.sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
      } catch (error) {
        throw unreachable(error, `start ${stateMachineArn}`);
      }
      const executionArn = started.executionArn!;
      const startedAt = started.startDate ? new Date(started.startDate) : new Date();
      const steps: Step[] = [];
      const seen = new Set<number>();
      let current: string | undefined;
      const region = config.vault.primaryRegion;
      const follower = clients.logs
        ? new TaskLogFollower(
            clients.logs,
            (line) => observer.taskLine(line),
            (where) => tailCommandLine(where, region),
          )
        : undefined;
      const readHistory = async () => {
        let nextToken: string | undefined;
        do {
          const page = await clients.sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, includeExecutionData: true }));
          for (const event of page.events ?? []) {
            if (event.id === undefined || seen.has(event.id)) {
              continue;
            }
            seen.add(event.id);
            const where = taskStreamOf(event, vault.plan);
            if (where && follower) {
              follower.add(where);
            } else if (where) {
              observer.taskLine(tailCommandLine(where, region));
            }
            const step = stepOf(event, current);
            if (step) {
              current = step.type === 'entered' ? step.state : current;
              steps.push(step);
              observer.step(step);
            }
          }
          nextToken = page.nextToken;
        } while (nextToken);
      };
      const done = (async (): Promise<ExecutionOutcome> => {
        for (;;) {
          await readHistory();
          await follower?.poll();
          const description = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
          const status = TERMINAL[description.status ?? ''];
          if (status) {
            // The task's last lines (the closing 100 % line) reached its stream before its state exited: they
            // print under the step, before the history's remaining transitions.
            await follower?.poll();
            await readHistory();
            return {
              executionArn,
              name,
              status,
              output: parseJson(description.output),
              ...(description.error !== undefined && { error: description.error }),
              ...(description.cause !== undefined && { cause: description.cause }),
              startedAt,
              stoppedAt: description.stopDate ? new Date(description.stopDate) : new Date(),
              steps,
            };
          }
          await new Promise((r) => setTimeout(r, pollMs));
        }
      })();
      return {
        executionArn,
        name,
        startedAt,
        canDetach: true,
        done,
        stop: async () => {
          await clients.sfn.send(
            new StopExecutionCommand({ executionArn, error: 'StoppedFromCli', cause: 'Stopped with Ctrl-C from the strongbox CLI' }),
          );
          await done.catch(() => undefined);
        },
      };
    },
    close: async () => undefined,
  };
}
