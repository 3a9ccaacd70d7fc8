import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../../contracts/vault';
import { restoreJobs } from '../../../../tasks/src/commands/restore';

const withTables = (...counts: number[]) =>
  ({
    inventory: {
      exact: true,
      entries: [
        ...counts.map((count, i) => ({ name: `public.t${i}`, kind: 'table' as const, count })),
        { name: 'public.big_view', kind: 'view' as const, count: 10_000_000 },
      ],
    },
  }) as unknown as Manifest;

describe('restore jobs', () => {
  it('streams (1 job) when one table holds most of the rows, whatever was requested', () => {
    // Prepare
    const manifest = withTables(1_000_000, 2_000, 50);
    // Act
    const jobs = restoreJobs(manifest, 4, []);
    // Assess
    expect(jobs).toBe(1);
  });

  it('keeps the requested jobs when several tables can load at once; a selection runs one job (one transaction)', () => {
    // Prepare
    const balanced = withTables(600_000, 400_000, 300_000);
    const dominated = withTables(1_000_000, 10);
    // Act, Assess
    expect(restoreJobs(balanced, 4, [])).toBe(4);
    expect(restoreJobs(dominated, 2, ['public.t1'])).toBe(1);
    expect(restoreJobs(balanced, 4, ['public.t1'])).toBe(1);
    expect(restoreJobs(balanced, 1, [])).toBe(1);
    expect(restoreJobs(withTables(), 2, [])).toBe(1);
  });
});
