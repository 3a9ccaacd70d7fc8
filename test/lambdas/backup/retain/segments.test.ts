import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogCoordinates, SegmentManifest, SegmentVerification } from '../../../../contracts/logs';
import type { DatabasePlan } from '../../../../contracts/plan';
import { keys, mintSegmentId } from '../../../../contracts/vault';
import { listObjects } from '../../../../contracts/vault-io';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { retainSegments } from '../../../../lambdas/backup/retain/segments';
import { testPlan } from '../../fixtures';

const NOW = new Date('2026-11-30T12:00:00Z');
const DAY = 86_400_000;
const at = (file: string, position: number): LogCoordinates => ({ file, position });

let s3rver: LocalS3;
beforeAll(async () => {
  s3rver = await startS3rver(['primary', 'replica']);
});
afterAll(async () => {
  await s3rver.stop();
});

const billing: DatabasePlan = { ...testPlan().databases.billing, logs: { kind: 'binlog', intervalSeconds: 300, windowDays: 7 } };

async function put(bucket: string, key: string, body: unknown): Promise<void> {
  await s3rver
    .client()
    .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: typeof body === 'string' ? body : JSON.stringify(body) }));
}

/** A segment of billing archived `daysAgo`, from `start` to `next`, with its data, manifest and (optionally) verification. */
async function segment(bucket: string, daysAgo: number, start: LogCoordinates, next: LogCoordinates, verified?: boolean) {
  const archivedAt = new Date(NOW.getTime() - daysAgo * DAY);
  const segmentId = mintSegmentId('billing', 'binlog', archivedAt, start.file, start.position);
  const manifest: SegmentManifest = {
    schemaVersion: 1,
    segmentId,
    database: 'billing',
    kind: 'binlog',
    engine: { serverVersion: '10.11.6-MariaDB' },
    serverFile: start.file,
    startPosition: start.position,
    endPosition: next.file === start.file ? next.position : start.position + 100,
    closed: next.file !== start.file,
    next,
    firstEventAt: archivedAt.toISOString(),
    lastEventAt: archivedAt.toISOString(),
    coveredUntil: archivedAt.toISOString(),
    artifact: {
      key: keys.segmentData(segmentId),
      bytes: 4,
      sha256: 'a'.repeat(64),
      uncompressedBytes: 8,
      compression: { algorithm: 'zstd', level: 3 },
    },
    tool: { name: 'mariadb-binlog', version: '10.11', args: [] },
    archivedAt: archivedAt.toISOString(),
  };
  await put(bucket, keys.segmentData(segmentId), 'zstd');
  await put(bucket, keys.segmentManifest(segmentId), manifest);
  if (verified !== undefined) {
    const record: SegmentVerification = {
      schemaVersion: 1,
      segmentId,
      passed: verified,
      verifiedAt: archivedAt.toISOString(),
      checks: { bytes: verified, sha256: verified, parsed: verified, endPosition: verified },
      ...(!verified && { reason: 'checksum' }),
    };
    await put(bucket, keys.segmentVerification(segmentId), record);
  }
  return segmentId;
}

async function segmentIds(bucket: string): Promise<string[]> {
  const found = new Set<string>();
  for await (const object of listObjects(s3rver.client(), bucket, 'logs/billing/')) {
    found.add(object.key.split('/').at(-2) as string);
  }
  return [...found].sort();
}

describe('retainSegments against s3rver', () => {
  it('keeps the window and the run a kept dump replays into it, deletes the rest in both vaults, and a dry run deletes nothing', async () => {
    // Prepare: a purged gap (000003) separates an old run from the run the kept dump of 9 days ago sits on.
    const c = s3rver.client();
    const stale = await segment('primary', 20, at('binlog.000001', 4), at('binlog.000002', 4), true);
    const lead = await segment('primary', 9, at('binlog.000004', 4), at('binlog.000004', 900), true);
    const inWindow = await segment('primary', 2, at('binlog.000004', 900), at('binlog.000004', 1800), true);
    const failed = await segment('primary', 1, at('binlog.000004', 1800), at('binlog.000004', 2700), false);
    const replicaStale = await segment('replica', 20, at('binlog.000001', 4), at('binlog.000002', 4));
    const orphanId = mintSegmentId('billing', 'binlog', new Date(NOW.getTime() - 3 * DAY), 'binlog.000009', 4);
    await put('primary', keys.segmentData(orphanId), 'half a run');
    const dump = 'billing-20261121T000000Z-full';
    await put('primary', keys.manifest(dump), { position: { binlogFile: 'binlog.000004', binlogPosition: 200 } });
    const deps = { s3: c, bucket: 'primary', replica: { s3: c, bucket: 'replica' }, objectLock: false, graceSeconds: 3600, concurrency: 4 };

    // Act
    const dry = await retainSegments(billing, [dump], NOW, true, deps);
    const afterDry = await segmentIds('primary');
    const real = await retainSegments(billing, [dump], NOW, false, deps);

    // Assess
    expect(dry.deleted).toEqual([stale, orphanId].sort());
    expect(afterDry).toHaveLength(5);
    expect(real).toEqual({ segments: 5, kept: 3, deleted: [stale, orphanId].sort(), skippedLocked: [] });
    expect(await segmentIds('primary')).toEqual([lead, inWindow, failed].sort());
    expect(await segmentIds('replica')).not.toContain(replicaStale);
  });

  it('leaves a segment whose Object Lock still holds, and reads the lock of each of its objects', async () => {
    // Prepare: s3rver has no Object Lock, so the lock reads are answered in front of it; the deletes are real.
    const c = s3rver.client();
    const locked = await segment('primary', 30, at('binlog.000050', 4), at('binlog.000051', 4), true);
    const until = new Date(NOW.getTime() + 5 * DAY);
    const lockReads: string[] = [];
    c.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key ?? '';
        if (context.commandName === 'GetObjectRetentionCommand') {
          lockReads.push(key);
          return { output: { Retention: { Mode: 'GOVERNANCE', RetainUntilDate: until }, $metadata: {} }, response: {} } as never;
        }
        if (context.commandName === 'GetObjectLegalHoldCommand') {
          throw Object.assign(new Error('no legal hold'), { name: 'NoSuchObjectLockConfiguration' });
        }
        return next(args);
      },
      { step: 'initialize' },
    );

    // Act
    const result = await retainSegments(billing, [], NOW, false, {
      s3: c,
      bucket: 'primary',
      objectLock: true,
      graceSeconds: 3600,
      concurrency: 4,
    });

    // Assess
    expect(result.skippedLocked).toContainEqual({ segmentId: locked, reason: `primary: retained until ${until.toISOString()}` });
    expect(result.deleted).not.toContain(locked);
    expect(await segmentIds('primary')).toContain(locked);
    expect(lockReads).toEqual(
      expect.arrayContaining([keys.segmentData(locked), keys.segmentManifest(locked), keys.segmentVerification(locked)]),
    );
  });

  it('does nothing for a database without a logs block', async () => {
    // Act
    const result = await retainSegments(testPlan().databases.billing, [], NOW, false, {
      s3: s3rver.client(),
      bucket: 'primary',
      objectLock: false,
      graceSeconds: 3600,
      concurrency: 4,
    });

    // Assess
    expect(result).toEqual({ segments: 0, kept: 0, deleted: [], skippedLocked: [] });
  });
});
