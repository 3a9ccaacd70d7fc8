import { describe, expect, it } from 'vitest';
import { STREAM_COLLECT_BYTES, StreamCollector } from '../../../../tasks/src/stream/collect';

/** A stand-in for V8's exposed `gc`: records each call's options. */
function recorder(): { calls: unknown[]; gc: (options: { type: 'minor' | 'major' }) => void } {
  const calls: unknown[] = [];
  return { calls, gc: (options) => calls.push(options) };
}

describe('StreamCollector', () => {
  it('scavenges once every STREAM_COLLECT_BYTES, whatever the chunk boundaries', () => {
    // Prepare
    const { calls, gc } = recorder();
    const collector = new StreamCollector(gc);
    const chunk = 65_536;
    // Act: 2.5 cadences in 64 KiB chunks
    for (let passed = 0; passed < STREAM_COLLECT_BYTES * 2.5; passed += chunk) {
      collector.passed(chunk);
    }
    // Assess
    expect(calls).toEqual([{ type: 'minor' }, { type: 'minor' }]);
    expect(collector.collections).toBe(2);
  });

  it('counts a chunk larger than the cadence as one collection, then starts counting again', () => {
    // Prepare
    const { calls, gc } = recorder();
    const collector = new StreamCollector(gc, 1000);
    // Act
    collector.passed(5000);
    collector.passed(999);
    // Assess
    expect(calls).toHaveLength(1);
    collector.passed(1);
    expect(calls).toHaveLength(2);
  });

  it('does nothing where node does not expose gc (tsx, the tests)', () => {
    // Prepare
    const collector = new StreamCollector(undefined, 10);
    // Act
    collector.passed(1_000_000);
    // Assess
    expect(collector.collections).toBe(0);
  });

  it('uses the gc that node exposes by default', () => {
    // Prepare: vitest's node runs without --expose-gc, so the process-wide collector must not collect.
    const exposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
    const collector = new StreamCollector();
    // Act
    collector.passed(STREAM_COLLECT_BYTES);
    // Assess
    expect(collector.collections).toBe(exposed ? 1 : 0);
  });
});
