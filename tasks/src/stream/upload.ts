import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

export const MIB = 1024 * 1024;
export const MIN_PART_SIZE = 8 * MIB;
/** S3's largest part. */
export const MAX_PART_SIZE = 5 * 1024 * MIB;
export const MAX_PARTS = 10_000;
/** Bytes of parts held in memory at once; the upload's share of the task's bounded memory. */
export const PART_MEMORY_BUDGET = 64 * MIB;

/**
 * The part size is fixed when the upload starts, so it comes from an estimate of the dump's size (the
 * engine's own size of the data, which the compressed dump rarely exceeds) with 50% headroom, rounded up to
 * whole MiB: 8 MiB up to ~50 GB, then growing so that 5 TB still fits in 10,000 parts (~800 MiB parts).
 */
export function partSizeFor(expectedBytes: number): number {
  const needed = Math.ceil((Math.max(0, expectedBytes) * 1.5) / MAX_PARTS);
  return Math.min(MAX_PART_SIZE, Math.max(MIN_PART_SIZE, Math.ceil(needed / MIB) * MIB));
}

/** Parts in flight: 4 for small parts, fewer for large ones so memory stays near the budget. */
export function queueSizeFor(partSize: number): number {
  return Math.max(1, Math.min(4, Math.floor(PART_MEMORY_BUDGET / partSize)));
}

export interface UploadResult {
  readonly parts: number;
  readonly partSizeBytes: number;
}

export interface UploadArgs {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly body: Readable;
  readonly expectedBytes: number;
  /** Bytes that went through so far (the hash meter's count; a 'data' listener here would defeat backpressure). */
  readonly bytes: () => number;
}

/**
 * Streams `body` into one object by multipart upload, with backpressure: lib-storage pulls a part at a time
 * and holds at most `queueSize` parts. Any error (the body's included) aborts the multipart upload, so no
 * incomplete upload is left to bill storage.
 */
export async function uploadStream(args: UploadArgs): Promise<UploadResult> {
  const partSize = partSizeFor(args.expectedBytes);
  const upload = new Upload({
    client: args.client,
    params: { Bucket: args.bucket, Key: args.key, Body: args.body, ContentType: 'application/zstd' },
    partSize,
    queueSize: queueSizeFor(partSize),
    leavePartsOnError: false,
  });
  try {
    await upload.done();
  } catch (error) {
    // lib-storage aborts on its own; this second abort covers a failure that raced the upload's creation.
    const uploadId = (upload as unknown as { uploadId?: string }).uploadId;
    if (uploadId) {
      await args.client
        .send(new AbortMultipartUploadCommand({ Bucket: args.bucket, Key: args.key, UploadId: uploadId }))
        .catch(() => undefined);
    }
    throw error;
  }
  return { parts: Math.max(1, Math.ceil(args.bytes() / partSize)), partSizeBytes: partSize };
}

/** The bench's sink: reads everything as fast as it comes and keeps nothing. */
export async function discardStream(body: Readable, expectedBytes: number): Promise<UploadResult> {
  let bytes = 0;
  await pipeline(
    body,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        callback();
      },
    }),
  );
  const partSize = partSizeFor(expectedBytes);
  return { parts: Math.max(1, Math.ceil(bytes / partSize)), partSizeBytes: partSize };
}
