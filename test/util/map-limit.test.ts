import { describe, expect, it } from 'vitest';
import { mapLimit } from '../../util/map-limit';

describe('mapLimit', () => {
  it('keeps the input order and never has more than the limit in flight', async () => {
    // Prepare
    let inFlight = 0;
    let most = 0;
    const items = [30, 5, 20, 1, 10, 15];

    // Act
    const results = await mapLimit(items, 2, async (ms, index) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, ms));
      inFlight--;
      return `${index}:${ms}`;
    });

    // Assess
    expect(results).toEqual(['0:30', '1:5', '2:20', '3:1', '4:10', '5:15']);
    expect(most).toBe(2);
  });

  it('returns an empty list for no items without calling the function', async () => {
    // Prepare
    let calls = 0;

    // Act
    const results = await mapLimit([], 4, async () => calls++);

    // Assess
    expect(results).toEqual([]);
    expect(calls).toBe(0);
  });
});
