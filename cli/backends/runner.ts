import { randomBytes } from 'node:crypto';
import { compactTimestamp } from '../../contracts/vault';
import { formatBytes, formatSeconds } from '../format';
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
    return progressText(json.message.replace(/ progress$/, ''), json as Record<string, unknown> & { bytes: number });
  }
  const detail =
    json.level === 'info'
      ? ''
      : `${json.error ? ` (${String(json.error)})` : ''}${json.message && json.detail ? `: ${String(json.detail)}` : ''}`;
  return `${json.level === 'info' ? '' : `${json.level}: `}${json.message}${detail}`;
}

/**
 * A task's progress line (tasks/src/stream/progress.ts). A backup knows no total; a restore's and a drill's
 * count against the manifest's artifact, and their closing line gives the exact byte count, which `show` prints too.
 */
export function progressText(what: string, json: Record<string, unknown> & { bytes: number }): string {
  const rate = `${Number(json.mbPerSecond ?? 0).toFixed(1)} MB/s`;
  const elapsed = formatSeconds(Number(json.elapsedSeconds ?? 0));
  if (typeof json.totalBytes !== 'number') {
    return `${what}: ${(json.bytes / 1e6).toFixed(1)} MB at ${rate} (${Number(json.elapsedSeconds ?? 0).toFixed(0)} s)`;
  }
  const percent = `${Number(json.percent ?? 0).toFixed(Number(json.percent) === 100 ? 0 : 1)}%`;
  const parts = typeof json.totalParts === 'number' ? json.totalParts : undefined;
  if (json.final === true) {
    const exact = `${json.bytes.toLocaleString('en-US')} bytes${parts !== undefined ? ` in ${parts} part${parts === 1 ? '' : 's'}` : ''}`;
    return `${what}: ${percent} of ${formatBytes(json.totalBytes)} (${exact}), ${Number(json.averageMbPerSecond ?? 0).toFixed(1)} MB/s on average over ${elapsed}`;
  }
  const part = parts !== undefined ? `, ${Number(json.parts ?? 0)} of ${parts} part${parts === 1 ? '' : 's'}` : '';
  const eta = typeof json.etaSeconds === 'number' ? `, ETA ${formatSeconds(json.etaSeconds)}` : '';
  return `${what}: ${percent} of ${formatBytes(json.totalBytes)} (${formatBytes(json.bytes)}${part}), ${rate}${eta}, ${elapsed}`;
}
