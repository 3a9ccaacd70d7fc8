import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { RestoreAuditSchema } from '../../contracts/payloads/restore';
import { DrillRecordSchema, FailureRecordSchema, keys, ManifestSchema, mintBackupId, VerificationSchema } from '../../contracts/vault';
import { putJson } from '../../contracts/vault-io';

/**
 * Plants backup histories in a vault by writing the records the pipeline writes, each checked with its
 * contract schema first, so the CLI reads exactly what a real run would leave.
 */

export interface PlantedBackup {
  readonly database: string;
  readonly takenAt: Date;
  /** Stored artifact size (the object written has exactly these bytes). */
  readonly bytes: number;
  readonly uncompressedBytes: number;
  readonly durationSeconds: number;
  readonly throughputMBps: number;
  /** Minutes after takenAt the verification record says it was verified; undefined: no verification.json. */
  readonly verifiedAfterMinutes?: number;
  /** @default true */
  readonly verified?: boolean;
  readonly drill?: { readonly afterHours: number; readonly passed: boolean; readonly restoreSeconds: number };
  /** Also copy the artifact into this (replica) bucket. */
  readonly replicaBucket?: string;
}

/** The objects a backup's run leaves in the vault, by key: artifact, manifest and, as planted, verification and drill. */
export function backupObjects(b: PlantedBackup): { backupId: string; artifactKey: string; objects: Map<string, string | Buffer> } {
  const backupId = mintBackupId(b.database, 'full', b.takenAt);
  const body = Buffer.alloc(b.bytes, b.bytes % 251);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const artifactKey = keys.artifact(backupId, 'pgdump');
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  const objects = new Map<string, string | Buffer>([[artifactKey, body]]);
  const finishedAt = new Date(b.takenAt.getTime() + b.durationSeconds * 1000);
  objects.set(
    keys.manifest(backupId),
    json(
      ManifestSchema.parse({
        schemaVersion: 1,
        backupId,
        database: b.database,
        kind: 'full',
        trigger: 'schedule',
        engine: { name: 'postgres', serverVersion: '15.10' },
        tool: { name: 'pg_dump', version: '15.10', args: ['-Fc', '-Z0'] },
        artifact: {
          key: artifactKey,
          format: 'pgdump',
          bytes: b.bytes,
          sha256,
          uncompressedBytes: b.uncompressedBytes,
          compression: { algorithm: 'zstd', level: 3 },
          parts: 1,
          partSizeBytes: 8 * 1024 * 1024,
        },
        startedAt: b.takenAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationSeconds: b.durationSeconds,
        throughputMBps: b.throughputMBps,
        inventory: { exact: true, entries: [{ name: 'public.entries', kind: 'table', count: 10 }] },
      }),
    ),
  );
  if (b.verifiedAfterMinutes !== undefined) {
    const verified = b.verified ?? true;
    objects.set(
      keys.verification(backupId),
      json(
        VerificationSchema.parse({
          schemaVersion: 1,
          backupId,
          verified,
          verifiedAt: new Date(b.takenAt.getTime() + b.verifiedAfterMinutes * 60_000).toISOString(),
          method: 'reread',
          bytes: b.bytes,
          sha256,
          problems: verified ? [] : ['sha256 differs from the manifest'],
        }),
      ),
    );
  }
  if (b.drill) {
    objects.set(
      keys.drill(backupId),
      json(
        DrillRecordSchema.parse({
          schemaVersion: 1,
          backupId,
          passed: b.drill.passed,
          drilledAt: new Date(b.takenAt.getTime() + b.drill.afterHours * 3_600_000).toISOString(),
          restoreSeconds: b.drill.restoreSeconds,
          mismatches: b.drill.passed ? [] : [{ name: 'public.entries', expected: 10, actual: 9 }],
          checks: [{ name: 'read every row', passed: b.drill.passed }],
        }),
      ),
    );
  }
  return { backupId, artifactKey, objects };
}

export async function plantBackup(s3: S3Client, bucket: string, b: PlantedBackup): Promise<string> {
  const { backupId, artifactKey, objects } = backupObjects(b);
  for (const [Key, Body] of objects) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
  }
  if (b.replicaBucket) {
    await s3.send(new PutObjectCommand({ Bucket: b.replicaBucket, Key: artifactKey, Body: objects.get(artifactKey) }));
  }
  return backupId;
}

/** A dump that failed: failure.json and no manifest, as the task leaves it. */
export async function plantFailure(s3: S3Client, bucket: string, database: string, at: Date): Promise<string> {
  const backupId = mintBackupId(database, 'full', at);
  await putJson(
    s3,
    bucket,
    keys.failure(backupId),
    FailureRecordSchema.parse({
      schemaVersion: 1,
      backupId,
      failedAt: new Date(at.getTime() + 60_000).toISOString(),
      phase: 'dump',
      message: 'pg_dump exited with code 1',
      exitCode: 1,
      signal: null,
      stderrTail: 'pg_dump: error: connection to server failed',
    }),
  );
  return backupId;
}

export async function plantRestoreAudit(
  s3: S3Client,
  bucket: string,
  database: string,
  at: Date,
  outcome: 'restored' | 'failed',
  backupId: string,
): Promise<void> {
  await putJson(
    s3,
    bucket,
    keys.restoreAudit(database, at),
    RestoreAuditSchema.parse({
      schemaVersion: 1,
      database,
      outcome,
      startedBy: {
        executionArn: `arn:aws:states:eu-west-1:000000000000:execution:strongbox-restore:${at.getTime()}`,
        executionName: `r-${at.getTime()}`,
        requestedBy: 'carol, CHG-42',
      },
      startedAt: at.toISOString(),
      finishedAt: new Date(at.getTime() + 95_000).toISOString(),
      restoreSeconds: 95,
      backupId,
      requested: `backupId ${backupId}`,
      target: { host: 'ledger-copy.internal', port: 5432, database: 'ledger_copy' },
      include: [],
      overwrite: false,
      ...(outcome === 'failed' && { error: 'States.TaskFailed: pg_restore failed' }),
    }),
  );
}
