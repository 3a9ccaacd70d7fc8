import { closeSync, openSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { parseZstdSummary, startMeteredCompressor } from './compress';
import { uploadStream } from './upload';

export interface FileUpload {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly path: string;
  readonly level: number;
  /** For the multipart part size. */
  readonly expectedBytes: number;
}

/** One local log file -> zstd (the file is zstd's stdin) -> SHA-256 -> one object; the upload completes only if zstd exits 0. */
export async function uploadCompressedFile(args: FileUpload): Promise<{ bytes: number; sha256: string; uncompressedBytes: number }> {
  const fd = openSync(args.path, 'r');
  const { zstd, meter } = startMeteredCompressor(args.level, fd);
  closeSync(fd);
  await uploadStream({
    client: args.s3,
    bucket: args.bucket,
    key: args.key,
    body: meter,
    expectedBytes: args.expectedBytes,
  });
  const sizes = parseZstdSummary(zstd.stderr.toString());
  return { bytes: meter.bytes, sha256: meter.sha256(), uncompressedBytes: sizes?.uncompressedBytes ?? 0 };
}
