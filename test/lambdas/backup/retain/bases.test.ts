import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planReplay, restorableRanges, segmentsToKeep } from '../../../../contracts/logs';
import type { Plan } from '../../../../contracts/plan';
import { classifySegmentKey } from '../../../../contracts/vault';
import { listObjects } from '../../../../contracts/vault-io';
import { baseKeys, classifyBaseKey, mintBaseId } from '../../../../contracts/wal';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { basesToKeep, retainBases } from '../../../../lambdas/backup/retain/bases';
import { scenario } from '../../../contracts/log-scenario';
import { testPlan } from '../../fixtures';
import { baseManifest, ordersWithBases, put, putBase, putWal, walFile } from '../base-fixtures';

const NOW = new Date('2026-11-30T12:00:00Z');
const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY);

let s3rver: LocalS3;
beforeAll(async () => {
  s3rver = await startS3rver(['primary', 'replica', 'locked']);
});
afterAll(async () => {
  await s3rver.stop();
});

async function idsUnder(bucket: string, prefix: string, classify: (key: string) => string | undefined): Promise<string[]> {
  const found = new Set<string>();
  for await (const object of listObjects(s3rver.client(), bucket, prefix)) {
    const id = classify(object.key);
    if (id) {
      found.add(id);
    }
  }
  return [...found].sort();
}

describe('basesToKeep (properties)', () => {
  it('keeps every base and segment a restore into the window needs: each instant replays identically from the kept ones', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        // Bases always have log coordinates (their start LSN); the generated fulls without any play no part here.
        const bases = s.points.filter((p) => p.position);
        const all = { fulls: bases, segments: s.raw, windowStart: s.windowStart };
        const keptBases = basesToKeep(all);
        const fulls = bases.filter((b) => keptBases.has(b.backupId));
        const keepSegments = segmentsToKeep({ ...all, fulls });
        const kept = { fulls, segments: s.raw.filter((seg) => keepSegments.has(seg.segmentId)), windowStart: s.windowStart };
        const windowStart = Math.ceil(s.windowStart.getTime() / 1000) * 1000;
        // Two generated bases may share an instant and a start (real ones cannot: one per second, under the lock):
        // either is the same restore, so a plan is compared by its base's instant and start, not its id.
        const byId = new Map(bases.map((b) => [b.backupId, b]));
        const start = (plan: ReturnType<typeof planReplay>) => {
          const base = plan && byId.get(plan.backupId);
          return plan && { ...plan, backupId: `${base?.at.toISOString()} ${JSON.stringify(base?.position)}` };
        };
        const edges = restorableRanges(all).flatMap((r) => [Date.parse(r.from), Date.parse(r.to), Date.parse(r.to) + 1000]);
        for (const t of [windowStart, ...s.probes.map((p) => windowStart + Math.abs(p) * 1000), ...edges].filter((t) => t >= windowStart)) {
          expect(start(planReplay(new Date(t), kept))).toEqual(start(planReplay(new Date(t), all)));
        }
        for (const base of bases) {
          if (Math.floor(base.at.getTime() / 1000) * 1000 > windowStart) {
            expect(keptBases.has(base.backupId)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps of the bases before the window only the newest when it reaches the window', () => {
    // Prepare: one run of WAL files 1-4, bases in files 1 and 2 before the window, one in file 4 inside it.
    const run = [1, 2, 3, 4].map((n) => ({
      segmentId: `orders-2026112${n}T000000Z-wal-${walFile(n)}-0`,
      serverFile: walFile(n),
      startPosition: 0,
      next: { file: walFile(n + 1), position: 0 },
      coveredUntil: daysAgo(10 - 2 * n).toISOString(),
    }));
    const base = (days: number, n: number) => ({
      backupId: mintBaseId('orders', daysAgo(days)),
      at: daysAgo(days),
      position: { file: walFile(n), position: 40 },
    });
    const older = base(9, 1);
    const newest = base(7.5, 2);
    const inside = base(2.5, 4);

    // Act
    const keep = basesToKeep({ fulls: [older, inside, newest], segments: run, windowStart: daysAgo(7) });

    // Assess
    expect([...keep].sort()).toEqual([inside.backupId, newest.backupId].sort());
  });
});

describe('retainBases against s3rver', () => {
  it('keeps the window, the newest base before it and the WAL they need; deletes the rest in both vaults; a dry run deletes nothing', async () => {
    // Prepare: WAL files 1-12 archived one a day up to now; bases before, at and inside the window's start.
    const c = s3rver.client();
    const wal: string[] = [];
    for (let n = 1; n <= 12; n++) {
      wal.push(await putWal(c, 'primary', walFile(n), daysAgo(12 - n)));
    }
    const tar = { bytes: 3, sha256: 'c'.repeat(64) };
    const old = await putBase(c, 'primary', baseManifest(daysAgo(10.5), walFile(2), tar), true);
    const anchor = await putBase(c, 'primary', baseManifest(daysAgo(8.5), walFile(4), tar), true);
    const inside = await putBase(c, 'primary', baseManifest(daysAgo(2.5), walFile(10), tar));
    const failedOld = await putBase(c, 'primary', baseManifest(daysAgo(10), walFile(2), tar), false);
    const failedInside = await putBase(c, 'primary', baseManifest(daysAgo(2), walFile(10), tar), false);
    const killedOld = mintBaseId('orders', daysAgo(1));
    const killedNow = mintBaseId('orders', new Date(NOW.getTime() - 600_000));
    await put(c, 'primary', baseKeys.artifact(killedOld), 'half a tar');
    await put(c, 'primary', baseKeys.artifact(killedNow), 'a tar being written');
    await putBase(c, 'replica', baseManifest(daysAgo(10.5), walFile(2), tar), true);
    await putWal(c, 'replica', walFile(1), daysAgo(11));
    const plan: Plan = { ...testPlan(), databases: { ...testPlan().databases, orders: ordersWithBases } };
    const deps = {
      s3: c,
      bucket: 'primary',
      replica: { s3: c, bucket: 'replica' },
      objectLock: false,
      graceSeconds: 3600,
      concurrency: 4,
      plan,
    };
    const baseIds = (bucket: string) => idsUnder(bucket, 'bases/orders/', (key) => classifyBaseKey(key)?.baseId);
    const walIds = (bucket: string) => idsUnder(bucket, 'logs/orders/', (key) => classifySegmentKey(key)?.segmentId);

    // Act
    const dry = await retainBases({ database: 'orders', dryRun: true, now: NOW }, deps);
    const afterDry = await baseIds('primary');
    const real = await retainBases({ database: 'orders', dryRun: false, now: NOW }, deps);

    // Assess
    expect(dry.deleted).toEqual([old, failedOld, killedOld].sort());
    expect(afterDry).toHaveLength(7);
    expect(real).toMatchObject({ dryRun: false, bases: 7, kept: 4, deleted: [old, failedOld, killedOld].sort(), skippedLocked: [] });
    expect(await baseIds('primary')).toEqual([anchor, inside, failedInside, killedNow].sort());
    expect(await baseIds('replica')).toEqual([]);
    // The anchor's WAL starts in file 4: files 1-3 cover only instants before the window that no kept base replays.
    expect(real.segments.deleted).toEqual(wal.slice(0, 3).sort());
    expect(await walIds('primary')).toEqual(wal.slice(3).sort());
    expect(await walIds('replica')).toEqual([]);
  });

  it('leaves a base whose Object Lock still holds and reports it; the window replays from the kept bases, so its WAL goes', async () => {
    // Prepare: s3rver has no Object Lock, so the lock reads are answered in front of it; the deletes are real.
    const c = s3rver.client();
    const wal: string[] = [];
    for (let n = 1; n <= 12; n++) {
      wal.push(await putWal(c, 'locked', walFile(n), daysAgo(12 - n)));
    }
    const tar = { bytes: 3, sha256: 'c'.repeat(64) };
    const locked = await putBase(c, 'locked', baseManifest(daysAgo(10.5), walFile(2), tar), true);
    const anchor = await putBase(c, 'locked', baseManifest(daysAgo(8.5), walFile(4), tar), true);
    const until = new Date(NOW.getTime() + 5 * DAY);
    const locking = s3rver.client();
    locking.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key ?? '';
        if (context.commandName === 'GetObjectRetentionCommand' && key.includes(locked)) {
          return { output: { Retention: { Mode: 'GOVERNANCE', RetainUntilDate: until }, $metadata: {} }, response: {} } as never;
        }
        if (context.commandName === 'GetObjectRetentionCommand' || context.commandName === 'GetObjectLegalHoldCommand') {
          throw Object.assign(new Error('no lock'), { name: 'NoSuchObjectLockConfiguration' });
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    const plan: Plan = { ...testPlan(), databases: { ...testPlan().databases, orders: ordersWithBases } };

    // Act
    const result = await retainBases(
      { database: 'orders', dryRun: false, now: NOW },
      { s3: locking, bucket: 'locked', objectLock: true, graceSeconds: 3600, concurrency: 4, plan },
    );

    // Assess
    expect(result.deleted).toEqual([]);
    expect(result.skippedLocked).toEqual([{ baseId: locked, reason: `locked: retained until ${until.toISOString()}` }]);
    expect(await idsUnder('locked', 'bases/orders/', (key) => classifyBaseKey(key)?.baseId)).toEqual([anchor, locked].sort());
    expect(result.segments.deleted).toEqual(wal.slice(0, 3).sort());
  });

  it('refuses a database without WAL archiving, naming the field', async () => {
    // Act
    const error = await retainBases(
      { database: 'billing', dryRun: true, now: NOW },
      { s3: s3rver.client(), bucket: 'primary', objectLock: false, graceSeconds: 3600, concurrency: 4, plan: testPlan() },
    ).catch((e: unknown) => e as Error);

    // Assess
    expect((error as Error).message).toBe(
      'Invalid base retain input:\ndatabase: found "billing"; expected a postgres database with a logs block',
    );
  });
});
