import type { ExecutionOutcome, RunObserver, StartedExecution, Step } from '../backends/runner';
import type { CommandContext } from '../context';
import { formatSeconds } from '../format';

/**
 * Following one execution to its end: every step as it happens, the task's lines where the runner sees them,
 * and Ctrl-C asking whether to stop the execution (StopExecution), leave it running (AWS only), or go on.
 */

export interface FollowResult {
  readonly outcome?: ExecutionOutcome;
  /** The operator chose to stop it with Ctrl-C. */
  readonly stoppedByUser: boolean;
  /** The operator left it running (AWS only). */
  readonly detached: boolean;
}

/** Lines held back while the Ctrl-C question waits for its answer, so they do not run into it. */
const held: { lines?: string[] } = {};

/** Progress goes to stdout for people, to stderr with --json, so stdout holds only the JSON document. */
export function progressWriter(ctx: CommandContext): (line: string) => void {
  const write = ctx.common.json ? ctx.io.err : ctx.io.out;
  return (line) => (held.lines ? held.lines.push(line) : write(line));
}

function releaseHeld(ctx: CommandContext): void {
  const lines = held.lines ?? [];
  held.lines = undefined;
  const write = progressWriter(ctx);
  for (const line of lines) {
    write(line);
  }
}

export function stepObserver(ctx: CommandContext): RunObserver {
  const say = progressWriter(ctx);
  const enteredAt = new Map<string, number>();
  return {
    step: (step: Step) => {
      const indent = step.nested ? '      ' : '  ';
      if (step.type === 'entered') {
        enteredAt.set(step.state, step.at);
        say(`${indent}→ ${step.state}`);
      } else if (step.type === 'exited') {
        say(`${indent}✓ ${step.state} (${formatSeconds((step.at - (enteredAt.get(step.state) ?? step.at)) / 1000)})`);
      } else if (step.type === 'failed') {
        say(`${indent}✗ ${step.state}: ${step.error ?? 'failed'}${step.cause ? ` ${readableCause(step.cause).slice(0, 400)}` : ''}`);
      } else if (step.type === 'retried') {
        say(`${indent}↻ ${step.state} retried`);
      }
    },
    taskLine: (line) => say(`      task: ${line}`),
  };
}

/** A Lambda failure's Cause is its error object as JSON; an ECS one is the task description. */
export function readableCause(cause: string | undefined): string {
  if (!cause) {
    return '';
  }
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown; StoppedReason?: unknown; Containers?: { ExitCode?: number }[] };
    if (typeof parsed.errorMessage === 'string') {
      return parsed.errorMessage;
    }
    if (typeof parsed.StoppedReason === 'string') {
      return `${parsed.StoppedReason}${parsed.Containers?.[0]?.ExitCode !== undefined ? ` (exit code ${parsed.Containers[0].ExitCode})` : ''}`;
    }
  } catch {
    // not JSON: the cause is already text
  }
  return cause;
}

/**
 * Follows the execution `starting` resolves to. The Ctrl-C handler is in place before the execution starts, so
 * an interrupt during StartExecution or the first steps is asked about too, instead of killing the CLI.
 */
export async function follow(
  ctx: CommandContext,
  starting: Promise<StartedExecution>,
  onStarted: (started: StartedExecution) => void,
): Promise<FollowResult & { readonly started: StartedExecution }> {
  const say = progressWriter(ctx);
  let started: StartedExecution | undefined;
  let prompting = false;
  let stoppedByUser = false;
  let detach: (() => void) | undefined;
  const detached = new Promise<'detached'>((resolve) => {
    detach = () => resolve('detached');
  });
  const stop = async () => {
    if (stoppedByUser || !started) {
      return;
    }
    stoppedByUser = true;
    say(`  stopping execution ${started.name} (StopExecution)...`);
    await started.stop();
  };
  const onInterrupt = () => {
    if (!started) {
      void starting.then(onInterrupt, () => undefined);
      return;
    }
    if (prompting || stoppedByUser) {
      // A second Ctrl-C while asked is the answer "stop".
      void stop();
      return;
    }
    prompting = true;
    held.lines = [];
    const choices = started.canDetach
      ? '[s]top it, [d]etach and leave it running, [c]ontinue following'
      : '[s]top it, [c]ontinue following';
    const question = `\nStop execution ${started.name}? ${choices} (default c): `;
    const answer = ctx.io.ask ? ctx.io.ask(question) : Promise.resolve('s');
    void answer.then(async (text) => {
      prompting = false;
      releaseHeld(ctx);
      const choice = (text ?? '').trim().toLowerCase();
      if (['s', 'stop', 'y', 'yes'].includes(choice)) {
        await stop();
      } else if (started?.canDetach && ['d', 'detach'].includes(choice)) {
        detach?.();
      } else if (!stoppedByUser) {
        say('  following again (Ctrl-C asks again)');
      }
    });
  };
  const unregister = ctx.io.onInterrupt?.(onInterrupt);
  try {
    started = await starting;
    onStarted(started);
    const first = await Promise.race([started.done, detached]);
    if (first === 'detached') {
      return { started, stoppedByUser: false, detached: true };
    }
    return { started, outcome: first, stoppedByUser, detached: false };
  } finally {
    unregister?.();
    releaseHeld(ctx);
  }
}
