import { describe, expect, it } from 'vitest';
import { drPlanRequestedBy } from '../../../contracts/payloads/dr-plan';

describe('DR plan requestedBy', () => {
  it('keeps the requestedBy of a nested restore within 200 characters', () => {
    // Act
    const requestedBy = drPlanRequestedBy('region-loss', 'a'.repeat(80), 'r'.repeat(200));

    // Assess
    expect(requestedBy).toHaveLength(200);
    expect(requestedBy.startsWith(`DR plan region-loss (${'a'.repeat(80)}): r`)).toBe(true);
  });
});
