/**
 * Multipart sizing, apart from the upload itself so that the null sink and the tests do not load the AWS SDK.
 */
export const MIB = 1024 * 1024;
export const MIN_PART_SIZE = 8 * MIB;
/** S3's largest part. */
export const MAX_PART_SIZE = 5 * 1024 * MIB;
export const MAX_PARTS = 10_000;
/**
 * Bytes of parts in flight at once; the upload's share of the task's bounded memory. uploadStream holds one
 * more part while it fills, in a pool of part buffers that are reused, so a backup's part buffers are at most
 * budget + 1 part: 40 MiB at 8 MiB parts (databases up to ~55 GB), 48 MiB at 16 MiB parts (~110 GB); beyond
 * that a single part in flight, and the memory, grow with the database. Lowering part sizes instead would
 * lower the largest object the task can upload (partSizeFor keeps 5 TB).
 */
export const PART_MEMORY_BUDGET = 32 * MIB;

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
