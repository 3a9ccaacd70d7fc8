import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC } from '../../../../contracts/metrics';
import type { Plan } from '../../../../contracts/plan';
import { getJson } from '../../../../contracts/vault-io';
import { type BaseBackupManifest, BaseVerificationSchema, baseKeys, LatestBaseSchema, latestBaseKey } from '../../../../contracts/wal';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { backupManifestChecksumProblem, verifyBase } from '../../../../lambdas/backup/verify/base';
import { metricsRecorder, testPlan } from '../../fixtures';
import { baseManifest, ordersWithBases, put, walFile } from '../base-fixtures';

const BUCKET = 'primary';
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A backup_manifest as PostgreSQL writes it: its last line's Manifest-Checksum is the SHA-256 of all lines before it. */
function pgBackupManifest(files: string): Buffer {
  const head = `{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n${files}\n],\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }\n],\n`;
  return Buffer.from(`${head}"Manifest-Checksum": "${sha256(Buffer.from(head))}"}\n`);
}

let s3rver: LocalS3;
const plan: Plan = { ...testPlan(), databases: { ...testPlan().databases, orders: ordersWithBases } };

beforeAll(async () => {
  s3rver = await startS3rver([BUCKET]);
});
afterAll(async () => {
  await s3rver.stop();
});

/** Stores a base whose tar is real zstd and whose backup_manifest is a PostgreSQL one; returns its manifest. */
async function storeBase(finishedAt: Date, options: { tar?: Buffer; backupManifest?: Buffer } = {}): Promise<BaseBackupManifest> {
  const tar = execFileSync('zstd', ['-q', '-c'], { input: Buffer.alloc(64 * 1024, 7) });
  const backupManifest = pgBackupManifest('{ "Path": "PG_VERSION", "Size": 3, "Checksum-Algorithm": "CRC32C", "Checksum": "aabbccdd" }');
  const manifest = baseManifest(
    finishedAt,
    walFile(2),
    { bytes: tar.length, sha256: sha256(tar) },
    { bytes: backupManifest.length, sha256: sha256(backupManifest) },
  );
  const c = s3rver.client();
  await put(c, BUCKET, manifest.artifact.key, options.tar ?? tar);
  await put(c, BUCKET, manifest.backupManifest.key, options.backupManifest ?? backupManifest);
  await put(c, BUCKET, baseKeys.manifest(manifest.baseId), manifest);
  return manifest;
}

function recorder() {
  const { metrics, recorded } = metricsRecorder();
  Object.assign(metrics, {
    addDimensions: () => undefined,
    addMetric: (name: string, unit: string, value: number) => recorded.push({ dimensions: {}, defaultsCleared: false, name, unit, value }),
  });
  return { metrics, recorded };
}

describe('verifyBase against s3rver', () => {
  it('passes a whole base, records every check, and moves the latest-base pointer forward only', async () => {
    // Prepare
    const c = s3rver.client();
    const newer = await storeBase(new Date('2026-11-29T02:05:00Z'));
    const older = await storeBase(new Date('2026-11-28T02:05:00Z'));
    const deps = { s3: c, bucket: BUCKET, plan, decode: false, now: () => new Date('2026-11-29T03:00:00Z') };

    // Act
    const result = await verifyBase({ database: 'orders', baseId: newer.baseId }, deps);
    await verifyBase({ database: 'orders', baseId: older.baseId }, deps);
    const verification = (await getJson(c, BUCKET, baseKeys.verification(newer.baseId), BaseVerificationSchema))?.value;
    const pointer = (await getJson(c, BUCKET, latestBaseKey('orders'), LatestBaseSchema))?.value;

    // Assess
    expect(result).toEqual({ passed: true, method: 'reread', bytes: newer.artifact.bytes, sha256: newer.artifact.sha256 });
    expect(verification).toEqual({
      schemaVersion: 1,
      baseId: newer.baseId,
      passed: true,
      verifiedAt: '2026-11-29T03:00:00.000Z',
      checks: { bytes: true, sha256: true, backupManifest: true },
    });
    expect(pointer).toEqual({
      database: 'orders',
      baseId: newer.baseId,
      finishedAt: newer.finishedAt,
      verifiedAt: '2026-11-29T03:00:00.000Z',
      bytes: newer.artifact.bytes,
    });
  });

  it('fails a base whose tar changed after upload: verification.json says why, VerificationFailed and the breach flag', async () => {
    // Prepare
    const c = s3rver.client();
    const before = (await getJson(c, BUCKET, latestBaseKey('orders'), LatestBaseSchema))?.value;
    const good = execFileSync('zstd', ['-q', '-c'], { input: Buffer.alloc(64 * 1024, 7) });
    const tampered = Buffer.from(good);
    tampered[tampered.length - 5] ^= 0xff;
    const manifest = await storeBase(new Date('2026-11-30T02:05:00Z'), { tar: tampered });
    const { metrics, recorded } = recorder();

    // Act
    const error = await verifyBase(
      { database: 'orders', baseId: manifest.baseId },
      { s3: c, bucket: BUCKET, plan, metrics, decode: false },
    ).catch((e: unknown) => e as Error);
    const verification = (await getJson(c, BUCKET, baseKeys.verification(manifest.baseId), BaseVerificationSchema))?.value;

    // Assess
    expect((error as Error).name).toBe('VerificationError');
    expect((error as Error).message).toContain(`${manifest.baseId} failed verification:\n- artifact sha256 is`);
    expect(verification).toMatchObject({ passed: false, checks: { bytes: true, sha256: false, backupManifest: true } });
    expect(verification?.reason).toMatch(/^artifact sha256 is [0-9a-f]{64} \(reread\), manifest says/);
    expect(recorded.map((m) => m.name)).toEqual(expect.arrayContaining([METRIC.verificationFailed, METRIC.databaseBreach]));
    expect((await getJson(c, BUCKET, latestBaseKey('orders'), LatestBaseSchema))?.value).toEqual(before);
  });

  it('fails a base whose backup_manifest does not match its own Manifest-Checksum', async () => {
    // Prepare
    const c = s3rver.client();
    const body = pgBackupManifest('{ "Path": "PG_VERSION", "Size": 3, "Checksum-Algorithm": "CRC32C", "Checksum": "aabbccdd" }');
    const edited = Buffer.from(body.toString('utf8').replace('"Size": 3', '"Size": 4'));
    const manifest = await storeBase(new Date('2026-11-30T03:05:00Z'), { backupManifest: edited });

    // Act
    const error = await verifyBase({ database: 'orders', baseId: manifest.baseId }, { s3: c, bucket: BUCKET, plan, decode: false }).catch(
      (e: unknown) => e as Error,
    );
    const verification = (await getJson(c, BUCKET, baseKeys.verification(manifest.baseId), BaseVerificationSchema))?.value;

    // Assess
    expect((error as Error).name).toBe('VerificationError');
    expect(verification).toMatchObject({ passed: false, checks: { bytes: true, sha256: true, backupManifest: false } });
    expect((error as Error).message).toMatch(
      /backup_manifest sha256 is .*\n- backup_manifest content hashes to [0-9a-f]{64}, its Manifest-Checksum says/,
    );
  });

  it('fails a base without a manifest with a line that says the backup did not finish', async () => {
    // Act
    const error = await verifyBase(
      { database: 'orders', baseId: 'orders-20261130T040000Z-base' },
      { s3: s3rver.client(), bucket: BUCKET, plan, decode: false },
    ).catch((e: unknown) => e as Error);

    // Assess
    expect((error as Error).message).toBe(
      'orders-20261130T040000Z-base: no manifest at bases/orders/2026/11/30/orders-20261130T040000Z-base/manifest.json; the base backup did not finish, so there is no base to verify',
    );
  });
});

describe('backupManifestChecksumProblem', () => {
  it("accepts PostgreSQL's checksum and names a missing one", () => {
    // Act
    const good = backupManifestChecksumProblem(pgBackupManifest(''));
    const missing = backupManifestChecksumProblem(Buffer.from('{ "PostgreSQL-Backup-Manifest-Version": 1 }\n'));

    // Assess
    expect(good).toBeUndefined();
    expect(missing).toBe('backup_manifest has no Manifest-Checksum; it is not a PostgreSQL 13+ backup manifest');
  });
});
