import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { parseZstdSummary } from '../../../../tasks/src/stream/compress';
import { HashMeter, VerifyingHoldBack } from '../../../../tasks/src/stream/hash';

function sink(): { writable: Writable; bytes: () => number } {
  let bytes = 0;
  return {
    writable: new Writable({
      write(chunk: Buffer, _e, cb) {
        bytes += chunk.length;
        cb();
      },
    }),
    bytes: () => bytes,
  };
}

const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(256 * 1024, i));
const sha = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');

describe('stream hashing', () => {
  it('records when the first byte passed, in milliseconds since the process started', async () => {
    // Prepare
    const meter = new HashMeter();
    const before = performance.now();
    const out = sink();
    // Act
    await pipeline(Readable.from(chunks), meter, out.writable);
    // Assess
    expect(meter.firstByteMs).toBeGreaterThanOrEqual(Math.floor(before));
    expect(meter.firstByteMs).toBeLessThanOrEqual(Math.ceil(performance.now()));
    expect(out.bytes()).toBe(40 * 256 * 1024);
  });

  it('has no first byte time before any byte passed', () => {
    // Prepare, Act
    const meter = new HashMeter();
    // Assess
    expect(meter.firstByteMs).toBeUndefined();
  });

  it('fails the stream when the gate before its end rejects (a failed tool never completes an upload)', async () => {
    // Prepare
    const meter = new HashMeter(async () => {
      throw new Error('pg_dump was killed by SIGKILL');
    });
    // Act
    const run = pipeline(Readable.from(chunks), meter, sink().writable);
    // Assess
    await expect(run).rejects.toThrow('SIGKILL');
    expect(meter.bytes).toBe(10 * 1024 * 1024);
  });

  it('withholds the last bytes of a mismatching artifact and passes a matching one whole', async () => {
    // Prepare
    const bad = sink();
    const good = sink();
    // Act
    const mismatch = pipeline(Readable.from(chunks), new VerifyingHoldBack('0'.repeat(64), 4 * 1024 * 1024), bad.writable);
    await expect(mismatch).rejects.toThrow(`checksum mismatch: expected ${'0'.repeat(64)}, got ${sha}`);
    await pipeline(Readable.from(chunks), new VerifyingHoldBack(sha, 4 * 1024 * 1024), good.writable);
    // Assess
    expect(bad.bytes()).toBeLessThanOrEqual(6 * 1024 * 1024);
    expect(good.bytes()).toBe(10 * 1024 * 1024);
  });

  it("reads exact sizes from zstd's verbose summary", () => {
    // Prepare, Act, Assess
    expect(parseZstdSummary('/*stdin*\\            :  0.00%   (300000000 B =>   9420 B, /*stdout*\\) ')).toEqual({
      uncompressedBytes: 300000000,
      compressedBytes: 9420,
    });
  });
});
