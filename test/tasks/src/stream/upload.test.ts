import { describe, expect, it } from 'vitest';
import { MAX_PARTS, MIB, MIN_PART_SIZE, partSizeFor, queueSizeFor } from '../../../../tasks/src/stream/parts';

describe('multipart sizing', () => {
  it('keeps 8 MiB parts for small databases', () => {
    // Prepare, Act
    const size = partSizeFor(10 * 1024 * MIB);
    // Assess
    expect(size).toBe(MIN_PART_SIZE);
    expect(queueSizeFor(size)).toBe(4);
  });

  it('fits a 5 TB dump into 10,000 parts with bounded memory in flight', () => {
    // Prepare
    const fiveTb = 5 * 1024 ** 4;
    // Act
    const size = partSizeFor(fiveTb);
    // Assess
    expect(Math.ceil(fiveTb / size)).toBeLessThanOrEqual(MAX_PARTS);
    expect(size % MIB).toBe(0);
    expect(queueSizeFor(size) * size).toBeLessThanOrEqual(Math.max(size, 64 * MIB));
  });
});
