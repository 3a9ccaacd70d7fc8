import type { ByteSource } from './hash';
import { partSizeFor, type UploadResult } from './parts';

/** The bench's sink: reads everything as fast as it comes and keeps nothing. */
export function discardStream(body: ByteSource, expectedBytes: number): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let ended = false;
    body.on('data', (chunk) => {
      bytes += chunk.length;
    });
    body.once('error', reject);
    // A body destroyed without an error emits neither 'end' nor 'error'.
    body.once('close', () => {
      if (!ended) {
        reject(new Error('the stream closed before its end'));
      }
    });
    body.once('end', () => {
      ended = true;
      const partSize = partSizeFor(expectedBytes);
      resolve({ parts: Math.max(1, Math.ceil(bytes / partSize)), partSizeBytes: partSize });
    });
  });
}
