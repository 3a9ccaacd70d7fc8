import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { partSizeFor, type UploadResult } from './parts';

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
