import type { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { streamCollector } from './collect';
import { partSizeFor, queueSizeFor, type UploadResult } from './parts';

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
  upload.on('httpUploadProgress', () => streamCollector.partDone());
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
