import { describe, expect, it } from 'vitest';
import type { BackupFacts } from '../../../cli/report/history';
import { monthWindow, rpoCompliance } from '../../../cli/report/month';
import { mintBackupId } from '../../../contracts/vault';

/** The recovery-point age sawtooth behind "within RPO", on hand-made histories whose answer is worked out below. */

const H = 3_600_000;
const start = Date.UTC(2026, 10, 1); // November 2026, 30 days
const window = monthWindow('2026-11', new Date(Date.UTC(2026, 11, 5)));

function backup(takenAtMs: number, verifiedAfterMs: number | undefined, verified = true): BackupFacts {
  const backupId = mintBackupId('orders', 'full', new Date(takenAtMs));
  return {
    backupId,
    database: 'orders',
    takenAt: new Date(takenAtMs),
    objects: new Map(),
    ...(verifiedAfterMs !== undefined && {
      verification: {
        schemaVersion: 1,
        backupId,
        verified,
        verifiedAt: new Date(takenAtMs + verifiedAfterMs).toISOString(),
        method: 'reread',
        bytes: 1,
        sha256: 'a'.repeat(64),
        problems: [],
      },
    }),
    status: verifiedAfterMs === undefined ? 'unverified' : verified ? 'verified' : 'failed',
    problems: [],
  } as BackupFacts;
}

describe('rpoCompliance', () => {
  it('counts nothing before the first verified backup and each point until its age passes the RPO', () => {
    // Prepare: backups at 10:00 on day 1 and 02:00 on day 2, each verified 30 min later; RPO 4 h.
    const history = [backup(start + 10 * H, 0.5 * H), backup(start + 26 * H, 0.5 * H)];

    // Act
    const result = rpoCompliance(history, 4 * 3600, window);

    // Assess: 10:30-14:00 and 02:30-06:00 are within; the rest of the 30 days is not.
    expect(result.withinSeconds).toBe(2 * 3.5 * 3600);
    expect(result.totalSeconds).toBe(30 * 24 * 3600);
    expect(result.share).toBeCloseTo(7 / (30 * 24), 6);
    expect(result.series[0]).toEqual({ at: start, ageSeconds: null });
    expect(result.worstAgeSeconds).toBeNull();
  });

  it('uses a point only from its verification on, and never goes back to an older one verified later', () => {
    // Prepare: a point from the last day of October; a backup at 01:00 verified at 05:00; an older one (00:30)
    // verified at 06:00, which must not replace the newer point. RPO 6 h.
    const history = [backup(start - 2 * H, 0.1 * H), backup(start + 1 * H, 4 * H), backup(start + 0.5 * H, 5.5 * H)];
    const oneDay = monthWindow('2026-11', new Date(start + 24 * H));

    // Act
    const result = rpoCompliance(history, 6 * 3600, oneDay);

    // Assess: 00:00-04:00 within (the October point is 2-6 h old), 04:00-05:00 outside, 05:00-07:00 within (the
    // 01:00 point is 4-6 h old), then outside for the rest of the day.
    expect(result.withinSeconds).toBe((4 + 2) * 3600);
    expect(result.totalSeconds).toBe(24 * 3600);
    expect(result.worstAgeSeconds).toBe(23 * 3600);
  });

  it('ignores backups whose verification failed or has not run', () => {
    // Prepare
    const history = [backup(start - 1 * H, 0), backup(start + 2 * H, 0.1 * H, false), backup(start + 3 * H, undefined)];
    const oneDay = monthWindow('2026-11', new Date(start + 24 * H));

    // Act
    const result = rpoCompliance(history, 2 * 3600, oneDay);

    // Assess: only the point from 23:00 the day before counts, for its first hour of the day.
    expect(result.withinSeconds).toBe(3600);
  });
});
