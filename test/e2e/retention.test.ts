import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyKey, keys, mintBackupId, type Verification } from '../../contracts/vault';
import { putJson } from '../../contracts/vault-io';
import { type EngineServer, startPostgres } from '../../dev/servers/engines';
import { mapLimit } from '../../util/map-limit';
import { type E2e, listKeys, startE2e } from './harness';

const DAY_MS = 86_400_000;
let pg: EngineServer;
let e2e: E2e;

beforeAll(async () => {
  pg = await startPostgres();
  const admin = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'postgres' });
  await admin.connect();
  await admin.query('CREATE DATABASE ledger');
  await admin.end();
  const db = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'ledger' });
  await db.connect();
  await db.query(
    'CREATE TABLE entries (id int PRIMARY KEY, amount numeric); INSERT INTO entries SELECT i, i * 1.5 FROM generate_series(1, 100) i',
  );
  await db.end();
  e2e = await startE2e([{ name: 'ledger', server: pg, database: 'ledger', retention: '{ daily: 7, weekly: 4, monthly: 12, yearly: 2 }' }]);
});

afterAll(async () => {
  await e2e?.stop();
  await pg?.stop();
});

const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** ISO week key (Monday start) of a UTC day, computed independently of the planner under test. */
function isoWeek(ms: number): string {
  const date = new Date(ms);
  const weekday = (date.getUTCDay() + 6) % 7;
  const monday = ms - weekday * DAY_MS;
  return utcDay(monday);
}

/** The newest backup of each of the `count` most recent periods (every day here has a backup). */
function newestPerPeriod(takenAt: readonly number[], period: (ms: number) => string, count: number): number[] {
  const chosen = new Map<string, number>();
  for (const at of [...takenAt].sort((a, b) => b - a)) {
    const key = period(at);
    if (!chosen.has(key) && chosen.size < count) {
      chosen.set(key, at);
    }
  }
  return [...chosen.values()];
}

describe('retention over a planted history, end to end', () => {
  it('keeps exactly the GFS set (7 daily, 4 weekly, 12 monthly, 2 yearly) of 400 days of daily backups', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
    const planted = Array.from({ length: 400 }, (_, i) => today - (i + 1) * DAY_MS + 3 * 3600_000);
    await mapLimit(planted, 16, async (at) => {
      const backupId = mintBackupId('ledger', 'full', new Date(at));
      const verification: Verification = {
        schemaVersion: 1,
        backupId,
        verified: true,
        verifiedAt: new Date(at + 60_000).toISOString(),
        method: 'reread',
        bytes: 1024,
        sha256: 'a'.repeat(64),
        problems: [],
      };
      await putJson(s3, bucket, keys.manifest(backupId), { planted: true, backupId });
      await putJson(s3, bucket, keys.verification(backupId), verification);
    });

    // Act
    const execution = await e2e.strongbox.backup({ database: 'ledger', kind: 'full' });

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    const newest = (execution.output as { prepare: { backupId: string } }).prepare.backupId;
    const all = [...planted, Date.parse(`${utcDay(Date.now())}T00:00:00Z`) + 1];
    const expectedTimes = new Set([
      ...newestPerPeriod(all, utcDay, 7),
      ...newestPerPeriod(all, isoWeek, 4),
      ...newestPerPeriod(all, (ms) => utcDay(ms).slice(0, 7), 12),
      ...newestPerPeriod(all, (ms) => utcDay(ms).slice(0, 4), 2),
    ]);
    // The run of today stands for "today" in the periods above; the rest are planted 03:00 backups.
    const expected = [...expectedTimes].map((at) => (planted.includes(at) ? mintBackupId('ledger', 'full', new Date(at)) : newest)).sort();
    const remaining = [...new Set((await listKeys(s3, bucket, 'backups/ledger/')).map((key) => classifyKey(key)?.backupId))].sort();
    expect(remaining).toEqual(expected);
    expect(remaining.length).toBeGreaterThanOrEqual(18);
    expect(remaining).toContain(newest);
  });
});
