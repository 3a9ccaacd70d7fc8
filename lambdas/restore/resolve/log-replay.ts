import type { S3Client } from '@aws-sdk/client-s3';
import { InputValidationError } from '../../../contracts/errors';
import { shown } from '../../../contracts/issues';
import { fullPointOf, readChain } from '../../../contracts/log-chain';
import { describeRanges, type FullPoint, planReplayTo, type ReplayStop, restorableRanges } from '../../../contracts/logs';
import type { ReplayPlanPayload, RestoreExecution, RestoreInput } from '../../../contracts/payloads/restore';
import type { DatabasePlan } from '../../../contracts/plan';
import { keys, ManifestSchema } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';
import { listStoredBackups, pointStatus, type StoredBackup } from './recovery-points';

/** The vault, as Resolve reaches it. */
export interface VaultDeps {
  readonly s3: S3Client;
  readonly bucket: string;
}

/** Verified full dumps read to plan one replay: the newest before the stop is nearly always among the first. */
const FULLS_READ = 20;

/**
 * The log stop a restore input asks for, or undefined for a restore of a full dump alone. `position` and `gtid`
 * need archived logs; `pointInTime` of a database without a `logs` block keeps its meaning (the newest full dump
 * taken at or before it).
 */
export function replayStopOf(input: RestoreInput, db: DatabasePlan): ReplayStop | undefined {
  if (db.logs?.kind === 'wal') {
    return undefined; // WAL is recovered from a base backup, not replayed after a dump (wal-recovery.ts)
  }
  if (!db.logs) {
    const field = input.position ? 'position' : input.gtid ? 'gtid' : undefined;
    if (field) {
      throw new InputValidationError(
        `Invalid restore input:\n${field}: found ${shown(input[field])}; expected "backupId", "pointInTime" or "latest": "${input.database}" has no logs block, so no binlog is archived to replay`,
      );
    }
    return undefined;
  }
  if (input.pointInTime) {
    return { kind: 'instant', at: new Date(input.pointInTime).toISOString() };
  }
  if (input.position) {
    return { kind: 'position', ...input.position };
  }
  return input.gtid ? { kind: 'gtid', gtid: input.gtid } : undefined;
}

/** The newest verified full dumps (at most FULLS_READ) as chain points, and each one's stored backup by id. */
export async function verifiedFullPoints(
  database: string,
  deps: VaultDeps,
): Promise<{ readonly fulls: FullPoint[]; readonly byId: Map<string, StoredBackup> }> {
  const backups = await listStoredBackups(deps.s3, deps.bucket, database);
  const fulls: FullPoint[] = [];
  const byId = new Map<string, StoredBackup>();
  for (const backup of [...backups].reverse()) {
    if (fulls.length >= FULLS_READ) {
      break;
    }
    if (!(await pointStatus(deps.s3, deps.bucket, backup)).usable) {
      continue;
    }
    const manifest = (await getJson(deps.s3, deps.bucket, keys.manifest(backup.backupId), ManifestSchema))?.value;
    if (manifest) {
      fulls.push(fullPointOf(manifest));
      byId.set(backup.backupId, backup);
    }
  }
  return { fulls, byId };
}

export interface LogReplay {
  readonly backup: StoredBackup;
  readonly described: ReplayPlanPayload;
}

/**
 * Plans the replay over the verified full dumps, the segment manifests and the cursor; a stop no range reaches
 * (outside the window, after a broken link, past the archived end) is refused with the ranges that can be reached.
 */
export async function planLogReplay(
  input: RestoreInput,
  stop: ReplayStop,
  db: DatabasePlan,
  execution: RestoreExecution,
  deps: VaultDeps,
): Promise<LogReplay> {
  const field = stop.kind === 'instant' ? 'pointInTime' : stop.kind;
  const value = stop.kind === 'instant' ? input.pointInTime : stop.kind === 'position' ? input.position : input.gtid;
  const startedAt = new Date(execution.startTime);
  if (stop.kind === 'instant' && Date.parse(stop.at) > startedAt.getTime()) {
    throw new InputValidationError(
      `Invalid restore input:\npointInTime: found ${shown(input.pointInTime)}; expected an instant no later than the start of this execution (${execution.startTime})`,
    );
  }
  const logs = db.logs as NonNullable<DatabasePlan['logs']>;
  const { fulls, byId } = await verifiedFullPoints(input.database, deps);
  const windowStart = new Date(startedAt.getTime() - logs.windowDays * 86_400_000);
  const chain = await readChain(deps.s3, deps.bucket, input.database, { kind: logs.kind, fulls, windowStart });
  const plan = planReplayTo(stop, chain);
  if (!plan) {
    const broken = chain.cursor?.broken;
    const reach = stop.kind === 'instant' ? 'an instant in' : `a ${stop.kind === 'gtid' ? 'GTID' : 'position'} logged within`;
    throw new InputValidationError(
      `Invalid restore input:\n${field}: found ${shown(value)}; expected ${reach} the restorable ranges of "${input.database}": ${describeRanges(restorableRanges(chain))}${
        broken ? ` (the binlog chain broke at ${broken.at}: ${broken.reason}; no restore crosses it)` : ''
      }`,
    );
  }
  const segments = plan.segmentIds.map((id) => chain.manifests.get(id)).filter((m) => m !== undefined);
  const last = segments.at(-1);
  const lastEventAt =
    last?.lastEventAt && stop.kind === 'instant' && Date.parse(last.lastEventAt) > Date.parse(stop.at) ? stop.at : last?.lastEventAt;
  return {
    backup: byId.get(plan.backupId) as StoredBackup,
    described: {
      stop,
      ...(plan.from && { from: plan.from }),
      segmentIds: [...plan.segmentIds],
      segmentBytes: segments.reduce((sum, m) => sum + m.artifact.bytes, 0),
      ...(last && {
        expectedEnd: {
          segmentId: last.segmentId,
          ...(lastEventAt && { lastEventAt }),
          ...(stop.kind === 'gtid' && { gtid: stop.gtid }),
          ...(stop.kind === 'position' && { position: { file: stop.file, position: stop.position } }),
        },
      }),
    },
  };
}
