import { randomBytes } from 'node:crypto';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ReplicationError } from '../../../../contracts/errors';
import { METRICS_NAMESPACE } from '../../../../contracts/metrics';
import { keys } from '../../../../contracts/vault';
import { hexToBase64 } from '../../../../contracts/vault-io';
import { partLayout, replicate } from '../../../../lambdas/backup/replicate/replicate';
import { monitoringPlan } from '../../../infra/constructs/monitoring-plan';
import { s3rverForFile } from '../../../support/engine-vault';
import { manifestFor, putBackup, putRoles, replicationDeps, sha256, zstdCompress } from '../../fixtures';

const s3rver = s3rverForFile('primary', 'replica');

const deps = () => replicationDeps(s3rver, new Date('2026-04-01T10:10:00Z'));

async function verified(backupId: string, artifact: Buffer) {
  const manifest = await putBackup(s3rver.client(), 'primary', backupId, artifact);
  await s3rver.client().send(
    new PutObjectCommand({
      Bucket: 'primary',
      Key: keys.verification(backupId),
      Body: JSON.stringify({
        schemaVersion: 1,
        backupId,
        verified: true,
        verifiedAt: '2026-04-01T10:02:00Z',
        method: 'reread',
        bytes: artifact.length,
        sha256: manifest.artifact.sha256,
        problems: [],
      }),
    }),
  );
  return manifest;
}

async function body(bucket: string, key: string): Promise<Buffer> {
  return Buffer.from(await (await s3rver.client().send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
}

describe('replicate between two s3rver buckets', () => {
  it('copies data, verification and manifest, checks each at the destination, and reports the lag', async () => {
    // Prepare
    const backupId = 'orders-20260401T100000Z-full';
    const artifact = zstdCompress(randomBytes(400_000));
    const manifest = await verified(backupId, artifact);

    // Act
    const result = await replicate({ database: 'orders', backupId }, deps());

    // Assess: the dump finished at 10:01:30, the copy ran at 10:10:00.
    expect(result).toEqual({ bucket: 'replica', copied: 3, alreadyPresent: 0, bytes: expect.any(Number), lagSeconds: 510 });
    expect(sha256(await body('replica', manifest.artifact.key))).toBe(manifest.artifact.sha256);
    expect(JSON.parse((await body('replica', keys.manifest(backupId))).toString()).backupId).toBe(backupId);
  });

  it('is idempotent: a retried execution finds matching copies and copies nothing', async () => {
    // Act
    const again = await replicate({ database: 'orders', backupId: 'orders-20260401T100000Z-full' }, deps());

    // Assess
    expect(again).toMatchObject({ copied: 0, alreadyPresent: 3, bytes: 0 });
  });

  it('replaces a destination that has the right size but the wrong bytes', async () => {
    // Prepare
    const backupId = 'orders-20260401T100000Z-full';
    const key = keys.artifact(backupId, 'pgdump');
    const original = await body('primary', key);
    await s3rver.client().send(new PutObjectCommand({ Bucket: 'replica', Key: key, Body: Buffer.alloc(original.length, 1) }));

    // Act
    const result = await replicate({ database: 'orders', backupId }, deps());

    // Assess
    expect(result).toMatchObject({ copied: 1, alreadyPresent: 2 });
    expect((await body('replica', key)).equals(original)).toBe(true);
  });

  it("copies a PostgreSQL backup's roles artifact with its data, before the manifest", async () => {
    // Prepare
    const backupId = 'orders-20260401T120000Z-full';
    const manifest = await verified(backupId, zstdCompress(randomBytes(10_000)));
    const roles = zstdCompress(Buffer.from('CREATE ROLE app_reader;\n'));
    await putRoles(s3rver.client(), 'primary', manifest, roles);

    // Act
    const result = await replicate({ database: 'orders', backupId }, deps());

    // Assess
    expect(result).toMatchObject({ copied: 4, alreadyPresent: 0 });
    expect(sha256(await body('replica', keys.roles(backupId)))).toBe(sha256(roles));
    expect(JSON.parse((await body('replica', keys.manifest(backupId))).toString()).roles.sha256).toBe(sha256(roles));
  });

  it('refuses to replicate a backup that is not verified', async () => {
    // Prepare
    const backupId = 'orders-20260402T100000Z-full';
    await putBackup(s3rver.client(), 'primary', backupId, zstdCompress(Buffer.from('x')));

    // Act
    const error = await replicate({ database: 'orders', backupId }, deps()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ReplicationError);
    expect((error as Error).message).toContain('verification missing');
  });
});

describe('replicate above the multipart threshold (client mock: s3rver has no UploadPartCopy)', () => {
  it('copies in parallel ranged parts with a full-object CRC64NVME and compares it with the source', async () => {
    // Prepare
    const backupId = 'orders-20260405T100000Z-full';
    const artifact = Buffer.alloc(2500, 7);
    const manifest = manifestFor(backupId, artifact);
    const verification = {
      schemaVersion: 1,
      backupId,
      verified: true,
      verifiedAt: '2026-04-05T10:02:00Z',
      method: 'reread',
      bytes: 2500,
      sha256: manifest.artifact.sha256,
      problems: [],
    };
    const source = new S3Client({ region: 'eu-west-1' });
    const replica = new S3Client({ region: 'eu-central-1' });
    const sourceMock = mockClient(source);
    const replicaMock = mockClient(replica);
    const records: Record<string, string> = {
      [keys.manifest(backupId)]: JSON.stringify(manifest),
      [keys.verification(backupId)]: JSON.stringify(verification),
    };
    const bodyOf = (text: string) =>
      Object.assign(
        (async function* () {
          yield Buffer.from(text);
        })(),
        { transformToString: async () => text },
      );
    sourceMock.on(GetObjectCommand).callsFake((input) => ({ Body: bodyOf(records[input.Key]) }));
    sourceMock.on(HeadObjectCommand).resolves({ ChecksumCRC64NVME: 'AAAAAAAAAAE=', ChecksumType: 'FULL_OBJECT' });
    const seen = new Set<string>();
    replicaMock.on(HeadObjectCommand).callsFake((input) => {
      if (!seen.has(input.Key)) {
        seen.add(input.Key);
        throw Object.assign(new Error('NotFound'), { name: 'NotFound' });
      }
      if (input.Key === manifest.artifact.key) {
        return { ContentLength: 2500, ChecksumCRC64NVME: 'AAAAAAAAAAE=', ChecksumType: 'FULL_OBJECT' };
      }
      const text = records[input.Key];
      return { ContentLength: Buffer.byteLength(text), ChecksumSHA256: hexToBase64(sha256(text)), ChecksumType: 'FULL_OBJECT' };
    });
    replicaMock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
    replicaMock.on(UploadPartCopyCommand).callsFake((input) => ({ CopyPartResult: { ETag: `"e${input.PartNumber}"` } }));
    replicaMock.on(CompleteMultipartUploadCommand).resolves({});
    replicaMock.on(CopyObjectCommand).resolves({});

    // Act
    const result = await replicate(
      { database: 'orders', backupId },
      {
        source,
        replica,
        sourceBucket: 'primary',
        replicaBucket: 'replica',
        replicaKmsKey: 'alias/r',
        multipartThresholdBytes: 1000,
        minPartSizeBytes: 1000,
        partConcurrency: 2,
      },
    );

    // Assess
    expect(replicaMock.commandCalls(CreateMultipartUploadCommand)[0].args[0].input).toMatchObject({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'alias/r',
      ChecksumAlgorithm: 'CRC64NVME',
      ChecksumType: 'FULL_OBJECT',
    });
    expect(replicaMock.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input.CopySourceRange)).toEqual([
      'bytes=0-999',
      'bytes=1000-1999',
      'bytes=2000-2499',
    ]);
    expect(replicaMock.commandCalls(CompleteMultipartUploadCommand)[0].args[0].input.MultipartUpload?.Parts).toHaveLength(3);
    expect(result).toMatchObject({ copied: 3, alreadyPresent: 0 });
    expect(replicaMock.commandCalls(CopyObjectCommand).map((c) => c.args[0].input.Key)).toEqual([
      keys.verification(backupId),
      keys.manifest(backupId),
    ]);
    expect(sourceMock.commandCalls(HeadObjectCommand).some((c) => c.args[0].input.Key === manifest.artifact.key)).toBe(true);
  });

  it('keeps a 5 TB object within 10,000 parts', () => {
    // Act
    const layout = partLayout(5 * 1024 ** 4);

    // Assess
    expect(layout.partCount).toBeLessThanOrEqual(10_000);
    expect(layout.partSize).toBeGreaterThanOrEqual(256 * 1024 ** 2);
  });
});

describe('replicate flags a breach for the tier alarm', () => {
  beforeAll(() => {
    // setup-env.ts sets POWERTOOLS_DEV, which also disables metrics unless they are enabled explicitly.
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  const base = monitoringPlan();
  // orders is critical with a 15-minute RPO: a replica copy later than that could not meet it after a regional loss.
  const plan = { ...base, databases: { laggy: { ...base.databases.orders, name: 'laggy' } } };

  async function replicateAt(backupId: string, at: string): Promise<unknown[]> {
    await verified(backupId, zstdCompress(randomBytes(10_000)));
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    await replicate(
      { database: 'laggy', backupId },
      { ...deps(), now: () => new Date(at), plan, metrics: new Metrics({ namespace: METRICS_NAMESPACE }) },
    );
    const lines = spy.mock.calls.map((call) => JSON.parse(String(call[0])) as Record<string, unknown>);
    spy.mockRestore();
    return lines
      .filter((line) => 'DatabaseBreach' in line)
      .map(({ Database, Tier, DatabaseBreach }) => ({ Database, Tier, DatabaseBreach }));
  }

  it('when the copy lags the dump by more than the RPO, and not within it', async () => {
    // Act: both dumps finished at 10:01:30 (fixtures), copied 8.5 and 18.5 minutes later.
    const inTime = await replicateAt('laggy-20260401T100000Z-full', '2026-04-01T10:10:00Z');
    const late = await replicateAt('laggy-20260402T100000Z-full', '2026-04-02T10:20:00Z');

    // Assess
    expect(inTime).toEqual([]);
    expect(late).toEqual([{ Database: 'laggy', Tier: 'critical', DatabaseBreach: 1 }]);
  });
});
