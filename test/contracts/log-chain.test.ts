import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBaseManifests } from '../../contracts/log-chain';
import { putJson } from '../../contracts/vault-io';
import { type BaseBackupManifest, baseKeys, basePointOf, mintBaseId } from '../../contracts/wal';
import { type LocalS3, startS3rver } from '../../dev/servers/s3rver';

const BUCKET = 'vault';
const DB = 'orders';
const SHA = 'a'.repeat(64);

function baseManifest(at: Date): BaseBackupManifest {
  const baseId = mintBaseId(DB, at);
  return {
    schemaVersion: 1,
    baseId,
    database: DB,
    kind: 'base',
    trigger: 'schedule',
    engine: { name: 'postgres', serverVersion: '15.8', majorVersion: 15 },
    timeline: 1,
    walSegmentBytes: 16 * 1024 * 1024,
    startLsn: '0/2000028',
    stopLsn: '0/2000100',
    start: { file: '000000010000000000000002', position: 40 },
    stop: { file: '000000010000000000000002', position: 256 },
    slot: 'strongbox_orders',
    artifact: {
      key: baseKeys.artifact(baseId),
      format: 'tar',
      bytes: 10,
      sha256: SHA,
      uncompressedBytes: 20,
      compression: { algorithm: 'zstd', level: 3 },
      parts: 1,
      partSizeBytes: 8 * 1024 * 1024,
    },
    backupManifest: { key: baseKeys.backupManifest(baseId), bytes: 5, sha256: SHA },
    tool: { name: 'pg_basebackup', version: '15.8', args: ['-Ft'] },
    startedAt: at.toISOString(),
    finishedAt: new Date(at.getTime() + 5000).toISOString(),
    durationSeconds: 5,
  };
}

describe('readBaseManifests', () => {
  let s3rver: LocalS3;
  let s3: S3Client;

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    s3 = s3rver.client();
  });
  afterAll(() => s3rver.stop());

  it('returns the bases whose manifest exists and whose verification did not fail, oldest first', async () => {
    // Prepare: a verified base, an unverified one, a failed one, and a tar whose manifest was never written
    const [passed, unverified, failed] = [
      baseManifest(new Date('2026-11-20T02:00:00Z')),
      baseManifest(new Date('2026-11-22T02:00:00Z')),
      baseManifest(new Date('2026-11-21T02:00:00Z')),
    ];
    for (const base of [unverified, failed, passed]) {
      await putJson(s3, BUCKET, baseKeys.manifest(base.baseId), base);
    }
    const verification = (base: BaseBackupManifest, ok: boolean) => ({
      schemaVersion: 1,
      baseId: base.baseId,
      passed: ok,
      verifiedAt: base.finishedAt,
      checks: { bytes: true, sha256: ok, backupManifest: true },
      ...(!ok && { reason: 'sha256 differs' }),
    });
    await putJson(s3, BUCKET, baseKeys.verification(passed.baseId), verification(passed, true));
    await putJson(s3, BUCKET, baseKeys.verification(failed.baseId), verification(failed, false));
    const orphan = mintBaseId(DB, new Date('2026-11-23T02:00:00Z'));
    await putJson(s3, BUCKET, baseKeys.artifact(orphan), 'half');

    // Act
    const bases = await readBaseManifests(s3, BUCKET, DB);

    // Assess
    expect(bases.map((b) => b.baseId)).toEqual([passed.baseId, unverified.baseId]);
    expect(basePointOf(bases[0])).toEqual({
      backupId: passed.baseId,
      at: new Date('2026-11-20T02:00:05Z'),
      position: { file: '000000010000000000000002', position: 40 },
    });
  });
});
