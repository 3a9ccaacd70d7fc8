import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { VerificationError } from '../../../contracts/errors';
import type { BaseRef } from '../../../contracts/payloads/backup';
import { getJson, isNotFound, putJson, RecordFormatError } from '../../../contracts/vault-io';
import {
  type BaseBackupManifest,
  BaseBackupManifestSchema,
  type BaseVerification,
  BaseVerificationSchema,
  baseKeys,
  LatestBaseSchema,
  latestBaseKey,
} from '../../../contracts/wal';
import { checkStored, fail, type VerifyDeps } from './verify';

export interface VerifyBaseResult {
  readonly passed: true;
  readonly method: 's3-checksum' | 'reread';
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * The base-backup machine's Verify: the stored tar against the manifest (size, zstd magic, SHA-256, with the
 * backup Verify's own check), then PostgreSQL's backup_manifest against the manifest's size and SHA-256 and its
 * own Manifest-Checksum. The verdict goes to verification.json either way, so a failed base is never a chain start
 * (readBaseManifests), and a passed one moves `index/<db>/latest-base.json` forward for the watchdog.
 */
export async function verifyBase(ref: BaseRef, deps: VerifyDeps): Promise<VerifyBaseResult> {
  const now = deps.now ?? (() => new Date());
  let manifest: BaseBackupManifest;
  try {
    const record = await getJson(deps.s3, deps.bucket, baseKeys.manifest(ref.baseId), BaseBackupManifestSchema);
    if (!record) {
      throw new VerificationError(
        `${ref.baseId}: no manifest at ${baseKeys.manifest(ref.baseId)}; the base backup did not finish, so there is no base to verify`,
      );
    }
    manifest = record.value;
  } catch (error) {
    if (error instanceof RecordFormatError) {
      throw failed(deps, ref, `${ref.baseId}: the manifest cannot be read: ${error.message}`);
    }
    throw error;
  }

  const problems: string[] = [];
  if (manifest.baseId !== ref.baseId) {
    problems.push(`manifest names base ${manifest.baseId}, expected ${ref.baseId}`);
  }
  const tarKey = baseKeys.artifact(ref.baseId);
  if (manifest.artifact.key !== tarKey) {
    problems.push(`manifest artifact key is ${manifest.artifact.key}, expected ${tarKey}`);
  }
  const tar = await checkStored(deps, tarKey, manifest.artifact, 'artifact');
  problems.push(...tar.problems);
  const backupManifestProblems = await checkBackupManifest(deps, ref.baseId, manifest);
  problems.push(...backupManifestProblems);

  const verifiedAt = now();
  const record: BaseVerification = BaseVerificationSchema.parse({
    schemaVersion: 1,
    baseId: ref.baseId,
    passed: problems.length === 0,
    verifiedAt: verifiedAt.toISOString(),
    // checkStored reports in words; its size problems name bytes, its content problems the SHA-256 or zstd framing.
    checks: {
      bytes: !tar.problems.some((p) => /bytes|does not exist/.test(p)),
      sha256: !tar.problems.some((p) => /sha256|zstd|does not exist/.test(p)),
      backupManifest: backupManifestProblems.length === 0,
    },
    ...(problems.length > 0 && { reason: problems[0] }),
  } satisfies BaseVerification);
  await putJson(deps.s3, deps.bucket, baseKeys.verification(ref.baseId), record);
  if (!record.passed) {
    throw failed(deps, ref, `${ref.baseId} failed verification:\n${problems.map((p) => `- ${p}`).join('\n')}`);
  }
  await advanceLatestBase(deps, manifest, verifiedAt);
  return { passed: true, method: tar.method, bytes: tar.bytes, sha256: tar.sha256 };
}

/** backup_manifest beside the tar: the bytes the manifest recorded, and PostgreSQL's own checksum of its content. */
async function checkBackupManifest(deps: VerifyDeps, baseId: string, manifest: BaseBackupManifest): Promise<string[]> {
  const key = baseKeys.backupManifest(baseId);
  if (manifest.backupManifest.key !== key) {
    return [`manifest backup_manifest key is ${manifest.backupManifest.key}, expected ${key}`];
  }
  let body: Buffer;
  try {
    const response = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }));
    body = Buffer.from(await response.Body!.transformToByteArray());
  } catch (error) {
    if (isNotFound(error)) {
      return [`backup_manifest ${key} does not exist`];
    }
    throw error;
  }
  const problems: string[] = [];
  if (body.length !== manifest.backupManifest.bytes) {
    problems.push(`backup_manifest is ${body.length} bytes, manifest says ${manifest.backupManifest.bytes}`);
  }
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (sha256 !== manifest.backupManifest.sha256) {
    problems.push(`backup_manifest sha256 is ${sha256}, manifest says ${manifest.backupManifest.sha256}`);
  }
  const own = backupManifestChecksumProblem(body);
  if (own) {
    problems.push(own);
  }
  return problems;
}

/**
 * PostgreSQL's backup_manifest ends with `"Manifest-Checksum": "<sha256 hex>"`, the SHA-256 of every byte before
 * the line that holds it (what pg_verifybackup checks first); undefined when it matches.
 */
export function backupManifestChecksumProblem(body: Buffer): string | undefined {
  const text = body.toString('utf8');
  const at = text.lastIndexOf('"Manifest-Checksum"');
  const recorded = /"Manifest-Checksum"\s*:\s*"([0-9a-f]{64})"/.exec(text.slice(at))?.[1];
  if (at === -1 || !recorded) {
    return 'backup_manifest has no Manifest-Checksum; it is not a PostgreSQL 13+ backup manifest';
  }
  const lineStart = text.lastIndexOf('\n', at) + 1;
  const actual = createHash('sha256')
    .update(body.subarray(0, Buffer.byteLength(text.slice(0, lineStart))))
    .digest('hex');
  return actual === recorded ? undefined : `backup_manifest content hashes to ${actual}, its Manifest-Checksum says ${recorded}`;
}

function failed(deps: VerifyDeps, ref: BaseRef, message: string): VerificationError {
  return fail(deps, ref, message, 'postgres');
}

/** Forward only: a late verification of an older base never hides a newer one. */
async function advanceLatestBase(deps: VerifyDeps, manifest: BaseBackupManifest, verifiedAt: Date): Promise<void> {
  const key = latestBaseKey(manifest.database);
  let current: { finishedAt: string } | undefined;
  try {
    current = (await getJson(deps.s3, deps.bucket, key, LatestBaseSchema))?.value;
  } catch (error) {
    if (!(error instanceof RecordFormatError)) {
      throw error;
    }
  }
  if (current && Date.parse(current.finishedAt) > Date.parse(manifest.finishedAt)) {
    return;
  }
  await putJson(
    deps.s3,
    deps.bucket,
    key,
    LatestBaseSchema.parse({
      database: manifest.database,
      baseId: manifest.baseId,
      finishedAt: manifest.finishedAt,
      verifiedAt: verifiedAt.toISOString(),
      bytes: manifest.artifact.bytes,
    }),
  );
}
