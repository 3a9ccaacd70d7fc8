import { logLine } from '../log';

/** Logs bytes, MB/s and elapsed seconds every `intervalSeconds` until stopped. */
export function startProgress(what: string, intervalSeconds: number, bytes: () => number): () => void {
  const started = Date.now();
  let lastBytes = 0;
  let lastAt = started;
  const timer = setInterval(() => {
    const now = Date.now();
    const total = bytes();
    logLine('info', `${what} progress`, {
      bytes: total,
      mbPerSecond: round(((total - lastBytes) / 1e6 / (now - lastAt)) * 1000),
      averageMbPerSecond: round((total / 1e6 / (now - started)) * 1000),
      elapsedSeconds: round((now - started) / 1000),
    });
    lastBytes = total;
    lastAt = now;
  }, intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
