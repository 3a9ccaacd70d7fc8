import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ChainSegment,
  compareLogCoordinates,
  describeRanges,
  describeStop,
  type FullPoint,
  type LogCoordinates,
  LogCursorSchema,
  newestChainPair,
  newestRecoverablePoint,
  parseGtid,
  planReplay,
  planReplayTo,
  type ReplayStop,
  ReplayStopSchema,
  rdsBinlogRetentionCall,
  restorableRanges,
  SegmentManifestSchema,
  segmentsBetween,
  segmentsToKeep,
} from '../../contracts/logs';
import { classifySegmentKey, keys, mintSegmentId, parseSegmentId } from '../../contracts/vault';

import { at, iso, reachable, scenario, segment, T0 } from './log-scenario';

describe('segment ids and keys', () => {
  it('round-trips an id and places data and manifest in the date folder of the run', () => {
    // Prepare
    const id = mintSegmentId('orders-eu', 'binlog', new Date(T0 + 4_500), 'mariadb-bin.000042', 385);

    // Act
    const parsed = parseSegmentId(id);

    // Assess
    expect(id).toBe('orders-eu-20261121T030004Z-binlog-mariadb-bin.000042-385');
    expect(parsed).toEqual({
      database: 'orders-eu',
      kind: 'binlog',
      archivedAt: new Date(T0 + 4_000),
      serverFile: 'mariadb-bin.000042',
      startPosition: 385,
    });
    expect(keys.segmentData(id)).toBe(`logs/orders-eu/binlog/2026/11/21/${id}/data.binlog.zst`);
    expect(keys.segmentManifest(id)).toBe(`logs/orders-eu/binlog/2026/11/21/${id}/manifest.json`);
    expect(classifySegmentKey(keys.segmentManifest(id))).toEqual({ segmentId: id, file: 'manifest.json' });
    expect(classifySegmentKey(keys.manifest('orders-20261121T030405Z-full'))).toBeUndefined();
    expect(keys.logCursor('orders-eu')).toBe('index/orders-eu/log-cursor.json');
  });

  it('refuses a server file name that could escape its key', () => {
    // Prepare
    const file = '../etc/passwd';

    // Act
    const mint = () => mintSegmentId('orders', 'binlog', new Date(T0), file, 4);

    // Assess
    expect(mint).toThrow('"../etc/passwd" is not a log file name');
    expect(() => parseSegmentId('orders-20261121T030004Z-binlog')).toThrow('is not a segmentId');
  });
});

describe('segment manifest and cursor schemas', () => {
  it('accept a complete manifest and a cursor, and refuse an unknown key', () => {
    // Prepare
    const segmentId = mintSegmentId('orders', 'binlog', new Date(T0), 'binlog.000001', 4);
    const manifest = {
      schemaVersion: 1,
      segmentId,
      database: 'orders',
      kind: 'binlog',
      engine: { serverVersion: '10.11.6-MariaDB', serverId: 1 },
      serverFile: 'binlog.000001',
      startPosition: 4,
      endPosition: 1200,
      closed: true,
      next: { file: 'binlog.000002', position: 4 },
      firstEventAt: iso(T0),
      lastEventAt: iso(T0 + 60_000),
      coveredUntil: iso(T0 + 61_000),
      gtid: { first: '0-1-1', last: '0-1-9' },
      artifact: {
        key: keys.segmentData(segmentId),
        bytes: 400,
        sha256: 'a'.repeat(64),
        uncompressedBytes: 1196,
        compression: { algorithm: 'zstd', level: 3 },
      },
      tool: { name: 'mariadb-binlog', version: '3.5', args: ['--read-from-remote-server', '--raw'] },
      archivedAt: iso(T0 + 62_000),
    };
    const cursor = {
      schemaVersion: 1,
      database: 'orders',
      kind: 'binlog',
      next: { file: 'binlog.000002', position: 4 },
      lastSegmentId: segmentId,
      coveredUntil: iso(T0 + 61_000),
      updatedAt: iso(T0 + 62_000),
    };

    // Act
    const parsedManifest = SegmentManifestSchema.safeParse(manifest);
    const parsedCursor = LogCursorSchema.safeParse(cursor);
    const typo = SegmentManifestSchema.safeParse({ ...manifest, endPositon: 1200 });

    // Assess
    expect(parsedManifest.success).toBe(true);
    expect(parsedCursor.success).toBe(true);
    expect(typo.success).toBe(false);
  });
});

describe('compareLogCoordinates', () => {
  it('orders files by their numeric suffix, past the padding, then by position', () => {
    // Prepare
    const shuffled = [at('binlog.1000000', 4), at('binlog.000010', 4), at('binlog.000009', 900), at('binlog.000009', 4)];

    // Act
    const sorted = [...shuffled].sort(compareLogCoordinates);

    // Assess
    expect(sorted).toEqual([at('binlog.000009', 4), at('binlog.000009', 900), at('binlog.000010', 4), at('binlog.1000000', 4)]);
  });
});

describe('restorableRanges and planReplay', () => {
  // binlog.000001 closed at 03:10, binlog.000002 archived to 03:20, then binlog.000003 was purged unarchived,
  // and archiving resumed in binlog.000004.
  const segments = [
    segment('binlog.000001', 4, at('binlog.000002', 4), T0 + 9 * 60_000, T0 + 10 * 60_000),
    segment('binlog.000002', 4, at('binlog.000002', 5000), T0 + 19 * 60_000, T0 + 20 * 60_000),
    segment('binlog.000004', 4, at('binlog.000004', 800), T0 + 45 * 60_000, T0 + 50 * 60_000),
  ];
  const full: FullPoint = { backupId: 'orders-20261121T030000Z-full', at: new Date(T0), position: at('binlog.000001', 300) };
  const later: FullPoint = { backupId: 'orders-20261121T034000Z-full', at: new Date(T0 + 40 * 60_000), position: at('binlog.000004', 200) };
  const input = { fulls: [full, later], segments, windowStart: new Date(T0 - 86_400_000) };

  it('lists each dump to the end of its contiguous run, and stops at a purged file', () => {
    // Prepare
    const shuffled = { ...input, segments: [segments[2], segments[0], segments[1]] };

    // Act
    const ranges = restorableRanges(shuffled);

    // Assess
    expect(ranges).toEqual([
      { from: iso(T0), to: iso(T0 + 20 * 60_000) },
      { from: iso(T0 + 40 * 60_000), to: iso(T0 + 50 * 60_000) },
    ]);
    expect(describeRanges(ranges)).toBe('2026-11-21T03:00:00Z to 2026-11-21T03:20:00Z, 2026-11-21T03:40:00Z to 2026-11-21T03:50:00Z');
  });

  it('plans one second before a bad write: the dump, then the segments from its position, across the closed file', () => {
    // Prepare
    const instant = new Date(T0 + 15 * 60_000 - 1_000);

    // Act
    const plan = planReplay(instant, input);

    // Assess
    expect(plan).toEqual({
      backupId: full.backupId,
      from: at('binlog.000001', 300),
      segmentIds: [segments[0].segmentId, segments[1].segmentId],
      stopAt: iso(T0 + 15 * 60_000 - 1_000),
    });
  });

  it('stops the list at the first segment holding an event after the instant', () => {
    // Prepare
    const instant = new Date(T0 + 5 * 60_000);

    // Act
    const plan = planReplay(instant, input);

    // Assess
    expect(plan?.segmentIds).toEqual([segments[0].segmentId]);
  });

  it('refuses an instant after the broken link, and one outside the window', () => {
    // Prepare
    const afterBreak = new Date(T0 + 30 * 60_000);
    const windowed = { ...input, windowStart: new Date(T0 + 42 * 60_000) };

    // Act
    const broken = planReplay(afterBreak, input);
    const outside = planReplay(new Date(T0 + 41 * 60_000), windowed);
    const ranges = restorableRanges(windowed);

    // Assess
    expect(broken).toBeUndefined();
    expect(outside).toBeUndefined();
    expect(ranges).toEqual([
      { from: iso(T0), to: iso(T0) },
      { from: iso(T0 + 40 * 60_000), to: iso(T0 + 40 * 60_000) },
      { from: iso(T0 + 42 * 60_000), to: iso(T0 + 50 * 60_000) },
    ]);
    expect(planReplay(new Date(T0), windowed)).toEqual({ backupId: full.backupId, segmentIds: [], stopAt: iso(T0) });
  });

  it("extends the newest run to the cursor's coverage when the log was quiet since the last segment", () => {
    // Prepare
    const cursor = { next: at('binlog.000004', 800), coveredUntil: iso(T0 + 90 * 60_000) };
    const stale = { next: at('binlog.000004', 900), coveredUntil: iso(T0 + 90 * 60_000) };

    // Act
    const quiet = restorableRanges({ ...input, cursor });
    const moved = restorableRanges({ ...input, cursor: stale });

    // Assess
    expect(quiet.at(-1)).toEqual({ from: iso(T0 + 40 * 60_000), to: iso(T0 + 90 * 60_000) });
    expect(moved.at(-1)).toEqual({ from: iso(T0 + 40 * 60_000), to: iso(T0 + 50 * 60_000) });
  });

  it('prefers the longer copy of a segment a killed run left behind', () => {
    // Prepare
    const short = segment('binlog.000002', 4, at('binlog.000002', 2000), T0 + 12 * 60_000, T0 + 12 * 60_000);

    // Act
    const ranges = restorableRanges({ ...input, segments: [...segments, short] });

    // Assess
    expect(ranges[0]).toEqual({ from: iso(T0), to: iso(T0 + 20 * 60_000) });
  });

  it('says so when there is nothing to restore, and cuts a long list', () => {
    // Prepare
    const many = Array.from({ length: 12 }, (_, i) => ({ from: iso(T0 + i * 3_600_000), to: iso(T0 + i * 3_600_000) }));

    // Act
    const none = describeRanges([]);
    const cut = describeRanges(many, 2);

    // Assess
    expect(none).toBe('none (no verified full backup yet)');
    expect(cut).toBe('2026-11-21T13:00:00Z, 2026-11-21T14:00:00Z (and 10 older)');
  });
});

describe('rdsBinlogRetentionCall', () => {
  it('asks for three intervals in whole hours, at least one', () => {
    // Prepare
    const intervals = [5, 30, 60];

    // Act
    const calls = intervals.map(rdsBinlogRetentionCall);

    // Assess
    expect(calls).toEqual([
      "CALL mysql.rds_set_configuration('binlog retention hours', 1);",
      "CALL mysql.rds_set_configuration('binlog retention hours', 2);",
      "CALL mysql.rds_set_configuration('binlog retention hours', 3);",
    ]);
  });
});

describe('restorable ranges (properties)', () => {
  it('hold exactly the instants the reference reaches, and every plan replays a contiguous chain from the dump', () => {
    fc.assert(
      fc.property(scenario, fc.integer(), (s, seed) => {
        // Listings come in any order: rotate by the seed, and reverse on odd seeds.
        const turn = Math.abs(seed) % s.raw.length;
        const rotated = [...s.raw.slice(turn), ...s.raw.slice(0, turn)];
        const segments = seed % 2 === 0 ? rotated : rotated.reverse();
        const input = { fulls: s.points, segments, windowStart: s.windowStart };
        const ranges = restorableRanges(input);
        const byId = new Map(s.raw.map((seg) => [seg.segmentId, seg]));
        for (let i = 1; i < ranges.length; i += 1) {
          expect(Date.parse(ranges[i].from)).toBeGreaterThan(Date.parse(ranges[i - 1].to));
        }
        const edges = ranges.flatMap((r) => [Date.parse(r.from) - 1000, Date.parse(r.from), Date.parse(r.to), Date.parse(r.to) + 1000]);
        for (const t of [...s.probes.map((p) => T0 + p * 1000), ...edges]) {
          const second = Math.floor(t / 1000) * 1000;
          const expected = reachable(second, s);
          const inRanges = ranges.some((r) => Date.parse(r.from) <= second && second <= Date.parse(r.to));
          const plan = planReplay(new Date(t), input);
          expect(inRanges).toBe(expected);
          expect(plan !== undefined).toBe(expected);
          if (plan && plan.segmentIds.length > 0) {
            const chain = plan.segmentIds.map((id) => byId.get(id) as ChainSegment);
            const base = s.points.find((f) => f.backupId === plan.backupId) as FullPoint;
            const first = chain[0];
            expect(compareLogCoordinates(at(first.serverFile, first.startPosition), base.position as LogCoordinates)).toBeLessThanOrEqual(
              0,
            );
            expect(compareLogCoordinates(base.position as LogCoordinates, first.next)).toBeLessThan(0);
            chain.slice(1).forEach((seg, k) => {
              expect(chain[k].next).toEqual(at(seg.serverFile, seg.startPosition));
            });
            expect(base.at.getTime()).toBeLessThanOrEqual(t);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('segmentsToKeep (properties)', () => {
  it('keeps every segment a restore needs: each instant reachable with all segments replays identically from the kept ones', () => {
    fc.assert(
      fc.property(scenario, fc.array(fc.boolean(), { maxLength: 4 }), (s, dropped) => {
        // Retention keeps some of the full dumps (GFS); the chain is planned with the kept ones only.
        const fulls = s.points.filter((_, i) => !dropped[i]);
        const all = { fulls, segments: s.raw, windowStart: s.windowStart };
        const keep = segmentsToKeep(all);
        const kept = { ...all, segments: s.raw.filter((seg) => keep.has(seg.segmentId)) };
        const windowStart = Math.ceil(s.windowStart.getTime() / 1000) * 1000;
        const ranges = restorableRanges(all);
        expect(restorableRanges(kept)).toEqual(ranges);
        const edges = ranges.flatMap((r) => [Date.parse(r.from), Date.parse(r.to)]);
        for (const t of [...s.probes.map((p) => T0 + p * 1000), ...edges]) {
          expect(planReplay(new Date(t), kept)).toEqual(planReplay(new Date(t), all));
        }
        for (const seg of s.raw) {
          if (Date.parse(seg.coveredUntil) >= windowStart) {
            expect(keep.has(seg.segmentId)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('lets go of segments that end before the window and that no kept dump replays into it', () => {
    // Prepare
    const old = segment('binlog.000001', 4, at('binlog.000002', 4), T0 + 50_000, T0 + 60_000);
    const gap = segment('binlog.000004', 4, at('binlog.000004', 900), T0 + 3_500_000, T0 + 3_600_000);
    const tail = segment('binlog.000004', 900, at('binlog.000004', 1800), T0 + 7_100_000, T0 + 7_200_000);
    const full = { backupId: 'orders-20261121T000000Z-full', at: new Date(T0 + 3_000_000), position: at('binlog.000004', 4) };

    // Act
    const keep = segmentsToKeep({ fulls: [full], segments: [old, gap, tail], windowStart: new Date(T0 + 5_000_000) });

    // Assess: gap ends before the window, but the dump before the window replays through it into the window.
    expect([...keep].sort()).toEqual([gap.segmentId, tail.segmentId].sort());
  });
});

describe('segmentsBetween and newestChainPair (chain drill)', () => {
  // binlog.000001 from 4 to its rotation, then binlog.000002 in two runs; binlog.000003 after a gap.
  const closed = segment('binlog.000001', 4, at('binlog.000002', 4), T0 + 60_000, T0 + 60_000);
  const tail = segment('binlog.000002', 4, at('binlog.000002', 900), T0 + 120_000, T0 + 300_000);
  const later = segment('binlog.000002', 900, at('binlog.000002', 1500), T0 + 400_000, T0 + 600_000);
  const afterGap = segment('binlog.000003', 600, at('binlog.000003', 800), T0 + 700_000, T0 + 900_000);
  const segments = [later, afterGap, closed, tail];
  const point = (backupId: string, minutes: number, position: LogCoordinates) => ({
    backupId,
    at: new Date(T0 + minutes * 60_000),
    position,
  });

  it('lists the segments from one dump to the next, from the one holding the start to the first reaching the end', () => {
    // Act
    const link = segmentsBetween(at('binlog.000001', 500), at('binlog.000002', 1200), segments);
    const exact = segmentsBetween(at('binlog.000002', 900), at('binlog.000002', 1500), segments);

    // Assess
    expect(link?.segments.map((s) => s.segmentId)).toEqual([closed.segmentId, tail.segmentId, later.segmentId]);
    expect(link).toMatchObject({ from: at('binlog.000001', 500), to: at('binlog.000002', 1200) });
    expect(exact?.segments.map((s) => s.segmentId)).toEqual([later.segmentId]);
  });

  it('gives an empty link for two dumps at one position, and none across a gap, past the end or backwards', () => {
    // Act
    const same = segmentsBetween(at('binlog.000002', 900), at('binlog.000002', 900), segments);
    const acrossGap = segmentsBetween(at('binlog.000002', 1000), at('binlog.000003', 700), segments);
    const pastEnd = segmentsBetween(at('binlog.000002', 1000), at('binlog.000002', 1501), segments);
    const backwards = segmentsBetween(at('binlog.000002', 1000), at('binlog.000001', 500), segments);

    // Assess
    expect(same?.segments).toEqual([]);
    expect(acrossGap).toBeUndefined();
    expect(pastEnd).toBeUndefined();
    expect(backwards).toBeUndefined();
  });

  it('picks the newest consecutive pair an intact run joins, skipping a newer pair across the gap', () => {
    // Prepare
    const points = [
      point('orders-20261121T030000Z-full', 0, at('binlog.000001', 500)),
      point('orders-20261121T030500Z-full', 5, at('binlog.000002', 1000)),
      point('orders-20261121T031500Z-full', 15, at('binlog.000003', 700)),
    ];

    // Act
    const pair = newestChainPair([...points].reverse(), segments);
    const none = newestChainPair([points[2]], segments);

    // Assess
    expect(pair?.from.backupId).toBe('orders-20261121T030000Z-full');
    expect(pair?.to.backupId).toBe('orders-20261121T030500Z-full');
    expect(pair?.link.segments.map((s) => s.segmentId)).toEqual([closed.segmentId, tail.segmentId, later.segmentId]);
    expect(none).toBeUndefined();
  });
});

describe('planReplayTo: a position or a GTID', () => {
  const withGtid = (s: ChainSegment, first: string, last: string): ChainSegment => ({ ...s, gtid: { first, last } });
  const segments = [
    withGtid(segment('binlog.000001', 4, at('binlog.000002', 4), T0 + 9 * 60_000, T0 + 10 * 60_000), '0-1-1', '0-1-40'),
    withGtid(segment('binlog.000002', 4, at('binlog.000002', 5000), T0 + 19 * 60_000, T0 + 20 * 60_000), '0-1-41', '0-1-90'),
    withGtid(segment('binlog.000002', 5000, at('binlog.000002', 7000), T0 + 29 * 60_000, T0 + 30 * 60_000), '0-1-91', '0-1-99'),
  ];
  const full: FullPoint = { backupId: 'orders-20261121T030000Z-full', at: new Date(T0), position: at('binlog.000001', 300), gtid: '0-1-3' };
  const later: FullPoint = {
    backupId: 'orders-20261121T031500Z-full',
    at: new Date(T0 + 15 * 60_000),
    position: at('binlog.000002', 2000),
    gtid: '0-1-60',
  };
  const input = { fulls: [full, later], segments, windowStart: new Date(T0 - 86_400_000) };

  it('plans a position from the newest dump before it, up to the segment holding it', () => {
    // Prepare
    const stop = { kind: 'position' as const, file: 'binlog.000002', position: 6000 };
    const early = { kind: 'position' as const, file: 'binlog.000002', position: 1500 };

    // Act
    const plan = planReplayTo(stop, input);
    const earlyPlan = planReplayTo(early, input);
    const atDump = planReplayTo({ kind: 'position', ...later.position } as ReplayStop, input);
    const past = planReplayTo({ kind: 'position', file: 'binlog.000002', position: 7001 }, input);

    // Assess
    expect(plan).toEqual({
      backupId: later.backupId,
      from: later.position,
      segmentIds: [segments[1].segmentId, segments[2].segmentId],
      stop,
    });
    expect(earlyPlan).toEqual({
      backupId: full.backupId,
      from: full.position,
      segmentIds: [segments[0].segmentId, segments[1].segmentId],
      stop: early,
    });
    expect(atDump?.segmentIds).toEqual([]);
    expect(past).toBeUndefined();
  });

  it("plans a GTID by the dumps' GTID state and the segments' GTID ranges", () => {
    // Prepare
    const stop = { kind: 'gtid' as const, gtid: '0-1-95' };
    const before = { kind: 'gtid' as const, gtid: '0-1-50' };
    const withoutState = { ...input, fulls: [full, { ...later, gtid: undefined }] };

    // Act
    const plan = planReplayTo(stop, input);
    const beforePlan = planReplayTo(before, input);
    const byCoordinates = planReplayTo(before, withoutState);
    const unknown = planReplayTo({ kind: 'gtid', gtid: '0-1-500' }, input);
    const otherDomain = planReplayTo({ kind: 'gtid', gtid: '1-1-50' }, input);

    // Assess
    expect(plan).toEqual({
      backupId: later.backupId,
      from: later.position,
      segmentIds: [segments[1].segmentId, segments[2].segmentId],
      stop,
    });
    // The dump at 0-1-60 is past 0-1-50: the older one replays up to it.
    expect(beforePlan?.backupId).toBe(full.backupId);
    expect(beforePlan?.segmentIds).toEqual([segments[0].segmentId, segments[1].segmentId]);
    // Without a GTID state, a dump inside the holding segment cannot tell which side it is on: the older is taken.
    expect(byCoordinates?.backupId).toBe(full.backupId);
    expect(unknown).toBeUndefined();
    expect(otherDomain).toBeUndefined();
  });

  it('plans an instant as planReplay does, and parses the stop from JSON', () => {
    // Prepare
    const json = JSON.stringify({ kind: 'instant', at: iso(T0 + 5 * 60_000) });

    // Act
    const stop = ReplayStopSchema.parse(JSON.parse(json));
    const plan = planReplayTo(stop, input);
    const bad = ReplayStopSchema.safeParse({ kind: 'gtid', gtid: 'not-a-gtid' });

    // Assess
    expect(plan).toEqual({ ...planReplay(new Date(T0 + 5 * 60_000), input), stop });
    expect(bad.success).toBe(false);
    expect(parseGtid('3e11fa47-71ca-11e1-9e33-c80aa9429562:23')).toEqual({ stream: '3e11fa47-71ca-11e1-9e33-c80aa9429562', seq: 23n });
    expect(describeStop({ kind: 'position', file: 'binlog.000002', position: 6000 })).toBe('position binlog.000002:6000');
  });
});

describe('newestRecoverablePoint (PostgreSQL chain drill: a base and the WAL up to a dump)', () => {
  // WAL files 1 to 3 as one run (1 and 2 closed, 3 a tail), then file 5 after a gap (file 4 never archived).
  const wal = (n: number) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;
  const MiB16 = 16 * 1024 * 1024;
  const closed = (n: number) => segment(wal(n), 0, at(wal(n + 1), 0), T0 + n * 60_000, T0 + n * 60_000);
  const segments = [
    closed(1),
    closed(2),
    segment(wal(3), 0, at(wal(3), 4096), T0 + 180_000, T0 + 180_000),
    segment(wal(5), 0, at(wal(5), MiB16 / 2), T0 + 300_000, T0 + 300_000),
  ];
  const point = (minutes: number, position: LogCoordinates) => ({
    backupId: `orders-20261121T03${String(minutes).padStart(2, '0')}00Z-full`,
    at: new Date(T0 + minutes * 60_000),
    position,
  });
  const base = (minutes: number, start: LogCoordinates, consistentAt: LogCoordinates) => ({
    backupId: `orders-20261121T03${String(minutes).padStart(2, '0')}00Z-base`,
    at: new Date(T0 + minutes * 60_000),
    position: start,
    consistentAt,
  });

  it('pairs the newest dump an intact run reaches with the newest base consistent before it, skipping a dump past the gap', () => {
    // Prepare
    const older = base(0, at(wal(1), 40), at(wal(1), 9000));
    const newer = base(2, at(wal(2), 40), at(wal(2), 5000));
    const dumps = [point(1, at(wal(1), 20_000)), point(3, at(wal(3), 1000)), point(6, at(wal(5), 100))];

    // Act
    const found = newestRecoverablePoint(dumps, [newer, older], segments);

    // Assess
    expect(found?.point.backupId).toBe(dumps[1].backupId);
    expect(found?.base.backupId).toBe(newer.backupId);
    expect(found?.link.segments.map((s) => s.serverFile)).toEqual([wal(2), wal(3)]);
  });

  it('takes an older base when the newer one becomes consistent only after the dump, and none for a dump at the end of the WAL', () => {
    // Prepare
    const older = base(0, at(wal(1), 40), at(wal(1), 9000));
    const lateConsistent = base(2, at(wal(2), 40), at(wal(3), 2000));
    const atTheEnd = point(4, at(wal(3), 4096));

    // Act
    const found = newestRecoverablePoint([point(3, at(wal(3), 1000))], [lateConsistent, older], segments);
    const none = newestRecoverablePoint([atTheEnd], [older], segments);
    const beforeEveryBase = newestRecoverablePoint([point(1, at(wal(1), 20))], [older], segments);

    // Assess
    expect(found?.base.backupId).toBe(older.backupId);
    expect(found?.link.segments.map((s) => s.serverFile)).toEqual([wal(1), wal(2), wal(3)]);
    expect(none).toBeUndefined();
    expect(beforeEveryBase).toBeUndefined();
  });
});
