import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { SegmentVerification } from '../../../../contracts/logs';
import { keys } from '../../../../contracts/vault';
import { listObjects } from '../../../../contracts/vault-io';
import { baseKeys } from '../../../../contracts/wal';
import { replicateBase } from '../../../../lambdas/backup/replicate/bases';
import { replicateSegments } from '../../../../lambdas/backup/replicate/segments';
import { s3rverForFile } from '../../../support/engine-vault';
import { replicationDeps, sha256 } from '../../fixtures';
import { baseManifest, put, putBase, putWal, walFile } from '../base-fixtures';

const NOW = new Date('2026-11-30T12:00:00Z');

const s3rver = s3rverForFile('primary', 'replica');

const deps = () => replicationDeps(s3rver, NOW);

async function keysIn(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of listObjects(s3, bucket, prefix)) {
    found.push(object.key);
  }
  return found.sort();
}

describe('replicateBase against s3rver', () => {
  it('copies a verified base whole, manifest last, and copies nothing again on a retry', async () => {
    // Prepare
    const c = s3rver.client();
    const tar = randomBytes(3_000);
    const manifest = baseManifest(
      new Date(NOW.getTime() - 600_000),
      walFile(2),
      { bytes: tar.length, sha256: sha256(tar) },
      { bytes: 2, sha256: sha256(Buffer.from('{}')) },
    );
    const baseId = await putBase(c, 'primary', manifest, true);
    await put(c, 'primary', manifest.artifact.key, tar);
    const copies: string[] = [];
    const watched = s3rver.client();
    watched.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CopyObjectCommand') {
          copies.push((args.input as { Key: string }).Key);
        }
        return next(args);
      },
      { step: 'initialize' },
    );

    // Act
    const first = await replicateBase({ database: 'orders', baseId }, { ...deps(), replica: watched });
    const retry = await replicateBase({ database: 'orders', baseId }, { ...deps(), replica: watched });

    // Assess
    expect(first).toEqual({ bucket: 'replica', copied: 4, alreadyPresent: 0, bytes: expect.any(Number), lagSeconds: 600 });
    expect(retry).toMatchObject({ copied: 0, alreadyPresent: 4 });
    expect(copies).toEqual([manifest.artifact.key, manifest.backupManifest.key, baseKeys.verification(baseId), baseKeys.manifest(baseId)]);
    expect(await keysIn(c, 'replica', 'bases/orders/')).toEqual(await keysIn(c, 'primary', `bases/orders/`));
  });

  it('refuses a base that failed verification, and copies none of it', async () => {
    // Prepare
    const c = s3rver.client();
    const manifest = baseManifest(new Date(NOW.getTime() - 300_000), walFile(3), { bytes: 3, sha256: sha256(Buffer.from('tar')) });
    const baseId = await putBase(c, 'primary', manifest, false);

    // Act
    const error = await replicateBase({ database: 'orders', baseId }, deps()).catch((e: unknown) => e as Error);

    // Assess
    expect((error as Error).name).toBe('ReplicationError');
    expect((error as Error).message).toBe(
      `${baseId}: refusing to replicate a base that is not verified (manifest present, verification passed=false)`,
    );
    expect((await keysIn(c, 'replica', 'bases/orders/')).filter((key) => key.includes(baseId))).toEqual([]);
  });
});

describe('replicateSegments with WAL', () => {
  it('copies verified WAL segments (kind wal) like binlog ones, manifest last', async () => {
    // Prepare
    const c = s3rver.client();
    const segmentId = await putWal(c, 'primary', walFile(7), new Date(NOW.getTime() - 3_600_000));
    const verification: SegmentVerification = {
      schemaVersion: 1,
      segmentId,
      passed: true,
      verifiedAt: NOW.toISOString(),
      checks: { bytes: true, sha256: true, parsed: true, endPosition: true },
    };
    await put(c, 'primary', keys.segmentVerification(segmentId), verification);
    // Act
    const result = await replicateSegments('orders', deps());

    // Assess
    expect(result).toMatchObject({ copied: 1, unverified: [] });
    expect(await keysIn(c, 'replica', 'logs/orders/wal/')).toEqual(
      [keys.segmentData(segmentId), keys.segmentManifest(segmentId), keys.segmentVerification(segmentId)].sort(),
    );
  });
});
