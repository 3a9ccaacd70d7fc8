import { randomBytes } from 'node:crypto';
import { CopyObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import type { SegmentManifest, SegmentVerification } from '../../../../contracts/logs';
import { keys, mintSegmentId } from '../../../../contracts/vault';
import { listObjects } from '../../../../contracts/vault-io';
import { replicateSegments } from '../../../../lambdas/backup/replicate/segments';
import { s3rverForFile } from '../../../support/engine-vault';
import { replicationDeps, sha256 } from '../../fixtures';

const NOW = new Date('2026-11-30T12:00:00Z');

const s3rver = s3rverForFile('primary', 'replica');

const deps = (replica: S3Client = s3rver.client()) => replicationDeps(s3rver, NOW, replica);

async function put(key: string, body: Buffer | string): Promise<void> {
  await s3rver.client().send(new PutObjectCommand({ Bucket: 'primary', Key: key, Body: body }));
}

/** A segment of `database` archived `hoursAgo`: data, manifest and, unless `verified` is undefined, its verification record. */
async function segment(database: string, hoursAgo: number, position: number, verified: boolean | undefined): Promise<string> {
  const archivedAt = new Date(NOW.getTime() - hoursAgo * 3_600_000);
  const segmentId = mintSegmentId(database, 'binlog', archivedAt, 'binlog.000004', position);
  const data = randomBytes(2_000);
  const manifest: SegmentManifest = {
    schemaVersion: 1,
    segmentId,
    database,
    kind: 'binlog',
    engine: { serverVersion: '10.11.6-MariaDB' },
    serverFile: 'binlog.000004',
    startPosition: position,
    endPosition: position + 900,
    closed: false,
    next: { file: 'binlog.000004', position: position + 900 },
    coveredUntil: archivedAt.toISOString(),
    artifact: {
      key: keys.segmentData(segmentId),
      bytes: data.length,
      sha256: sha256(data),
      uncompressedBytes: 4_000,
      compression: { algorithm: 'zstd', level: 3 },
    },
    tool: { name: 'mariadb-binlog', version: '10.11', args: [] },
    archivedAt: archivedAt.toISOString(),
  };
  await put(keys.segmentData(segmentId), data);
  if (verified !== undefined) {
    const record: SegmentVerification = {
      schemaVersion: 1,
      segmentId,
      passed: verified,
      verifiedAt: archivedAt.toISOString(),
      checks: { bytes: verified, sha256: verified, parsed: verified, endPosition: verified },
      ...(!verified && { reason: 'the stored bytes do not match the manifest SHA-256' }),
    };
    await put(keys.segmentVerification(segmentId), JSON.stringify(record));
  }
  await put(keys.segmentManifest(segmentId), JSON.stringify(manifest));
  return segmentId;
}

async function replicaKeys(prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of listObjects(s3rver.client(), 'replica', prefix)) {
    found.push(object.key);
  }
  return found.sort();
}

async function body(bucket: string, key: string): Promise<Buffer> {
  return Buffer.from(await (await s3rver.client().send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
}

/** A replica client that records the key of every server-side copy, in order. */
function recordingReplica(copied: string[]): S3Client {
  const client = s3rver.client();
  const send = client.send.bind(client);
  vi.spyOn(client, 'send').mockImplementation(((command: unknown, ...rest: never[]) => {
    if (command instanceof CopyObjectCommand) {
      copied.push(command.input.Key as string);
    }
    return send(command as never, ...rest);
  }) as never);
  return client;
}

describe('replicateSegments between two s3rver buckets', () => {
  it("copies yesterday's and today's verified segments, data then verification then manifest, each matching the source", async () => {
    // Prepare: one segment from before midnight, one from this morning, one from three days ago (outside the listing).
    const yesterday = await segment('ledger', 14, 4, true);
    const today = await segment('ledger', 2, 904, true);
    const old = await segment('ledger', 72, 1804, true);
    const copied: string[] = [];

    // Act
    const result = await replicateSegments('ledger', deps(recordingReplica(copied)));

    // Assess
    expect(result).toEqual({ bucket: 'replica', copied: 2, alreadyPresent: 0, unverified: [], bytes: expect.any(Number) });
    expect(copied).toEqual([
      keys.segmentData(yesterday),
      keys.segmentVerification(yesterday),
      keys.segmentManifest(yesterday),
      keys.segmentData(today),
      keys.segmentVerification(today),
      keys.segmentManifest(today),
    ]);
    expect(await body('replica', keys.segmentData(today))).toEqual(await body('primary', keys.segmentData(today)));
    expect(JSON.parse((await body('replica', keys.segmentManifest(yesterday))).toString()).segmentId).toBe(yesterday);
    expect(await replicaKeys(`logs/ledger/binlog/${keys.segmentData(old).split('/').slice(3, 6).join('/')}/`)).toEqual([]);
  });

  it('skips a segment whose manifest the replica already holds, without copying anything of it again', async () => {
    // Prepare
    const segmentId = await segment('payroll', 1, 4, true);
    await replicateSegments('payroll', deps());
    const copied: string[] = [];

    // Act
    const result = await replicateSegments('payroll', deps(recordingReplica(copied)));

    // Assess
    expect(result).toEqual({ bucket: 'replica', copied: 0, alreadyPresent: 1, unverified: [], bytes: 0 });
    expect(copied).toEqual([]);
    expect(await replicaKeys(`logs/payroll/`)).toEqual(
      [keys.segmentData(segmentId), keys.segmentManifest(segmentId), keys.segmentVerification(segmentId)].sort(),
    );
  });

  it('leaves a segment whose verification failed or is not written yet in the primary only, and copies it once verified', async () => {
    // Prepare
    const failed = await segment('crm', 3, 4, false);
    const pending = await segment('crm', 1, 904, undefined);

    // Act
    const first = await replicateSegments('crm', deps());
    await put(
      keys.segmentVerification(pending),
      JSON.stringify({
        schemaVersion: 1,
        segmentId: pending,
        passed: true,
        verifiedAt: NOW.toISOString(),
        checks: { bytes: true, sha256: true, parsed: true, endPosition: true },
      } satisfies SegmentVerification),
    );
    const second = await replicateSegments('crm', deps());

    // Assess
    expect(first).toEqual({ bucket: 'replica', copied: 0, alreadyPresent: 0, unverified: [failed, pending], bytes: 0 });
    expect(second).toEqual({ bucket: 'replica', copied: 1, alreadyPresent: 0, unverified: [failed], bytes: expect.any(Number) });
    expect(await replicaKeys('logs/crm/')).toEqual(
      [keys.segmentData(pending), keys.segmentManifest(pending), keys.segmentVerification(pending)].sort(),
    );
  });
});
