import { z } from 'zod';
import { describeZodIssues } from '../../contracts/errors';
import { RestoreInputSchema } from '../../contracts/payloads/restore';
import { listObjects } from '../../contracts/vault-io';
import {
  describePoints,
  listStoredBackups,
  nearestVerified,
  newestVerified,
  pointStatus,
} from '../../lambdas/restore/resolve/recovery-points';
import { mapLimit } from '../../util/map-limit';
import { stringFlag } from '../args';
import type { VaultAccess } from '../backends/vault';
import { type Command, type CommandContext, printJson, requireDatabase, withVault } from '../context';
import { CliUsageError, EXIT } from '../errors';
import { formatBytes, formatInstant, formatSeconds, table } from '../format';
import { describeLock, type LockFacts, loadBackups, objectLock } from '../report/history';

/**
 * `strongbox points <database> [--at <instant>]`: what a restore can use. With --at, the point a pointInTime
 * restore would settle on, chosen by Resolve's own code (recovery-points.ts), and why.
 */

const AtSchema = z.strictObject({ pointInTime: RestoreInputSchema.shape.pointInTime });

/** The instant as the restore input's pointInTime field checks it, or a usage error in the same words. */
export function parseInstant(value: string, flag: string): Date {
  const result = AtSchema.safeParse({ pointInTime: value });
  if (!result.success || result.data.pointInTime === undefined) {
    const detail = result.success ? 'pointInTime: found nothing' : describeZodIssues(result.error, { pointInTime: value });
    throw new CliUsageError(detail.replace(/^pointInTime:/, `pointInTime (${flag}):`));
  }
  return new Date(result.data.pointInTime);
}

export interface RestorableRanges {
  readonly ranges: readonly never[];
  readonly note: string;
}

/**
 * Restorable ranges (point-in-time recovery from archived logs) are where this command grows once log archiving
 * exists: segments under logs/<database>/ with their manifests. None are written yet, so the answer is an empty
 * list and a note saying which of the two cases this vault is in.
 */
export async function restorableRanges(vault: VaultAccess, database: string): Promise<RestorableRanges> {
  let objects = 0;
  for await (const _ of listObjects(vault.primary.s3, vault.primary.bucket, `logs/${database}/`)) {
    objects++;
  }
  return {
    ranges: [],
    note:
      objects === 0
        ? 'none: Strongbox archives no logs yet, so only the full backups above can be restored; ranges appear here once logs/<database>/ segments exist'
        : `none readable: ${objects} objects under logs/${database}/, but this version reads no log segments yet`,
  };
}

interface PointRow {
  readonly backupId: string;
  readonly takenAt: string;
  readonly restorable: boolean;
  readonly status: string;
  readonly bytes?: number;
  readonly uncompressedBytes?: number;
  readonly verifiedAt?: string;
  readonly drill: { readonly passed: boolean; readonly drilledAt: string; readonly restoreSeconds: number } | null;
  readonly storageClass?: string;
  readonly lock?: LockFacts;
}

async function listPoints(ctx: CommandContext, vault: VaultAccess, database: string): Promise<number> {
  const backups = (await loadBackups(vault, database)).filter((b) => b.manifest !== undefined);
  const locks = await mapLimit(backups, 16, (b) =>
    b.artifact ? objectLock(vault, vault.primary, b.artifact.key) : Promise.resolve(undefined),
  );
  const points: PointRow[] = backups.map((b, i) => ({
    backupId: b.backupId,
    takenAt: b.takenAt.toISOString(),
    restorable: b.status === 'verified',
    status: b.status,
    ...(b.manifest && { bytes: b.manifest.artifact.bytes, uncompressedBytes: b.manifest.artifact.uncompressedBytes }),
    ...(b.verification && { verifiedAt: b.verification.verifiedAt }),
    drill: b.drill ? { passed: b.drill.passed, drilledAt: b.drill.drilledAt, restoreSeconds: b.drill.restoreSeconds } : null,
    ...(b.artifact?.storageClass && { storageClass: b.artifact.storageClass }),
    ...(locks[i] && { lock: locks[i] }),
  }));
  const ranges = await restorableRanges(vault, database);
  if (ctx.common.json) {
    printJson(ctx, { database, vault: vault.description, points, ranges: ranges.ranges, rangesNote: ranges.note });
    return EXIT.ok;
  }
  const restorable = points.filter((p) => p.restorable).length;
  ctx.io.out(
    `Recovery points of "${database}" in ${vault.description}: ${restorable} restorable of ${points.length} backups with a manifest`,
  );
  if (points.length > 0) {
    const now = ctx.now();
    const rows = points.map((p) => [
      p.backupId,
      formatInstant(p.takenAt),
      p.restorable ? 'verified' : p.status === 'failed' ? 'FAILED verification' : 'not verified yet',
      formatBytes(p.bytes),
      p.drill ? `${p.drill.passed ? 'passed' : 'FAILED'} ${p.drill.drilledAt.slice(0, 10)}` : 'never',
      p.storageClass ?? '-',
      describeLock(p.lock, now),
    ]);
    for (const line of table(['BACKUP ID', 'TAKEN (UTC)', 'VERIFIED', 'SIZE', 'DRILL', 'STORAGE', 'LOCKED'], rows, [3])) {
      ctx.io.out(line);
    }
  }
  ctx.io.out(`Restorable ranges: ${ranges.note}`);
  return EXIT.ok;
}

async function pointAt(ctx: CommandContext, vault: VaultAccess, database: string, at: Date): Promise<number> {
  const { s3, bucket } = vault.primary;
  const stored = await listStoredBackups(s3, bucket, database);
  const chosen = await newestVerified(s3, bucket, stored, at);
  const atIso = at.toISOString();
  if (!chosen) {
    const nearest = await nearestVerified(s3, bucket, stored, at);
    const reason = `No verified backup of "${database}" was taken at or before pointInTime ${atIso}. Nearest verified recovery points of "${database}": ${describePoints(nearest, database)}`;
    if (ctx.common.json) {
      printJson(ctx, { database, at: atIso, point: null, reason, nearest: nearest.map((p) => p.backupId) });
    } else {
      ctx.io.err(reason);
    }
    return EXIT.failed;
  }
  // Newer backups up to the instant that Resolve passed over, each with the reason it gives.
  const passedOver = await mapLimit(
    stored.filter((b) => b.takenAt > chosen.takenAt && b.takenAt <= at),
    16,
    async (b) => {
      const status = await pointStatus(s3, bucket, b);
      return { backupId: b.backupId, reason: status.usable ? 'usable' : status.reason };
    },
  );
  const gapSeconds = (at.getTime() - chosen.takenAt.getTime()) / 1000;
  const reason = `the newest verified backup taken at or before ${atIso}${
    passedOver.length > 0 ? `; passed over: ${passedOver.map((p) => `${p.backupId} ${p.reason}`).join('; ')}` : ''
  }. It was taken ${formatSeconds(gapSeconds)} before the instant: changes after ${chosen.takenAt.toISOString()} are not in it.`;
  if (ctx.common.json) {
    printJson(ctx, {
      database,
      at: atIso,
      point: { backupId: chosen.backupId, takenAt: chosen.takenAt.toISOString() },
      gapSeconds,
      passedOver,
      reason,
    });
  } else {
    ctx.io.out(`A pointInTime restore of "${database}" to ${atIso} would use ${chosen.backupId} (taken ${formatInstant(chosen.takenAt)}):`);
    ctx.io.out(`  ${reason}`);
  }
  return EXIT.ok;
}

export const pointsCommand: Command = {
  spec: {
    name: 'points',
    brief: 'restorable points: verified, drilled, storage class, locked until',
    usage: 'points <database> [--at <instant>]',
    summary:
      'The recovery points of a database: per backup whether it is verified (restorable), drilled, its storage class and how long Object Lock keeps it. With --at, which point a pointInTime restore would use, and why.',
    positionals: [{ name: 'database', required: true }],
    flags: {
      at: { type: 'string', value: '<instant>', description: "an ISO 8601 date-time with a zone, as the restore input's pointInTime" },
    },
    examples: ['strongbox points orders', 'strongbox points orders --at 2026-11-21T03:30:00Z', 'strongbox points demo --local --json'],
  },
  run: async (ctx) => {
    const database = ctx.positionals[0];
    const atText = stringFlag(ctx.values, 'at');
    const at = atText === undefined ? undefined : parseInstant(atText, '--at');
    return withVault(ctx, async (vault) => {
      requireDatabase(vault.plan, database);
      return at ? pointAt(ctx, vault, database, at) : listPoints(ctx, vault, database);
    });
  },
};
