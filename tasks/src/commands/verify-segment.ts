import { closeSync, createWriteStream, mkdtempSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SegmentManifest, SegmentVerification } from '../../../contracts/logs';
import { describeBinlog } from '../../../engines/mysql/binlog-archive';
import { startTool } from '../../../engines/tools';
import { zstdErrors } from '../stream/compress';
import { openObject } from '../stream/download';
import { HashMeter } from '../stream/hash';

/**
 * Step 3 of issue 12: a segment's read-back from the vault, after its manifest is written. The backup's Verify
 * runs in Lambda, but the stock-tool parse needs `mariadb-binlog`, which the task image has and Lambda has not,
 * so the archiving task verifies each segment itself, from the stored object rather than its local copy: what
 * a restore will download is what gets checked. Never throws for a bad segment; the record says what failed.
 */
export async function verifySegment(
  s3: S3Client,
  bucket: string,
  manifest: SegmentManifest,
  workDir: string,
  now: () => Date = () => new Date(),
): Promise<SegmentVerification> {
  const directory = mkdtempSync(join(workDir, 'verify-'));
  const checks = { bytes: false, sha256: false, parsed: false, endPosition: false };
  const record = (reason?: string, events?: number): SegmentVerification => ({
    schemaVersion: 1,
    segmentId: manifest.segmentId,
    passed: reason === undefined,
    verifiedAt: now().toISOString(),
    checks,
    ...(events !== undefined && { events }),
    ...(reason !== undefined && { reason }),
  });
  try {
    // Stored bytes first, to a file: a corrupt object still gets its full size and checksum counted, which a
    // zstd that gives up half-way through a stream would cut short.
    const stored = join(directory, 'segment.zst');
    const meter = new HashMeter();
    const { body } = await openObject(s3, bucket, manifest.artifact.key);
    await pipeline(body, meter, createWriteStream(stored));
    checks.bytes = meter.bytes === manifest.artifact.bytes;
    checks.sha256 = meter.sha256() === manifest.artifact.sha256;
    if (!checks.bytes || !checks.sha256) {
      return record(
        `s3://${bucket}/${manifest.artifact.key} holds ${meter.bytes} bytes with SHA-256 ${meter.sha256()}, the manifest says ${manifest.artifact.bytes} bytes with ${manifest.artifact.sha256}`,
      );
    }
    const path = join(directory, 'segment.binlog');
    const out = openSync(path, 'w');
    const input = openSync(stored, 'r');
    const zstd = startTool('zstd', ['-d', '-c', '-q'], { stdin: input, stdout: out });
    closeSync(out);
    closeSync(input);
    try {
      await zstd.succeeded();
    } catch {
      return record(`zstd could not decompress the segment: ${zstdErrors(zstd.stderr.toString()) || 'no message'}`);
    }
    let contents: Awaited<ReturnType<typeof describeBinlog>>;
    try {
      contents = await describeBinlog(path);
    } catch (error) {
      return record(`mariadb-binlog could not parse the segment: ${(error as Error).message.split('\n')[0]}`);
    }
    checks.parsed = contents.events > 0;
    if (!checks.parsed) {
      return record('mariadb-binlog read no event from the segment', 0);
    }
    checks.endPosition = contents.endPosition === manifest.endPosition;
    if (!checks.endPosition) {
      return record(`the last event ends at ${contents.endPosition}, the manifest says ${manifest.endPosition}`, contents.events);
    }
    return record(undefined, contents.events);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
