import { randomBytes } from 'node:crypto';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { VerificationError } from '../../../../contracts/errors';
import { METRICS_NAMESPACE, SIZE_DROP_PERCENT } from '../../../../contracts/metrics';
import { keys, LatestVerifiedSchema, VerificationSchema } from '../../../../contracts/vault';
import { hexToBase64 } from '../../../../contracts/vault-io';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { verify } from '../../../../lambdas/backup/verify/verify';
import { ZstdFrameChecker } from '../../../../lambdas/backup/verify/zstd-frames';
import { monitoringPlan } from '../../../infra/constructs/monitoring-plan';
import { manifestFor, putBackup, putRoles, zstdCompress } from '../../fixtures';

const BUCKET = 'vault';
let s3rver: LocalS3;
beforeAll(async () => {
  s3rver = await startS3rver([BUCKET]);
});
afterAll(async () => {
  await s3rver.stop();
});

async function readJson(key: string): Promise<unknown> {
  const response = await s3rver.client().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return JSON.parse(await response.Body!.transformToString());
}

describe('verify against s3rver (re-read path: s3rver stores no checksums)', () => {
  it('verifies a real zstd artifact, writes verification.json and moves the latest-verified pointer', async () => {
    // Prepare
    const backupId = 'orders-20260401T100000Z-full';
    const artifact = zstdCompress(randomBytes(700_000));
    await putBackup(s3rver.client(), BUCKET, backupId, artifact);

    // Act
    const result = await verify(
      { database: 'orders', backupId },
      { s3: s3rver.client(), bucket: BUCKET, now: () => new Date('2026-04-01T10:05:00Z') },
    );

    // Assess
    expect(result).toMatchObject({ verified: true, method: 'reread', bytes: artifact.length });
    const record = VerificationSchema.parse(await readJson(keys.verification(backupId)));
    expect(record).toMatchObject({ verified: true, problems: [], method: 'reread' });
    expect(LatestVerifiedSchema.parse(await readJson(keys.latestVerified('orders')))).toMatchObject({ backupId, bytes: artifact.length });
  });

  it('does not move the pointer back for a late verification of an older backup', async () => {
    // Prepare
    const older = 'orders-20260331T100000Z-full';
    await putBackup(s3rver.client(), BUCKET, older, zstdCompress(Buffer.from('older')));

    // Act
    await verify({ database: 'orders', backupId: older }, { s3: s3rver.client(), bucket: BUCKET });

    // Assess
    expect(LatestVerifiedSchema.parse(await readJson(keys.latestVerified('orders'))).backupId).toBe('orders-20260401T100000Z-full');
  });

  it('records a checksum mismatch with verified:false and fails with VerificationError', async () => {
    // Prepare
    const backupId = 'orders-20260402T100000Z-full';
    const artifact = zstdCompress(Buffer.from('payload '.repeat(1000)));
    const manifest = manifestFor(backupId, artifact);
    await putBackup(s3rver.client(), BUCKET, backupId, artifact, {
      ...manifest,
      artifact: { ...manifest.artifact, sha256: 'f'.repeat(64) },
    });

    // Act
    const error = await verify({ database: 'orders', backupId }, { s3: s3rver.client(), bucket: BUCKET }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(VerificationError);
    expect((error as Error).message).toContain('manifest says ffff');
    expect(VerificationSchema.parse(await readJson(keys.verification(backupId)))).toMatchObject({ verified: false, method: 'reread' });
  });

  it('catches a truncated upload whose size still matches its manifest', async () => {
    // Prepare
    const backupId = 'orders-20260403T100000Z-full';
    const truncated = zstdCompress(randomBytes(300_000)).subarray(0, 200_000);
    await putBackup(s3rver.client(), BUCKET, backupId, Buffer.from(truncated));

    // Act
    const error = await verify({ database: 'orders', backupId }, { s3: s3rver.client(), bucket: BUCKET }).catch((e: unknown) => e);

    // Assess
    expect((error as Error).message).toMatch(/truncated/);
  });

  it("verifies a PostgreSQL backup's roles artifact with it, and fails the backup when that artifact is missing or corrupt", async () => {
    // Prepare
    const [good, gone, bad] = ['orders-20260405T100000Z-full', 'orders-20260405T110000Z-full', 'orders-20260405T120000Z-full'];
    const roles = zstdCompress(Buffer.from('CREATE ROLE app_reader;\nALTER ROLE app_reader WITH NOLOGIN;\n'));
    for (const backupId of [good, gone, bad]) {
      const manifest = await putBackup(s3rver.client(), BUCKET, backupId, zstdCompress(Buffer.from(`dump of ${backupId}`)));
      await putRoles(s3rver.client(), BUCKET, manifest, roles);
    }
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await s3rver.client().send(new DeleteObjectCommand({ Bucket: BUCKET, Key: keys.roles(gone) }));
    const flipped = Buffer.from(roles);
    flipped[flipped.length - 5] ^= 0xff;
    await s3rver.client().send(new PutObjectCommand({ Bucket: BUCKET, Key: keys.roles(bad), Body: flipped }));
    const run = (backupId: string) =>
      verify({ database: 'orders', backupId }, { s3: s3rver.client(), bucket: BUCKET }).catch((e: unknown) => e as Error);

    // Act
    const verified = await run(good);
    const missing = await run(gone);
    const corrupt = await run(bad);

    // Assess
    expect(verified).toMatchObject({ verified: true });
    expect(missing).toBeInstanceOf(VerificationError);
    expect((missing as Error).message).toContain(`- roles artifact ${keys.roles(gone)} does not exist`);
    expect(corrupt).toBeInstanceOf(VerificationError);
    expect((corrupt as Error).message).toMatch(/- roles artifact sha256 is [a-f0-9]{64} \(reread\), manifest says/);
    expect(VerificationSchema.parse(await readJson(keys.verification(bad)))).toMatchObject({ verified: false });
  });

  it('fails when there is no manifest, without inventing a verification record', async () => {
    // Prepare
    const backupId = 'orders-20260404T100000Z-full';
    await s3rver.client().send(new PutObjectCommand({ Bucket: BUCKET, Key: keys.artifact(backupId, 'pgdump'), Body: 'x' }));

    // Act
    const error = await verify({ database: 'orders', backupId }, { s3: s3rver.client(), bucket: BUCKET }).catch((e: unknown) => e);

    // Assess
    expect((error as Error).message).toContain('no manifest');
    expect(await readJson(keys.verification(backupId)).catch((e: Error) => e.name)).toBe('NoSuchKey');
  });
});

describe('verify with S3 full-object checksums (client mock: s3rver has none)', () => {
  it('uses the stored SHA-256 and reads only the first four bytes', async () => {
    // Prepare
    const backupId = 'orders-20260405T100000Z-full';
    const artifact = zstdCompress(Buffer.from('stored checksum'));
    const manifest = manifestFor(backupId, artifact);
    const s3 = new S3Client({ region: 'eu-west-1' });
    const mock = mockClient(s3);
    mock
      .on(GetObjectCommand, { Key: keys.manifest(backupId) })
      .resolves({ Body: { transformToString: async () => JSON.stringify(manifest) } as never });
    mock
      .on(GetObjectCommand, { Key: manifest.artifact.key, Range: 'bytes=0-3' })
      .resolves({ Body: { transformToByteArray: async () => artifact.subarray(0, 4) } as never });
    mock.on(GetObjectCommand, { Key: keys.latestVerified('orders') }).rejects(Object.assign(new Error('nope'), { name: 'NoSuchKey' }));
    mock
      .on(HeadObjectCommand)
      .resolves({ ContentLength: artifact.length, ChecksumSHA256: hexToBase64(manifest.artifact.sha256), ChecksumType: 'FULL_OBJECT' });
    mock.on(PutObjectCommand).resolves({});

    // Act
    const result = await verify({ database: 'orders', backupId }, { s3, bucket: BUCKET });

    // Assess
    expect(result.method).toBe('s3-checksum');
    const gets = mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input);
    expect(gets.filter((g) => g.Key === manifest.artifact.key)).toEqual([
      { Bucket: BUCKET, Key: manifest.artifact.key, Range: 'bytes=0-3' },
    ]);
  });
});

describe('ZstdFrameChecker', () => {
  it('accepts concatenated frames fed byte by byte and rejects trailing garbage', () => {
    // Prepare
    const data = Buffer.concat([zstdCompress(Buffer.from('a'.repeat(5000))), zstdCompress(randomBytes(200_000))]);
    const good = new ZstdFrameChecker();
    const bad = new ZstdFrameChecker();

    // Act
    for (const byte of data) good.push(Uint8Array.of(byte));
    bad.push(Buffer.concat([data, Buffer.from('garbage!')]));

    // Assess
    expect(good.finish()).toBeUndefined();
    expect(good.frames).toBe(2);
    expect(bad.finish()).toMatch(/expected a zstd frame/);
  });
});

describe('verify flags a breach for the tier alarm', () => {
  beforeAll(() => {
    // setup-env.ts sets POWERTOOLS_DEV, which also disables metrics unless they are enabled explicitly.
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  });
  afterAll(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  const base = monitoringPlan();
  const plan = { ...base, databases: { sizes: { ...base.databases.orders, name: 'sizes' } } };

  /** Verifies one backup of `bytes` random (incompressible) bytes and returns the breach flags it published. */
  async function verifyOf(backupId: string, bytes: number, corrupt = false): Promise<unknown[]> {
    const artifact = zstdCompress(randomBytes(bytes));
    const manifest = manifestFor(backupId, artifact);
    await putBackup(
      s3rver.client(),
      BUCKET,
      backupId,
      artifact,
      corrupt ? { ...manifest, artifact: { ...manifest.artifact, sha256: '0'.repeat(64) } } : manifest,
    );
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    await verify(
      { database: 'sizes', backupId },
      { s3: s3rver.client(), bucket: BUCKET, plan, metrics: new Metrics({ namespace: METRICS_NAMESPACE }) },
    ).catch((error: unknown) => {
      if (!(error instanceof VerificationError)) {
        throw error;
      }
    });
    const lines = spy.mock.calls.map((call) => JSON.parse(String(call[0])) as Record<string, unknown>);
    spy.mockRestore();
    return lines
      .filter((line) => 'DatabaseBreach' in line)
      .map(({ Database, Tier, DatabaseBreach }) => ({ Database, Tier, DatabaseBreach }));
  }

  it(`when the new verified backup is more than ${SIZE_DROP_PERCENT}% smaller than the previous one, and not for a smaller shrink`, async () => {
    // Prepare
    await verifyOf('sizes-20260501T100000Z-full', 400_000);

    // Act
    const halved = await verifyOf('sizes-20260502T100000Z-full', 100_000);
    const slightly = await verifyOf('sizes-20260503T100000Z-full', 90_000);

    // Assess
    expect(halved).toEqual([{ Database: 'sizes', Tier: 'critical', DatabaseBreach: 1 }]);
    expect(slightly).toEqual([]);
  });

  it('when verification fails', async () => {
    // Act
    const flags = await verifyOf('sizes-20260504T100000Z-full', 90_000, true);

    // Assess
    expect(flags).toEqual([{ Database: 'sizes', Tier: 'critical', DatabaseBreach: 1 }]);
  });
});
