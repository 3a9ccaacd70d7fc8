import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { restorableRanges } from '../../contracts/logs';
import { mintSegmentId } from '../../contracts/vault';
import {
  BaseIdSchema,
  baseKeys,
  formatLsn,
  lsnOfCoordinates,
  mintBaseId,
  nextWalFile,
  parseLsn,
  walCoordinates,
  walFileName,
  walSlotName,
} from '../../contracts/wal';

describe('LSNs and WAL file names', () => {
  it('names the file PostgreSQL names for an LSN and splits the LSN into file and offset', () => {
    // Prepare
    const lsn = parseLsn('16/B374D848');

    // Act
    const coordinates = walCoordinates(1, lsn);

    // Assess: PostgreSQL's pg_walfile_name('16/B374D848') on timeline 1 with 16 MiB segments
    expect(coordinates).toEqual({ file: '0000000100000016000000B3', position: 0x74d848 });
    expect(formatLsn(lsn)).toBe('16/B374D848');
  });

  it('round-trips any LSN through coordinates, for any segment size PostgreSQL allows', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }),
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom(1, 16, 64, 1024).map((mb) => mb * 1024 * 1024),
        (lsn, timeline, segmentBytes) => {
          const back = lsnOfCoordinates(walCoordinates(timeline, lsn, segmentBytes), segmentBytes);
          expect(back).toEqual({ timeline, lsn });
          expect(parseLsn(formatLsn(lsn))).toBe(lsn);
        },
      ),
    );
  });

  it('steps to the next file across the 4 GiB boundary of the file name', () => {
    // Act
    const next = nextWalFile('0000000100000000000000FF');

    // Assess
    expect(next).toBe('000000010000000100000000');
    expect(walFileName(1, parseLsn('1/0'))).toBe(next);
  });

  it('refuses text that is not an LSN, naming the expected form', () => {
    expect(() => parseLsn('0-3000028')).toThrow(/expected PostgreSQL's "<hex>\/<hex>"/);
  });
});

describe('base backup ids, keys and the slot', () => {
  it('places a base in the date folder of its id, beside PostgreSQL manifest and its own', () => {
    // Prepare
    const baseId = mintBaseId('orders-eu', new Date(Date.UTC(2026, 10, 21, 3, 4, 5)));

    // Act
    const artifact = baseKeys.artifact(baseId);

    // Assess
    expect(baseId).toBe('orders-eu-20261121T030405Z-base');
    expect(BaseIdSchema.safeParse(baseId).success).toBe(true);
    expect(artifact).toBe('bases/orders-eu/2026/11/21/orders-eu-20261121T030405Z-base/base.tar.zst');
    expect(baseKeys.backupManifest(baseId)).toMatch(/\/backup_manifest$/);
    expect(baseKeys.manifest(baseId)).toMatch(/\/manifest\.json$/);
    expect(() => baseKeys.artifact('orders-eu-20261121T030405Z-full')).toThrow(/baseId/);
  });

  it('names the slot after the database in the characters slot names allow', () => {
    expect(walSlotName('orders-eu-2')).toBe('strongbox_orders_eu_2');
  });

  it('chains whole WAL files: a tail archived again further wins, and a base inside the run is restorable to its end', () => {
    // Prepare: run 1 closes file 3 and leaves file 4 at 0x100; run 2 archives file 4 again, further
    const t = Date.UTC(2026, 10, 21, 3, 0, 0);
    const seg = (file: string, next: { file: string; position: number }, covered: number) => ({
      segmentId: mintSegmentId('orders', 'wal', new Date(covered), file, 0),
      serverFile: file,
      startPosition: 0,
      next,
      coveredUntil: new Date(covered).toISOString(),
    });
    const f3 = '000000010000000000000003';
    const f4 = nextWalFile(f3);
    const segments = [
      seg(f3, { file: f4, position: 0 }, t + 60_000),
      seg(f4, { file: f4, position: 0x100 }, t + 60_000),
      seg(f4, { file: f4, position: 0x9000 }, t + 120_000),
    ];
    const base = {
      backupId: mintBaseId('orders', new Date(t)),
      at: new Date(t + 30_000),
      position: walCoordinates(1, parseLsn('0/3000028')),
    };

    // Act
    const ranges = restorableRanges({ fulls: [base], segments, windowStart: new Date(t - 86_400_000) });

    // Assess
    expect(ranges).toEqual([{ from: new Date(t + 30_000).toISOString(), to: new Date(t + 120_000).toISOString() }]);
  });
});
