import fc from 'fast-check';
import type { ChainSegment, FullPoint, LogCoordinates } from '../../contracts/logs';
import { mintSegmentId } from '../../contracts/vault';

/** The generated logs the chain property tests share (contracts/logs.ts, and base retention over the same chains). */

export const T0 = Date.UTC(2026, 10, 21, 3, 0, 0);
export const iso = (ms: number) => new Date(ms).toISOString();
export const at = (file: string, position: number): LogCoordinates => ({ file, position });

export function segment(file: string, start: number, next: LogCoordinates, lastEventMs: number, coveredMs: number): ChainSegment {
  return {
    segmentId: mintSegmentId('orders', 'binlog', new Date(coveredMs), file, start),
    serverFile: file,
    startPosition: start,
    next,
    lastEventAt: iso(lastEventMs),
    coveredUntil: iso(coveredMs),
  };
}

/**
 * A generated log: segments one after another in time and position, some files closed (the next starts in the
 * following file), some links broken (a purged file: the next segment starts two files on), plus stale shorter
 * copies of some segments (killed runs). Fulls sit inside segments at a time inside the segment's span.
 */
export const scenario = fc
  .record({
    steps: fc.array(
      fc.record({
        bytes: fc.integer({ min: 1, max: 5000 }),
        seconds: fc.integer({ min: 1, max: 600 }),
        closed: fc.boolean(),
        brokenBefore: fc.boolean(),
        staleCopy: fc.boolean(),
        quietEvents: fc.boolean(),
      }),
      { minLength: 1, maxLength: 12 },
    ),
    fulls: fc.array(fc.record({ step: fc.nat(), fraction: fc.double({ min: 0, max: 0.999, noNaN: true }), logged: fc.boolean() }), {
      maxLength: 4,
    }),
    windowOffset: fc.integer({ min: -600, max: 7200 }),
    probes: fc.array(fc.integer({ min: -120, max: 8000 }), { minLength: 1, maxLength: 30 }),
  })
  .map(({ steps, fulls, windowOffset, probes }) => {
    let file = 1;
    let position = 4;
    let time = T0;
    let run = 0;
    const name = (n: number) => `binlog.${String(n).padStart(6, '0')}`;
    const built: { seg: ChainSegment; run: number; from: number; covered: number; start: LogCoordinates; bytes: number }[] = [];
    const segments: ChainSegment[] = [];
    steps.forEach((step, i) => {
      if (i > 0 && step.brokenBefore) {
        file += 2;
        position = 4;
        run += 1;
      }
      const start = at(name(file), position);
      const end = position + step.bytes;
      const closed = step.closed;
      const next = closed ? at(name(file + 1), 4) : at(name(file), end);
      const covered = time + step.seconds * 1000;
      const lastEvent = step.quietEvents ? time : covered - 1000;
      const seg = segment(start.file, start.position, next, lastEvent, covered);
      built.push({ seg, run, from: time, covered, start, bytes: step.bytes });
      segments.push(seg);
      if (step.staleCopy) {
        segments.push({ ...seg, segmentId: `${seg.segmentId}9`, next: at(start.file, start.position + 1), coveredUntil: iso(time) });
      }
      file = next.file === start.file ? file : file + 1;
      position = next.position;
      time = covered;
    });
    const points: FullPoint[] = fulls.map((f, i) => {
      const b = built[f.step % built.length];
      const offset = Math.floor(f.fraction * b.bytes);
      const when = Math.floor((b.from + f.fraction * (b.covered - b.from)) / 1000) * 1000;
      return {
        backupId: `orders-${i}-full`,
        at: new Date(when),
        ...(f.logged && { position: at(b.start.file, b.start.position + offset) }),
      };
    });
    const stepOf = (full: FullPoint) =>
      built.findIndex(
        (b) =>
          b.start.file === full.position?.file &&
          b.start.position <= (full.position?.position ?? -1) &&
          (full.position?.position ?? 0) < b.start.position + b.bytes,
      );
    return { built, raw: segments, points, stepOf, windowStart: new Date(T0 + windowOffset * 1000), probes };
  });

/** Reference: an instant is reachable from a dump's own second, or by replay within the window to the end of the dump's run. */
export function reachable(
  t: number,
  s: { built: { run: number; covered: number }[]; points: FullPoint[]; stepOf: (f: FullPoint) => number; windowStart: Date },
): boolean {
  return s.points.some((full) => {
    const a = Math.floor(full.at.getTime() / 1000) * 1000;
    if (a === t) return true;
    if (a > t || !full.position || t < Math.ceil(s.windowStart.getTime() / 1000) * 1000) return false;
    const i = s.stepOf(full);
    const run = s.built[i].run;
    const runEnd = Math.max(...s.built.filter((b) => b.run === run).map((b) => b.covered));
    return t <= runEnd;
  });
}
