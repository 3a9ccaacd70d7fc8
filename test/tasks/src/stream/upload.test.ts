import { describe, expect, it } from 'vitest';
import { MAX_PARTS, MIB, MIN_PART_SIZE, PART_MEMORY_BUDGET, partSizeFor, queueSizeFor } from '../../../../tasks/src/stream/parts';

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

  it('keeps the parts in flight within the memory budget while parts fit it, and one part beyond', () => {
    // Prepare
    const sizes = [8, 9, 11, 16, 17, 32, 64, 800].map((mib) => mib * MIB);
    // Act
    const inFlight = sizes.map((size) => queueSizeFor(size) * size);
    // Assess
    expect(inFlight.slice(0, 6).every((bytes) => bytes <= PART_MEMORY_BUDGET)).toBe(true);
    expect(sizes.slice(6).map(queueSizeFor)).toEqual([1, 1]);
    expect(queueSizeFor(16 * MIB)).toBe(2);
  });
});
