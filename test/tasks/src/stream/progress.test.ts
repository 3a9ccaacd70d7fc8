import { describe, expect, it } from 'vitest';
import { ProgressMeter } from '../../../../tasks/src/stream/progress';

/** A clock the test moves by hand, so that rates, ETAs and the throttle have exact answers. */
function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const MB = 1e6;

describe('ProgressMeter with totals (restore, drill)', () => {
  it('reports bytes, percent, parts, the rate since the last line, the average and the ETA at that average', () => {
    // Prepare: 100 MB in 4 parts of 25 MB, lines every 5 s.
    const clock = fakeClock();
    const meter = new ProgressMeter({ intervalSeconds: 5, totals: { bytes: 100 * MB, parts: 4, partSizeBytes: 25 * MB }, now: clock.now });

    // Act: 8 MB after 2 s (only 8 %: not due), 30 MB at 5 s, 60 MB at 8 s (a 30-point step: due before the interval).
    clock.advance(2000);
    const early = meter.sample(8 * MB);
    clock.advance(3000);
    const first = meter.sample(30 * MB);
    clock.advance(3000);
    const second = meter.sample(60 * MB);

    // Assess
    expect(early).toBeUndefined();
    expect(first).toEqual({
      bytes: 30 * MB,
      mbPerSecond: 6,
      averageMbPerSecond: 6,
      elapsedSeconds: 5,
      totalBytes: 100 * MB,
      percent: 30,
      parts: 1,
      totalParts: 4,
      etaSeconds: 11.7,
    });
    expect(second).toEqual({
      bytes: 60 * MB,
      mbPerSecond: 10,
      averageMbPerSecond: 7.5,
      elapsedSeconds: 8,
      totalBytes: 100 * MB,
      percent: 60,
      parts: 2,
      totalParts: 4,
      etaSeconds: 5.3,
    });
  });

  it('stays silent between lines unless the interval passed or another step of percent was done', () => {
    // Prepare: 1,000 MB, lines every 10 s or every 25 %.
    const clock = fakeClock();
    const meter = new ProgressMeter({ intervalSeconds: 10, everyPercent: 25, totals: { bytes: 1000 * MB }, now: clock.now });
    const percents: (number | undefined)[] = [];

    // Act: one sample a second, 20 MB a second for 30 s, then 300 MB in the next second.
    for (let second = 1; second <= 30; second++) {
      clock.advance(1000);
      percents.push(meter.sample(second * 20 * MB)?.percent);
    }
    clock.advance(1000);
    const jump = meter.sample(900 * MB);

    // Assess: 2 % a second never makes a 25-point step within 10 s, so the interval alone paces the lines; the
    // 30-point jump is a line one second after the last, its ETA at the average (900 MB in 31 s) and not at the burst.
    expect(percents.map((p, i) => (p === undefined ? undefined : `${i + 1}s:${p}%`)).filter(Boolean)).toEqual([
      '10s:20%',
      '20s:40%',
      '30s:60%',
    ]);
    expect(jump).toMatchObject({ percent: 90, bytes: 900 * MB, mbPerSecond: 300, etaSeconds: 3.4 });
  });

  it('closes with 100 %, every part, no time left, whatever the throttle says', () => {
    // Prepare
    const clock = fakeClock();
    const meter = new ProgressMeter({ intervalSeconds: 60, totals: { bytes: 50 * MB, parts: 2, partSizeBytes: 32 * MB }, now: clock.now });
    clock.advance(1000);
    expect(meter.sample(40 * MB)).toMatchObject({ percent: 80, parts: 1 });

    // Act
    clock.advance(1000);
    const last = meter.final(50 * MB);

    // Assess
    expect(last).toEqual({
      bytes: 50 * MB,
      mbPerSecond: 10,
      averageMbPerSecond: 25,
      elapsedSeconds: 2,
      totalBytes: 50 * MB,
      percent: 100,
      parts: 2,
      totalParts: 2,
      etaSeconds: 0,
      final: true,
    });
  });

  it('has no ETA while nothing has moved, and an empty artifact is done from the start', () => {
    // Prepare
    const clock = fakeClock();
    const stalled = new ProgressMeter({ intervalSeconds: 1, totals: { bytes: 10 * MB }, now: clock.now });
    const empty = new ProgressMeter({ intervalSeconds: 1, totals: { bytes: 0 }, now: clock.now });

    // Act
    clock.advance(1000);
    const none = stalled.sample(0);
    const zero = empty.sample(0);

    // Assess
    expect(none).toEqual({ bytes: 0, mbPerSecond: 0, averageMbPerSecond: 0, elapsedSeconds: 1, totalBytes: 10 * MB, percent: 0 });
    expect(zero).toMatchObject({ percent: 100, bytes: 0 });
  });

  it('samples at most once a second with totals, so a percent step shows between long intervals', () => {
    // Act
    const long = new ProgressMeter({ intervalSeconds: 30, totals: { bytes: 1 } });
    const short = new ProgressMeter({ intervalSeconds: 0.2, totals: { bytes: 1 } });

    // Assess
    expect(long.tickMs).toBe(1000);
    expect(short.tickMs).toBe(200);
  });
});

describe('ProgressMeter without totals (backup)', () => {
  it('logs every interval with bytes and rates only, as the backup always did', () => {
    // Prepare
    const clock = fakeClock();
    const meter = new ProgressMeter({ intervalSeconds: 5, now: clock.now });

    // Act: the timer ticks at the interval; one tick comes a little early.
    clock.advance(4990);
    const first = meter.sample(20 * MB);
    clock.advance(5000);
    const second = meter.sample(70 * MB);

    // Assess
    expect(meter.tickMs).toBe(5000);
    expect(first).toEqual({ bytes: 20 * MB, mbPerSecond: 4.01, averageMbPerSecond: 4.01, elapsedSeconds: 4.99 });
    expect(second).toEqual({ bytes: 70 * MB, mbPerSecond: 10, averageMbPerSecond: 7.01, elapsedSeconds: 9.99 });
  });
});
