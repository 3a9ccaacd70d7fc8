import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LocalS3, localS3Client, startS3rver } from '../../../../dev/servers/s3rver';
import { MAX_PARTS, MIB, MIN_PART_SIZE, PART_MEMORY_BUDGET, partSizeFor, queueSizeFor } from '../../../../tasks/src/stream/parts';
import { uploadStream } from '../../../../tasks/src/stream/upload';
import { type MultipartProxy, startMultipartProxy } from '../../s3-multipart-proxy';

describe('multipart sizing', () => {
  it('keeps 8 MiB parts for small databases', () => {
    // Prepare, Act
    const size = partSizeFor(10 * 1024 * MIB);
    // Assess
    expect(size).toBe(MIN_PART_SIZE);
    expect(queueSizeFor(size)).toBe(4);
  });

  it('fits a 5 TB dump into 10,000 parts with bounded memory in flight', () => {
    // Prepare
    const fiveTb = 5 * 1024 ** 4;
    // Act
    const size = partSizeFor(fiveTb);
    // Assess
    expect(Math.ceil(fiveTb / size)).toBeLessThanOrEqual(MAX_PARTS);
    expect(size % MIB).toBe(0);
    expect(queueSizeFor(size) * size).toBeLessThanOrEqual(Math.max(size, 64 * MIB));
  });

  it('keeps the parts in flight within the memory budget while parts fit it, and one part beyond', () => {
    // Prepare
    const sizes = [8, 9, 11, 16, 17, 32, 64, 800].map((mib) => mib * MIB);
    // Act
    const inFlight = sizes.map((size) => queueSizeFor(size) * size);
    // Assess
    expect(inFlight.slice(0, 6).every((bytes) => bytes <= PART_MEMORY_BUDGET)).toBe(true);
    expect(sizes.slice(6).map(queueSizeFor)).toEqual([1, 1]);
    expect(queueSizeFor(16 * MIB)).toBe(2);
  });
});

describe('uploadStream into s3rver, through a proxy that sees the multipart traffic', () => {
  let s3: LocalS3;
  let proxy: MultipartProxy;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startS3rver(['vault']);
    proxy = await startMultipartProxy(s3.endpoint);
    client = localS3Client(proxy.endpoint);
  });
  afterAll(async () => {
    await proxy?.stop();
    await s3?.stop();
  });

  const stored = async (key: string) =>
    Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: 'vault', Key: key }))).Body!.transformToByteArray());

  it('stores a body of several parts byte for byte, the last part short, and leaves no upload open', async () => {
    // Prepare: 2.5 parts, in uneven chunks that straddle the part boundaries
    const body = randomBytes(2 * MIN_PART_SIZE + MIN_PART_SIZE / 2 + 123);
    const chunks = [7, 65_536, 1_000_003, 3];
    const source = Readable.from(
      (function* () {
        let offset = 0;
        for (let i = 0; offset < body.length; i++) {
          const size = chunks[i % chunks.length];
          yield body.subarray(offset, offset + size);
          offset += size;
        }
      })(),
    );
    // Act
    const result = await uploadStream({ client, bucket: 'vault', key: 'multi', body: source, expectedBytes: 0 });
    // Assess
    expect(result).toEqual({ parts: 3, partSizeBytes: MIN_PART_SIZE });
    expect((await stored('multi')).equals(body)).toBe(true);
    expect(proxy.open()).toEqual([]);
  });

  it('stores a body smaller than a part with one PutObject', async () => {
    // Prepare
    const body = randomBytes(1000);
    const before = proxy.aborted.length;
    // Act
    const result = await uploadStream({ client, bucket: 'vault', key: 'single', body: Readable.from([body]), expectedBytes: 0 });
    // Assess
    expect(result.parts).toBe(1);
    expect((await stored('single')).equals(body)).toBe(true);
    expect(proxy.aborted.length).toBe(before);
  });

  it('stores an empty body as an empty object', async () => {
    // Act
    await uploadStream({ client, bucket: 'vault', key: 'empty', body: Readable.from([]), expectedBytes: 0 });
    // Assess
    expect((await stored('empty')).length).toBe(0);
  });

  it('aborts the upload and stores nothing when the body fails after parts were sent', async () => {
    // Prepare
    const source = new PassThrough();
    const upload = uploadStream({ client, bucket: 'vault', key: 'failed', body: source, expectedBytes: 0 });
    source.write(randomBytes(2 * MIN_PART_SIZE + 10));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Act
    source.destroy(new Error('pg_dump was killed by SIGKILL'));
    // Assess
    await expect(upload).rejects.toThrow('pg_dump was killed by SIGKILL');
    expect(proxy.aborted.length).toBeGreaterThan(0);
    expect(proxy.open()).toEqual([]);
    await expect(client.send(new HeadObjectCommand({ Bucket: 'vault', Key: 'failed' }))).rejects.toThrow();
  });

  it('fails, and aborts, when the body is destroyed without an error', async () => {
    // Prepare
    const source = new PassThrough();
    const upload = uploadStream({ client, bucket: 'vault', key: 'closed', body: source, expectedBytes: 0 });
    source.write(randomBytes(MIN_PART_SIZE + 10));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Act
    source.destroy();
    // Assess
    await expect(upload).rejects.toThrow('closed: the stream closed before its end');
    expect(proxy.open()).toEqual([]);
  });

  it('stops reading the body while every part buffer waits on S3, and holds at most queueSize + 1 parts', async () => {
    // Prepare: parts held at the proxy; a body that counts what was pulled from it
    proxy.holdParts();
    const total = 12 * MIN_PART_SIZE;
    let pulled = 0;
    const block = randomBytes(MIB);
    const hash = createHash('sha256');
    const source = Readable.from(
      (function* () {
        while (pulled < total) {
          pulled += block.length;
          hash.update(block);
          yield block;
        }
      })(),
    );
    // Act
    const upload = uploadStream({ client, bucket: 'vault', key: 'held', body: source, expectedBytes: 0 });
    const deadline = Date.now() + 20_000;
    while (proxy.heldParts() < queueSizeFor(MIN_PART_SIZE) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const held = proxy.heldParts();
    const pulledWhileHeld = pulled;
    proxy.releaseParts();
    const result = await upload;
    // Assess: 4 parts in flight, one more filled, and a chunk or so of stream buffering
    expect(held).toBe(queueSizeFor(MIN_PART_SIZE));
    expect(pulledWhileHeld).toBeLessThanOrEqual((queueSizeFor(MIN_PART_SIZE) + 1) * MIN_PART_SIZE + 2 * MIB);
    expect(pulledWhileHeld).toBeLessThan(total);
    expect(result.parts).toBe(12);
    expect(
      createHash('sha256')
        .update(await stored('held'))
        .digest('hex'),
    ).toBe(hash.digest('hex'));
  });
});

describe('uploadStream against the S3 API (client mock: checksums and aborts s3rver does not model)', () => {
  const client = new S3Client({
    region: 'eu-west-1',
    requestChecksumCalculation: 'WHEN_SUPPORTED',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  const s3 = mockClient(client);
  beforeEach(() => s3.reset());

  it('asks for CRC32 part checksums, as lib-storage did, and completes with each part checksum in part order', async () => {
    // Prepare
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
    s3.on(UploadPartCommand).callsFake(async (input: { PartNumber: number }) => {
      // Later parts answer first, so the completion must sort them.
      await new Promise((resolve) => setTimeout(resolve, 30 - 10 * input.PartNumber));
      return { ETag: `"etag-${input.PartNumber}"`, ChecksumCRC32: `crc-${input.PartNumber}` };
    });
    s3.on(CompleteMultipartUploadCommand).resolves({});
    // Act
    const result = await uploadStream({
      client,
      bucket: 'vault',
      key: 'k',
      body: Readable.from([randomBytes(2 * MIN_PART_SIZE + 1)]),
      expectedBytes: 0,
    });
    // Assess
    expect(result.parts).toBe(3);
    expect(s3.commandCalls(CreateMultipartUploadCommand)[0].args[0].input).toMatchObject({
      Bucket: 'vault',
      Key: 'k',
      ChecksumAlgorithm: 'CRC32',
    });
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0].args[0].input.MultipartUpload?.Parts).toEqual(
      [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"etag-${n}"`, ChecksumCRC32: `crc-${n}` })),
    );
  });

  it('aborts the multipart upload with its id and rethrows when a part fails', async () => {
    // Prepare
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-2' });
    s3.on(UploadPartCommand).rejects(new Error('SlowDown: reduce your request rate'));
    s3.on(AbortMultipartUploadCommand).resolves({});
    // Act
    const upload = uploadStream({
      client,
      bucket: 'vault',
      key: 'k',
      body: Readable.from([randomBytes(MIN_PART_SIZE + 1)]),
      expectedBytes: 0,
    });
    // Assess
    await expect(upload).rejects.toThrow('SlowDown');
    expect(s3.commandCalls(AbortMultipartUploadCommand).map((call) => call.args[0].input)).toEqual([
      { Bucket: 'vault', Key: 'k', UploadId: 'up-2' },
    ]);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
  });
});
