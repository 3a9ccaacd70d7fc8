import { describe, expect, it } from 'vitest';
import { taskLineText } from '../../../cli/backends/runner';

/** The task's JSON lines as the CLI shows them while it follows a run. */

const line = (fields: Record<string, unknown>) =>
  taskLineText({ level: 'info', time: '2026-12-01T00:00:00.000Z', ...fields }, '', 'stdout');

describe('taskLineText for progress lines', () => {
  it('shows a restore line as percent of the manifest, bytes, parts, rate and ETA', () => {
    // Act
    const text = line({
      message: 'restore progress',
      bytes: 30_000_000,
      mbPerSecond: 6,
      averageMbPerSecond: 6,
      elapsedSeconds: 5,
      totalBytes: 100_000_000,
      percent: 30,
      parts: 1,
      totalParts: 4,
      etaSeconds: 11.7,
    });

    // Assess
    expect(text).toBe('restore: 30.0% of 100 MB (30.0 MB, 1 of 4 parts), 6.0 MB/s, ETA 11.7 s, 5 s');
  });

  it('closes a drill with 100 %, the exact bytes and parts, and the average rate', () => {
    // Act
    const text = line({
      message: 'drill progress',
      bytes: 12_345_678,
      mbPerSecond: 2,
      averageMbPerSecond: 4.94,
      elapsedSeconds: 2.5,
      totalBytes: 12_345_678,
      percent: 100,
      parts: 1,
      totalParts: 1,
      etaSeconds: 0,
      final: true,
    });

    // Assess
    expect(text).toBe('drill: 100% of 12.3 MB (12,345,678 bytes in 1 part), 4.9 MB/s on average over 2.5 s');
  });

  it('leaves out the ETA while nothing has moved, and keeps the backup line (no totals) as it was', () => {
    // Act
    const stalled = line({ message: 'restore progress', bytes: 0, mbPerSecond: 0, elapsedSeconds: 1, totalBytes: 5_000_000, percent: 0 });
    const backup = line({ message: 'backup progress', bytes: 52_400_000, mbPerSecond: 10.5, averageMbPerSecond: 9, elapsedSeconds: 5 });

    // Assess
    expect(stalled).toBe('restore: 0.0% of 5.0 MB (0 B), 0.0 MB/s, 1 s');
    expect(backup).toBe('backup: 52.4 MB at 10.5 MB/s (5 s)');
  });
});
