import { randomBytes } from 'node:crypto';
import { compactTimestamp } from '../../contracts/vault';
import type { VaultAccess } from './vault';

/** The three state machines an operator starts from the CLI; `<app>-<kind>` is each one's name. */
export type MachineKind = 'restore' | 'drill' | 'dr-plan';

export interface Step {
  readonly state: string;
  readonly type: 'entered' | 'exited' | 'failed' | 'retried' | 'caught';
  /** Epoch ms. */
  readonly at: number;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  /** A step of a nested execution (the restores a DR plan starts). */
  readonly nested?: boolean;
}

export interface RunObserver {
  step(step: Step): void;
  /** One readable line of the running task (progress, warnings); only where the runner can see the task. */
  taskLine(line: string): void;
}

export type ExecutionStatus = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionOutcome {
  readonly executionArn: string;
  readonly name: string;
  readonly status: ExecutionStatus;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly startedAt: Date;
  readonly stoppedAt: Date;
  readonly steps: readonly Step[];
}

export interface StartedExecution {
  readonly executionArn: string;
  readonly name: string;
  readonly startedAt: Date;
  /** Whether the CLI may leave and the execution go on without it (AWS: yes; locally it runs in this process). */
  readonly canDetach: boolean;
  readonly done: Promise<ExecutionOutcome>;
  /** StopExecution; `done` then settles with ABORTED. */
  stop(): Promise<void>;
}

export interface ExecutionRunner {
  readonly vault: VaultAccess;
  start(kind: MachineKind, input: unknown, observer: RunObserver): Promise<StartedExecution>;
  close(): Promise<void>;
}

/** `strongbox-cli-20261121T030405Z-1a2b`: sorts by time in the console and says who started it. */
export function executionName(at = new Date()): string {
  return `strongbox-cli-${compactTimestamp(at)}-${randomBytes(2).toString('hex')}`;
}

/** A task's JSON log line as one readable line, or undefined for lines not worth showing (its result line). */
export function taskLineText(json: Record<string, unknown> | undefined, raw: string, stream: 'stdout' | 'stderr'): string | undefined {
  if (!json) {
    return stream === 'stderr' && raw.trim() !== '' ? raw : undefined;
  }
  if (typeof json.message !== 'string' || typeof json.level !== 'string') {
    return undefined;
  }
  if (json.message.endsWith(' progress') && typeof json.bytes === 'number') {
    const mb = (json.bytes / 1e6).toFixed(1);
    return `${json.message.replace(/ progress$/, '')}: ${mb} MB at ${Number(json.mbPerSecond ?? 0).toFixed(1)} MB/s (${Number(json.elapsedSeconds ?? 0).toFixed(0)} s)`;
  }
  const detail =
    json.level === 'info'
      ? ''
      : `${json.error ? ` (${String(json.error)})` : ''}${json.message && json.detail ? `: ${String(json.detail)}` : ''}`;
  return `${json.level === 'info' ? '' : `${json.level}: `}${json.message}${detail}`;
}
