import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { readSegmentManifests } from '../../../contracts/log-chain';
import { type ChainLink, type LogCoordinates, type SegmentManifest, segmentsBetween } from '../../../contracts/logs';
import type { Manifest } from '../../../contracts/vault';
import { streamSha256 } from '../../../contracts/vault-io';
import { startDecompressor } from '../stream/compress';
import { openObject } from '../stream/download';
import { ChecksumMismatchError, HashMeter } from '../stream/hash';

/**
 * The chain drill's vault side: which segments join two full dumps, and fetching them (checksum checked,
 * decompressed) for the replay. The drill task re-plans from the vault rather than taking a segment list
 * through its environment, which ECS caps at 8 KiB of overrides.
 */

/** The chain between two dumps cannot be replayed: a gap, a purged binlog, or a dump without coordinates. */
export class ChainNotReplayableError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'ChainNotReplayableError';
  }
}

/** A segment's bytes do not match its manifest's checksum. */
export class SegmentChecksumError extends ChecksumMismatchError {
  public constructor(segmentId: string, expected: string, actual: string) {
    super(expected, actual);
    this.name = 'SegmentChecksumError';
    this.message = `segment ${segmentId}: ${this.message}`;
  }
}

/** The binlog coordinates a dump's manifest recorded, or a readable refusal naming the dump. */
export function dumpCoordinates(manifest: Manifest): LogCoordinates {
  const file = manifest.position?.binlogFile;
  const position = manifest.position?.binlogPosition;
  if (file === undefined || position === undefined) {
    throw new ChainNotReplayableError(
      `${manifest.backupId} recorded no binlog coordinates (it was dumped without log_bin), so no replay can start or end at it`,
    );
  }
  return { file, position };
}

export interface ChainPlan {
  readonly link: ChainLink;
  readonly manifests: readonly SegmentManifest[];
}

/** The segments from `from`'s coordinates up to `to`'s, with their manifests, in replay order. */
export async function planChain(s3: S3Client, bucket: string, from: Manifest, to: Manifest): Promise<ChainPlan> {
  const start = dumpCoordinates(from);
  const end = dumpCoordinates(to);
  const manifests = await readSegmentManifests(s3, bucket, from.database, 'binlog', new Date(from.startedAt));
  const link = segmentsBetween(start, end, manifests);
  if (!link) {
    throw new ChainNotReplayableError(
      `no intact run of segments joins ${from.backupId} (${start.file}:${start.position}) to ${to.backupId} (${end.file}:${end.position}); the chain is broken between them`,
    );
  }
  const byId = new Map(manifests.map((m) => [m.segmentId, m]));
  return { link, manifests: link.segments.map((s) => byId.get(s.segmentId) as SegmentManifest) };
}

/**
 * Downloads one segment into `directory`, hashing the compressed bytes on the way and decompressing them into
 * a local binlog file. The file is only returned once its checksum matched the manifest's.
 */
export async function fetchSegment(
  s3: S3Client,
  bucket: string,
  manifest: SegmentManifest,
  directory: string,
  /** Sees the meter of the compressed bytes, so a caller's progress line can count them as they come. */
  metered?: (meter: HashMeter) => void,
): Promise<string> {
  const path = join(directory, `${manifest.segmentId}.binlog`);
  const fd = openSync(path, 'w', 0o600);
  try {
    const { body } = await openObject(s3, bucket, manifest.artifact.key);
    const meter = new HashMeter();
    metered?.(meter);
    const zstd = startDecompressor(fd);
    const [piped, decompressed] = await Promise.allSettled([
      pipeline(body, meter, zstd.child.stdin as NodeJS.WritableStream),
      zstd.succeeded(),
    ]);
    if (piped.status === 'rejected' || decompressed.status === 'rejected') {
      // zstd's own frame checksum often trips first on damaged bytes; the manifest's checksum names the cause.
      const { sha256 } = await streamSha256(s3, bucket, manifest.artifact.key);
      if (sha256 !== manifest.artifact.sha256) {
        throw new SegmentChecksumError(manifest.segmentId, manifest.artifact.sha256, sha256);
      }
      throw decompressed.status === 'rejected' ? decompressed.reason : (piped as PromiseRejectedResult).reason;
    }
    const actual = meter.sha256();
    if (actual !== manifest.artifact.sha256) {
      throw new SegmentChecksumError(manifest.segmentId, manifest.artifact.sha256, actual);
    }
  } finally {
    closeSync(fd);
  }
  return path;
}
