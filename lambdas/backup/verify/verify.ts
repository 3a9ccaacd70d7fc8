import { createHash } from 'node:crypto';
import type { Readable, Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { GetObjectCommand, HeadObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { VerificationError } from '../../../contracts/errors';
import { breachTarget, METRIC, publishBreach, SIZE_DROP_PERCENT } from '../../../contracts/metrics';
import type { BackupRef, VerifyResult } from '../../../contracts/payloads/backup';
import type { Plan } from '../../../contracts/plan';
import { keys, LatestVerifiedSchema, type Manifest, ManifestSchema, parseBackupId, type Verification } from '../../../contracts/vault';
import { base64ToHex, getJson, isNotFound, putJson, RecordFormatError } from '../../../contracts/vault-io';
import { hasZstdMagic, ZstdFrameChecker } from './zstd-frames';

/** zlib's zstd decoder exists from Node 22.15 (the Lambda runtime), not on older local Node versions. */
const zstdDecompress = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;

export interface VerifyDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly now?: () => Date;
  readonly metrics?: Metrics;
  /** The plan, for the database's tier on the breach flag (a failed verification, a size drop). */
  readonly plan?: Plan;
  /** Decode the zstd stream while re-reading; on by default where Node's zlib has zstd (22.15+). */
  readonly decode?: boolean;
}

/**
 * Establishes that a backup is what its manifest says, then records the verdict in verification.json (and, when
 * good, moves `index/<db>/latest-verified.json`). A bad backup still gets its verification.json, with
 * `verified: false`, so Retain treats it as a leftover, and then fails the execution.
 */
export async function verify(ref: BackupRef, deps: VerifyDeps): Promise<VerifyResult> {
  const now = deps.now ?? (() => new Date());
  let manifest: Manifest;
  try {
    const record = await getJson(deps.s3, deps.bucket, keys.manifest(ref.backupId), ManifestSchema);
    if (!record) {
      throw new VerificationError(
        `${ref.backupId}: no manifest at ${keys.manifest(ref.backupId)}; the dump did not finish, so there is no backup to verify`,
      );
    }
    manifest = record.value;
  } catch (error) {
    if (error instanceof RecordFormatError) {
      throw fail(deps, ref, `${ref.backupId}: the manifest cannot be read: ${error.message}`);
    }
    throw error;
  }

  const problems: string[] = [];
  if (manifest.backupId !== ref.backupId) {
    problems.push(`manifest names backup ${manifest.backupId}, expected ${ref.backupId}`);
  }
  const expectedKey = keys.artifact(ref.backupId, manifest.artifact.format);
  if (manifest.artifact.key !== expectedKey) {
    problems.push(`manifest artifact key is ${manifest.artifact.key}, expected ${expectedKey}`);
  }

  const artifact = await checkStored(deps, expectedKey, manifest.artifact, 'artifact');
  problems.push(...artifact.problems);
  const { method, bytes, sha256 } = artifact;
  // PostgreSQL's roles artifact is part of the backup: a restore that creates roles reads it.
  if (manifest.roles) {
    const rolesKey = keys.roles(ref.backupId);
    if (manifest.roles.key !== rolesKey) {
      problems.push(`manifest roles key is ${manifest.roles.key}, expected ${rolesKey}`);
    }
    problems.push(...(await checkStored(deps, rolesKey, manifest.roles, 'roles artifact')).problems);
  }

  const verifiedAt = now();
  const record: Verification = {
    schemaVersion: 1,
    backupId: ref.backupId,
    verified: problems.length === 0,
    verifiedAt: verifiedAt.toISOString(),
    method,
    bytes,
    sha256,
    problems,
  };
  await putJson(deps.s3, deps.bucket, keys.verification(ref.backupId), record);
  if (!record.verified) {
    throw fail(deps, ref, `${ref.backupId} failed verification:\n${problems.map((p) => `- ${p}`).join('\n')}`, manifest.engine.name);
  }
  await advanceLatestVerified(deps, ref, verifiedAt, bytes);
  return { verified: true, method, bytes, sha256 };
}

export interface StoredCheck {
  readonly method: Verification['method'];
  readonly bytes: number;
  readonly sha256: string;
  readonly problems: string[];
}

/**
 * One stored zstd object against the manifest's size and SHA-256: it exists, starts like zstd, and hashes right
 * (the stored full-object checksum, else one streamed re-read). Base backups' tars are checked with it too.
 */
export async function checkStored(
  deps: VerifyDeps,
  key: string,
  expected: { readonly bytes: number; readonly sha256: string },
  label: string,
): Promise<StoredCheck> {
  const problems: string[] = [];
  let head: HeadObjectCommandOutput | undefined;
  try {
    head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key, ChecksumMode: 'ENABLED' }));
  } catch (error) {
    if (!isNotFound(error)) {
      throw error;
    }
    problems.push(`${label} ${key} does not exist`);
  }
  let method: Verification['method'] = 'reread';
  let bytes = expected.bytes;
  let sha256 = expected.sha256;
  if (head) {
    bytes = head.ContentLength ?? 0;
    if (bytes !== expected.bytes) {
      problems.push(`${label} is ${bytes} bytes, manifest says ${expected.bytes}`);
    }
    const magic = await readHead(deps.s3, deps.bucket, key, bytes);
    if (!hasZstdMagic(magic)) {
      problems.push(`${label} does not start with the zstd magic number 28 B5 2F FD`);
    }
    const stored = fullObjectSha256(head);
    if (stored) {
      method = 's3-checksum';
      sha256 = stored;
    } else {
      const reread = await rereadArtifact(deps.s3, deps.bucket, key, deps.decode ?? zstdDecompress !== undefined);
      sha256 = reread.sha256;
      if (reread.bytes !== bytes) {
        problems.push(`re-read ${reread.bytes} bytes${label === 'artifact' ? '' : ` of the ${label}`}, the object reports ${bytes}`);
      }
      if (reread.problem) {
        problems.push(label === 'artifact' ? reread.problem : `${label}: ${reread.problem}`);
      }
    }
    if (sha256 !== expected.sha256) {
      problems.push(`${label} sha256 is ${sha256} (${method}), manifest says ${expected.sha256}`);
    }
  }
  return { method, bytes, sha256, problems };
}

/** A failed verification: VerificationFailed and the breach flag (base backups' Verify alarms the same way). */
export function fail(deps: VerifyDeps, ref: Pick<BackupRef, 'database'>, message: string, engine?: string): VerificationError {
  if (deps.metrics) {
    deps.metrics.addDimensions({ Database: ref.database, Engine: engine ?? 'unknown' });
    deps.metrics.addMetric(METRIC.verificationFailed, 'Count', 1);
  }
  flagBreach(deps, ref);
  return new VerificationError(message);
}

/**
 * The stored checksum counts only when it is a SHA-256 of the whole object: a multipart upload's composite
 * checksum ("<base64>-<parts>", ChecksumType COMPOSITE) is a hash of part hashes and cannot be compared with
 * the manifest, so that case re-reads.
 */
function fullObjectSha256(head: HeadObjectCommandOutput): string | undefined {
  const value = head.ChecksumSHA256;
  if (!value || value.includes('-') || head.ChecksumType === 'COMPOSITE') {
    return undefined;
  }
  return base64ToHex(value);
}

async function readHead(s3: S3Client, bucket: string, key: string, size: number): Promise<Uint8Array> {
  if (size < 4) {
    return new Uint8Array();
  }
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-3' }));
  return (await response.Body!.transformToByteArray()).slice(0, 4);
}

/** One streamed pass: SHA-256, the zstd frame walk, and (where available) a full decode to the end. */
async function rereadArtifact(
  s3: S3Client,
  bucket: string,
  key: string,
  decode: boolean,
): Promise<{ sha256: string; bytes: number; problem?: string }> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  const frames = new ZstdFrameChecker();
  const decoder = decode && zstdDecompress ? zstdDecompress() : undefined;
  let decodeProblem: string | undefined;
  const decoded = decoder
    ? new Promise<void>((resolve) => {
        decoder.on('data', () => undefined);
        decoder.on('end', () => resolve());
        decoder.on('error', (error: Error) => {
          decodeProblem = `zstd decode failed: ${error.message}`;
          resolve();
        });
      })
    : Promise.resolve();
  let bytes = 0;
  for await (const chunk of response.Body as Readable) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    frames.push(buffer);
    bytes += buffer.length;
    if (decoder && !decodeProblem && !decoder.write(buffer)) {
      await new Promise((resolve) => decoder.once('drain', resolve));
    }
  }
  decoder?.end();
  await decoded;
  const problem = frames.finish() ?? decodeProblem;
  return { sha256: hash.digest('hex'), bytes, ...(problem ? { problem } : {}) };
}

function flagBreach(deps: VerifyDeps, ref: Pick<BackupRef, 'database'>): void {
  const target = breachTarget(deps.plan, ref.database);
  if (deps.metrics && target) {
    publishBreach(deps.metrics, target, true);
  }
}

/**
 * Moves the pointer forward only: a late verification of an older backup never hides a newer one. The pointer
 * it replaces holds the previous verified size, so a shrink beyond SIZE_DROP_PERCENT is flagged here: an empty
 * or truncated dump verifies against its own manifest, and only the comparison shows it.
 */
async function advanceLatestVerified(deps: VerifyDeps, ref: BackupRef, verifiedAt: Date, bytes: number): Promise<void> {
  const key = keys.latestVerified(ref.database);
  const takenAt = parseBackupId(ref.backupId).takenAt;
  let current: { takenAt: string; bytes: number } | undefined;
  try {
    current = (await getJson(deps.s3, deps.bucket, key, LatestVerifiedSchema))?.value;
  } catch (error) {
    if (!(error instanceof RecordFormatError)) {
      throw error;
    }
  }
  if (current && new Date(current.takenAt).getTime() > takenAt.getTime()) {
    return;
  }
  if (current && current.bytes > 0 && (100 * (current.bytes - bytes)) / current.bytes > SIZE_DROP_PERCENT) {
    flagBreach(deps, ref);
  }
  await putJson(
    deps.s3,
    deps.bucket,
    key,
    LatestVerifiedSchema.parse({
      database: ref.database,
      backupId: ref.backupId,
      takenAt: takenAt.toISOString(),
      verifiedAt: verifiedAt.toISOString(),
      bytes,
    }),
  );
}
