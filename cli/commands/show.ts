import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { BackupIdSchema, backupPrefix, classifyKey, describeMismatch, parseBackupId } from '../../contracts/vault';
import { isNotFound, type ListedObject, listObjects } from '../../contracts/vault-io';
import { describePoints, listStoredBackups, nearestVerified } from '../../lambdas/restore/resolve/recovery-points';
import type { VaultAccess } from '../backends/vault';
import { type Command, type CommandContext, printJson, withVault } from '../context';
import { CliUsageError, EXIT, OperationFailedError } from '../errors';
import { formatBytes, formatInstant, formatSeconds, table } from '../format';
import { type BackupFacts, describeLock, type LockFacts, lockOf, objectLock, readFolder } from '../report/history';

/** `strongbox show <backupId>`: one backup as the vault records it, and whether its replica copy is there. */

export interface ReplicaFacts {
  readonly bucket: string;
  readonly present: boolean;
  readonly bytes?: number;
  /** Whether the copy has the primary artifact's size (Replicate compared checksums at copy time). */
  readonly sizeMatches?: boolean;
  readonly storageClass?: string;
  readonly lock?: LockFacts;
}

export async function replicaFacts(vault: VaultAccess, artifact: ListedObject | undefined): Promise<ReplicaFacts | undefined> {
  if (!artifact) {
    return undefined;
  }
  const { s3, bucket } = vault.replica;
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: artifact.key }));
    const lock: LockFacts = vault.objectLock ? lockOf(head) : { supported: false };
    return {
      bucket,
      present: true,
      ...(head.ContentLength !== undefined && { bytes: head.ContentLength, sizeMatches: head.ContentLength === artifact.size }),
      storageClass: head.StorageClass ?? 'STANDARD',
      lock,
    };
  } catch (error) {
    if (isNotFound(error)) {
      return { bucket, present: false };
    }
    throw error;
  }
}

function printBackup(
  ctx: CommandContext,
  vault: VaultAccess,
  b: BackupFacts,
  lock: LockFacts | undefined,
  replica: ReplicaFacts | undefined,
) {
  const out = ctx.io.out;
  const now = ctx.now();
  out(`${b.backupId}   (${vault.description})`);
  out(
    `  status        ${b.status === 'verified' ? 'verified: restorable' : b.status === 'failed' ? 'FAILED verification: not restorable' : b.status === 'unverified' ? 'not verified yet: not restorable' : 'no manifest: the dump failed or is still running'}`,
  );
  out(`  taken         ${formatInstant(b.takenAt)}`);
  const m = b.manifest;
  if (m) {
    out(`  engine        ${m.engine.name} ${m.engine.serverVersion}`);
    out(
      `  tool          ${m.tool.version.startsWith(m.tool.name) ? m.tool.version : `${m.tool.name} ${m.tool.version}`} ${m.tool.args.join(' ')}`,
    );
    out(`  artifact      ${m.artifact.key}`);
    out(
      `                ${formatBytes(m.artifact.bytes)} (${formatBytes(m.artifact.uncompressedBytes)} uncompressed, ratio ${(m.artifact.uncompressedBytes / Math.max(1, m.artifact.bytes)).toFixed(2)}), ${m.artifact.compression.algorithm} -${m.artifact.compression.level}, ${m.artifact.parts} part${m.artifact.parts === 1 ? '' : 's'}`,
    );
    out(`                sha256 ${m.artifact.sha256}`);
    out(`  storage       ${b.artifact?.storageClass ?? '-'}`);
    out(`  locked        ${describeLock(lock, now)}`);
    out(
      `  run           ${formatInstant(m.startedAt)} to ${formatInstant(m.finishedAt)}: ${formatSeconds(m.durationSeconds)} at ${m.throughputMBps.toFixed(1)} MB/s (trigger ${m.trigger})`,
    );
    if (m.position) {
      out(
        `  position      ${Object.entries(m.position)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
    }
    if (m.roles) {
      out(`  roles         ${m.roles.key} (${formatBytes(m.roles.bytes)}${m.roles.passwordsOmitted ? ', passwords omitted' : ''})`);
    }
    out(
      `  inventory     ${m.inventory.entries.length} objects, counts ${m.inventory.exact ? 'exact (taken in the dump snapshot)' : 'approximate'}`,
    );
    const rows = m.inventory.entries.map((e) => [e.name, e.kind, e.count === undefined ? 'listed' : String(e.count)]);
    for (const line of table(['NAME', 'KIND', 'COUNT'], rows, [2])) {
      out(`    ${line}`);
    }
  }
  const v = b.verification;
  out(
    `  verification  ${v ? `${v.verified ? 'verified' : 'FAILED'} ${formatInstant(v.verifiedAt)} by ${v.method}${v.problems.length ? `: ${v.problems.join('; ')}` : ''}` : 'none'}`,
  );
  const d = b.drill;
  out(
    `  drill         ${
      d
        ? `${d.passed ? 'passed' : 'FAILED'} ${formatInstant(d.drilledAt)}, restore ${formatSeconds(d.restoreSeconds)}${d.mismatches.length ? `; ${d.mismatches.map(describeMismatch).join('; ')}` : ''}${
            d.checks.filter((c) => !c.passed).length
              ? `; failed checks: ${d.checks
                  .filter((c) => !c.passed)
                  .map((c) => c.name)
                  .join(', ')}`
              : ''
          }`
        : 'never drilled'
    }`,
  );
  if (b.failure) {
    out(`  failure       ${b.failure.phase} at ${formatInstant(b.failure.failedAt)}: ${b.failure.message}`);
  }
  out(
    `  replica       ${!replica ? '-' : replica.present ? `present in ${replica.bucket}: ${formatBytes(replica.bytes)}${replica.sizeMatches === false ? ' (SIZE DIFFERS from the primary)' : ''}, ${replica.storageClass}, ${describeLock(replica.lock, now)}` : `MISSING from ${replica.bucket}`}`,
  );
  for (const problem of b.problems) {
    out(`  problem       ${problem}`);
  }
}

export const showCommand: Command = {
  spec: {
    name: 'show',
    brief: 'one backup: manifest, verification, drill, lock, replica copy',
    usage: 'show <backupId>',
    summary:
      'One backup: its manifest (tool, artifact, inventory), verification, drill, Object Lock, and the replica copy (HeadObject in the replica vault).',
    positionals: [{ name: 'backupId', required: true }],
    flags: {},
    examples: ['strongbox show orders-20261121T030405Z-full', 'strongbox show demo-20261121T030405Z-full --local --json'],
  },
  run: async (ctx) => {
    const backupId = ctx.positionals[0];
    const checked = BackupIdSchema.safeParse(backupId);
    if (!checked.success) {
      throw new CliUsageError(`backupId: found ${JSON.stringify(backupId)}; ${checked.error.issues[0].message}`);
    }
    return withVault(ctx, async (vault) => {
      const objects = new Map<string, ListedObject>();
      for await (const object of listObjects(vault.primary.s3, vault.primary.bucket, backupPrefix(backupId))) {
        const entry = classifyKey(object.key);
        if (entry?.backupId === backupId) {
          objects.set(entry.file, object);
        }
      }
      if (objects.size === 0) {
        const { database, takenAt } = parseBackupId(backupId);
        const stored = await listStoredBackups(vault.primary.s3, vault.primary.bucket, database);
        const nearest = await nearestVerified(vault.primary.s3, vault.primary.bucket, stored, takenAt);
        throw new OperationFailedError(
          `backupId "${backupId}" does not exist in ${vault.description}. Nearest verified recovery points of "${database}": ${describePoints(nearest, database)}`,
        );
      }
      const backup = await readFolder(vault, backupId, objects);
      const lock = backup.artifact ? await objectLock(vault, vault.primary, backup.artifact.key) : undefined;
      const replica = await replicaFacts(vault, backup.artifact);
      if (ctx.common.json) {
        printJson(ctx, {
          backupId,
          database: backup.database,
          vault: vault.description,
          status: backup.status,
          restorable: backup.status === 'verified',
          takenAt: backup.takenAt.toISOString(),
          objects: Object.fromEntries(
            [...backup.objects.entries()].map(([file, o]) => [file, { key: o.key, bytes: o.size, storageClass: o.storageClass }]),
          ),
          manifest: backup.manifest ?? null,
          verification: backup.verification ?? null,
          drill: backup.drill ?? null,
          failure: backup.failure ?? null,
          lock: lock ?? null,
          replica: replica ?? null,
          problems: backup.problems,
        });
      } else {
        printBackup(ctx, vault, backup, lock, replica);
      }
      return EXIT.ok;
    });
  },
};
