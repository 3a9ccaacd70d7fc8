import { logLine } from '../log';

/** What a run is measured against: the manifest's artifact, when the run reads one (restore, drill). */
export interface ProgressTotals {
  /** Stored (compressed) bytes of the artifact: what the download counts. */
  readonly bytes: number;
  readonly parts?: number;
  readonly partSizeBytes?: number;
}

export interface ProgressOptions {
  readonly intervalSeconds: number;
  readonly totals?: ProgressTotals;
  /** With totals, a line also each time this many percent passed since the last one. @default 10 */
  readonly everyPercent?: number;
  /** Epoch ms; tests pass a fake clock. @default Date.now */
  readonly now?: () => number;
}

/** The fields of one progress line; the totals' fields only when the run has totals. */
export interface ProgressFields {
  readonly bytes: number;
  readonly mbPerSecond: number;
  readonly averageMbPerSecond: number;
  readonly elapsedSeconds: number;
  readonly totalBytes?: number;
  readonly percent?: number;
  readonly parts?: number;
  readonly totalParts?: number;
  /** Seconds left at the average rate so far; absent while nothing has moved. */
  readonly etaSeconds?: number;
  /** The run's last line: everything was read. */
  readonly final?: true;
}

/**
 * The throttle and arithmetic behind progress lines, without a timer or a logger so that a fake clock can drive
 * it: `sample` answers the line due now (or nothing), `final` the closing line.
 */
export class ProgressMeter {
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly everyPercent: number;
  private readonly started: number;
  private lastAt: number;
  private lastBytes = 0;
  private lastPercent = 0;

  public constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? Date.now;
    this.intervalMs = options.intervalSeconds * 1000;
    this.everyPercent = options.everyPercent ?? 10;
    this.started = this.now();
    this.lastAt = this.started;
  }

  /** How often a timer should call `sample`: often enough to see a percent step, no more often than lines are due. */
  public get tickMs(): number {
    return this.options.totals ? Math.min(this.intervalMs, 1000) : this.intervalMs;
  }

  /**
   * The line for `bytes` done if one is due: the interval has passed since the last line (less half a tick, the
   * timer's own jitter, so that a tick equal to the interval is never skipped), or `everyPercent` more is done.
   */
  public sample(bytes: number): ProgressFields | undefined {
    const now = this.now();
    const percent = this.percentOf(bytes);
    const timeDue = now - this.lastAt >= this.intervalMs - this.tickMs / 2;
    const stepDue = percent !== undefined && percent - this.lastPercent >= this.everyPercent;
    return timeDue || stepDue ? this.line(bytes, now) : undefined;
  }

  /** The closing line, whatever the throttle says. */
  public final(bytes: number): ProgressFields {
    return { ...this.line(bytes, this.now()), ...(this.options.totals && { etaSeconds: 0 }), final: true };
  }

  private percentOf(bytes: number): number | undefined {
    const total = this.options.totals?.bytes;
    if (total === undefined) {
      return undefined;
    }
    return total === 0 ? 100 : Math.min(100, round((bytes / total) * 100, 1));
  }

  private line(bytes: number, now: number): ProgressFields {
    const elapsedMs = Math.max(now - this.started, 1);
    const sinceMs = Math.max(now - this.lastAt, 1);
    const averageBytesPerMs = bytes / elapsedMs;
    const fields: ProgressFields = {
      bytes,
      mbPerSecond: round(((bytes - this.lastBytes) / 1e6 / sinceMs) * 1000),
      averageMbPerSecond: round((averageBytesPerMs / 1e6) * 1000),
      elapsedSeconds: round((now - this.started) / 1000),
      ...this.totalsFields(bytes, averageBytesPerMs),
    };
    this.lastAt = now;
    this.lastBytes = bytes;
    this.lastPercent = fields.percent ?? 0;
    return fields;
  }

  private totalsFields(bytes: number, averageBytesPerMs: number): Partial<ProgressFields> {
    const totals = this.options.totals;
    if (!totals) {
      return {};
    }
    const remaining = Math.max(totals.bytes - bytes, 0);
    // Parts arrive in order in one GetObject stream, so the bytes say how many are complete.
    const parts =
      totals.parts !== undefined && totals.partSizeBytes !== undefined
        ? {
            parts: bytes >= totals.bytes ? totals.parts : Math.min(totals.parts, Math.floor(bytes / totals.partSizeBytes)),
            totalParts: totals.parts,
          }
        : {};
    return {
      totalBytes: totals.bytes,
      percent: this.percentOf(bytes),
      ...parts,
      ...(averageBytesPerMs > 0 && { etaSeconds: round(remaining / averageBytesPerMs / 1000, 1) }),
    };
  }
}

export interface Progress {
  /** Stops the lines (a failed run ends without a closing line). */
  stop(): void;
  /** Stops the lines and logs the closing one. */
  finish(): void;
}

/** Logs `<what> progress` lines (ProgressFields) on the task's log stream until stopped or finished. */
export function startProgress(what: string, options: ProgressOptions, bytes: () => number): Progress {
  const meter = new ProgressMeter(options);
  const timer = setInterval(() => {
    const fields = meter.sample(bytes());
    if (fields) {
      logLine('info', `${what} progress`, { ...fields });
    }
  }, meter.tickMs);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    finish: () => {
      clearInterval(timer);
      logLine('info', `${what} progress`, { ...meter.final(bytes()) });
    },
  };
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
