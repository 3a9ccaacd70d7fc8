import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { ByteSource } from './hash';
import { MAX_PARTS, partSizeFor, queueSizeFor, type UploadResult } from './parts';

export interface UploadArgs {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  /** Each chunk is copied into a part before its 'data' listener returns, so a source may reuse its buffer. */
  readonly body: ByteSource;
  readonly expectedBytes: number;
}

/** The dump outgrew the part size chosen from its estimate before the upload began. */
export class PartLimitExceededError extends Error {
  public constructor(key: string, partSize: number) {
    super(
      `${key}: the upload reached S3's ${MAX_PARTS} parts of ${partSize} bytes; the dump is far larger than the database's own size ` +
        'estimate, from which the part size is chosen. Check the database size the engine reports, then back up again',
    );
    this.name = 'PartLimitExceededError';
  }
}

/**
 * Streams `body` into one object by multipart upload (one PutObject when it fits one part), with backpressure.
 *
 * Parts are copied into a fixed pool of `queueSize + 1` part buffers that are reused, never freed: a part's
 * buffer returns to the pool once its UploadPart has settled. With lib-storage, each part was a fresh
 * `Buffer.concat` whose memory came back only when a collection found it dead; it stayed referenced until its
 * uploader took the next part, so a collection after each part missed it, and a 1 GB backup to s3rver peaked
 * anywhere from 47 to 78 MB of ArrayBuffers (120-152 MB RSS). The pool bounds them at `(queueSize + 1) x partSize`.
 *
 * Any failure (the body's included) waits for the parts in flight and aborts the multipart upload, so no
 * incomplete upload is left to bill storage, and nothing is completed.
 */
export function uploadStream(args: UploadArgs): Promise<UploadResult> {
  const partSize = partSizeFor(args.expectedBytes);
  const queueSize = queueSizeFor(partSize);
  const { client, bucket, key } = args;
  // Not awaited here: the body's listeners are attached before anything yields, or an error the body emitted
  // meanwhile would find no listener.
  const checksum = Promise.resolve(client.config.requestChecksumCalculation()).then((mode) =>
    mode === 'WHEN_SUPPORTED' ? ChecksumAlgorithm.CRC32 : undefined,
  );
  // Its failure surfaces in the first request that awaits it.
  checksum.catch(() => undefined);

  const free: Buffer[] = [];
  let allocated = 0;
  const takeBuffer = (): Buffer | undefined => {
    if (free.length > 0) {
      return free.pop();
    }
    if (allocated < queueSize + 1) {
      allocated++;
      return Buffer.allocUnsafeSlow(partSize);
    }
    return undefined;
  };

  let current: Buffer | undefined;
  let filled = 0;
  let partNumber = 0;
  let uploadId: Promise<string> | undefined;
  const inFlight = new Set<Promise<void>>();
  const parts: CompletedPart[] = [];
  let failure: unknown;
  let waiting: Buffer | undefined;

  const createUpload = () => {
    uploadId ??= checksum
      .then((algorithm) =>
        client.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'application/zstd', ChecksumAlgorithm: algorithm }),
        ),
      )
      .then((created) => {
        if (!created.UploadId) {
          throw new Error(`${key}: CreateMultipartUpload returned no UploadId`);
        }
        return created.UploadId;
      });
    return uploadId;
  };

  return new Promise<UploadResult>((resolve, reject) => {
    const fail = (error: unknown) => {
      if (failure !== undefined) {
        return;
      }
      failure = error;
      args.body.pause();
      Promise.allSettled([...inFlight])
        .then(async () => {
          const id = uploadId ? await uploadId.catch(() => undefined) : undefined;
          if (id) {
            await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: id })).catch(() => undefined);
          }
        })
        .finally(() => reject(failure));
    };

    /** Full parts waiting for one of the `queueSize` uploads in flight to settle. */
    const ready: { buffer: Buffer; length: number; number: number }[] = [];

    const dispatch = (buffer: Buffer, length: number) => {
      partNumber++;
      if (partNumber > MAX_PARTS) {
        fail(new PartLimitExceededError(key, partSize));
        return;
      }
      ready.push({ buffer, length, number: partNumber });
      sendReady();
    };

    const sendReady = () => {
      while (ready.length > 0 && inFlight.size < queueSize && failure === undefined) {
        const { buffer, length, number } = ready.shift() as (typeof ready)[number];
        const sent = createUpload()
          .then(async (id) =>
            client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: id,
                PartNumber: number,
                Body: buffer.subarray(0, length),
                ChecksumAlgorithm: await checksum,
              }),
            ),
          )
          .then((result) => {
            if (!result.ETag) {
              throw new Error(`${key}: UploadPart ${number} returned no ETag`);
            }
            parts.push({
              PartNumber: number,
              ETag: result.ETag,
              ...(result.ChecksumCRC32 ? { ChecksumCRC32: result.ChecksumCRC32 } : {}),
              ...(result.ChecksumCRC32C ? { ChecksumCRC32C: result.ChecksumCRC32C } : {}),
              ...(result.ChecksumSHA1 ? { ChecksumSHA1: result.ChecksumSHA1 } : {}),
              ...(result.ChecksumSHA256 ? { ChecksumSHA256: result.ChecksumSHA256 } : {}),
            });
          });
        const settled: Promise<void> = sent.then(
          () => {
            inFlight.delete(settled);
            free.push(buffer);
            sendReady();
            if (waiting && failure === undefined) {
              // The body was paused on a full part with no buffer to go on with.
              const chunk = waiting;
              waiting = undefined;
              write(chunk);
              if (!waiting) {
                args.body.resume();
              }
            }
          },
          (error: unknown) => {
            inFlight.delete(settled);
            fail(error);
          },
        );
        inFlight.add(settled);
      }
    };

    /** Copies `chunk` into parts; pauses the body, keeping the rest of the chunk, when no part buffer is free. */
    const write = (chunk: Buffer) => {
      let offset = 0;
      while (offset < chunk.length) {
        if (!current) {
          current = takeBuffer();
          filled = 0;
          if (!current) {
            waiting = chunk.subarray(offset);
            args.body.pause();
            return;
          }
        }
        const copied = chunk.copy(current, filled, offset);
        filled += copied;
        offset += copied;
        if (filled === partSize) {
          const full = current;
          current = undefined;
          dispatch(full, partSize);
        }
      }
    };

    const finish = async () => {
      if (partNumber === 0) {
        // Everything fits one part: a single PutObject, as lib-storage did.
        const body = current ? current.subarray(0, filled) : Buffer.alloc(0);
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentType: 'application/zstd',
            ChecksumAlgorithm: await checksum,
          }),
        );
        return { parts: 1, partSizeBytes: partSize };
      }
      if (current && filled > 0) {
        dispatch(current, filled);
        current = undefined;
      }
      while (inFlight.size > 0) {
        await Promise.all([...inFlight]);
      }
      if (failure !== undefined) {
        throw failure;
      }
      parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      await client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: await createUpload(), MultipartUpload: { Parts: parts } }),
      );
      return { parts: parts.length, partSizeBytes: partSize };
    };

    args.body.on('data', (chunk: Buffer) => {
      if (failure === undefined) {
        write(chunk);
      }
    });
    args.body.on('error', fail);
    let ended = false;
    // A body destroyed without an error emits neither 'end' nor 'error'.
    args.body.once('close', () => {
      if (!ended) {
        fail(new Error(`${key}: the stream closed before its end`));
      }
    });
    args.body.once('end', () => {
      ended = true;
      if (failure !== undefined) {
        return;
      }
      finish().then(resolve, (error: unknown) => {
        if (failure === undefined) {
          fail(error);
        }
      });
    });
  });
}
