import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputValidationError, RestoreRefusedError } from '../../../../contracts/errors';
import type { LogCursor, SegmentManifest } from '../../../../contracts/logs';
import type { ResolvedRestore } from '../../../../contracts/payloads/restore';
import { TASK_ENV } from '../../../../contracts/task-env';
import { keys, mintSegmentId } from '../../../../contracts/vault';
import { putJson } from '../../../../contracts/vault-io';
import { type BaseBackupManifest, baseKeys, formatLsn, parseLsn, walFileName } from '../../../../contracts/wal';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { resolveRestore } from '../../../../lambdas/restore/resolve/restore-resolve';
import { baseManifestOf } from '../../backup/base-fixtures';
import { databasePlan, planOf, SECRET } from '../../fixtures';
import { restoreRoleArn, seedBackup } from './fixtures';

/**
 * Resolve's planning of a PostgreSQL restore to an instant, an LSN or a restore point, over a real s3rver vault
 * holding base backup manifests, WAL segment manifests and the archiver's cursor as the tasks write them.
 */
const BUCKET = 'vault';
const SEGMENT = 16 * 1024 * 1024;
const GIB = 1024 ** 3;
const execution = {
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:strongbox-restore:console-7',
  name: 'console-7',
  startTime: '2026-03-10T12:00:00.000Z',
};
const target = { host: 'ledger-copy.internal', database: 'ledger_copy', secretArn: SECRET };
const logs = { kind: 'wal' as const, intervalSeconds: 300, windowDays: 7 };
const plan = planOf([
  { ...databasePlan('ledger', 'postgres'), logs },
  { ...databasePlan('big', 'postgres'), logs },
  databasePlan('orders', 'postgres'),
  { ...databasePlan('billing', 'mariadb'), logs: { ...logs, kind: 'binlog' } },
]);
const file = (segment: number) => walFileName(1, BigInt(segment * SEGMENT));

function baseManifest(database: string, finishedAt: string, startLsn: string, stopLsn: string, clusterBytes: number): BaseBackupManifest {
  return baseManifestOf({
    database,
    finishedAt: new Date(finishedAt),
    startLsn: parseLsn(startLsn),
    stopLsn: parseLsn(stopLsn),
    artifact: { bytes: Math.round(clusterBytes / 4), sha256: 'a'.repeat(64), uncompressedBytes: clusterBytes },
    backupManifest: { bytes: 1000, sha256: 'b'.repeat(64) },
    toolArgs: ['-Ft', '-X', 'none', '-D', '-'],
  });
}

/** One WAL file as archive-wal stores it: from offset 0, closed or a tail up to `endPosition`. */
function segment(database: string, archivedAt: string, n: number, endPosition = SEGMENT): SegmentManifest {
  const segmentId = mintSegmentId(database, 'wal', new Date(archivedAt), file(n), 0);
  const closed = endPosition === SEGMENT;
  return {
    schemaVersion: 1,
    segmentId,
    database,
    kind: 'wal',
    engine: { serverVersion: '15.8' },
    serverFile: file(n),
    startPosition: 0,
    endPosition,
    closed,
    next: closed ? { file: file(n + 1), position: 0 } : { file: file(n), position: endPosition },
    coveredUntil: archivedAt,
    artifact: {
      key: keys.segmentData(segmentId),
      bytes: 1_000_000,
      sha256: 'c'.repeat(64),
      uncompressedBytes: SEGMENT,
      compression: { algorithm: 'zstd', level: 3 },
    },
    tool: { name: 'pg_receivewal', version: '15.8', args: ['--endpos', '0/0'] },
    archivedAt,
  };
}

describe('restore Resolve: PostgreSQL WAL recovery', () => {
  let s3rver: LocalS3;
  let s3: S3Client;
  let base: BaseBackupManifest;
  let dumpId: string;
  const ids: Record<string, string> = {};
  const resolve = (input: Record<string, unknown>, storage = 100) =>
    resolveRestore({ target, ...input }, execution, { s3, bucket: BUCKET, plan, restoreRoleArn, postgresTaskStorageGiB: storage });
  const env = (resolved: ResolvedRestore) => Object.fromEntries(resolved.environment.map((e) => [e.Name, e.Value]));
  const failure = async (input: Record<string, unknown>, storage?: number) => {
    const error = await resolve(input, storage).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  };

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    s3 = s3rver.client();
    // A logical dump at 07:00, then a base finished at 08:00 whose WAL (files 1 to 3) was archived in two runs; the
    // cursor says the server stayed quiet until 10:00. A later base (11:00) whose WAL was never archived restores nothing.
    dumpId = await seedBackup(s3, BUCKET, 'ledger', '2026-03-10T07:00:00Z');
    base = baseManifest('ledger', '2026-03-10T08:00:00.000Z', '0/1000028', '0/1000100', 2 * GIB);
    const orphan = baseManifest('ledger', '2026-03-10T11:00:00.000Z', '0/5000028', '0/5000100', 2 * GIB);
    const first = [segment('ledger', '2026-03-10T08:05:00.000Z', 1), segment('ledger', '2026-03-10T08:05:00.000Z', 2)];
    const tail = segment('ledger', '2026-03-10T08:05:00.500Z', 3, 0x2000);
    const longer = segment('ledger', '2026-03-10T09:05:00.300Z', 3, 0x9000);
    ids.one = first[0].segmentId;
    ids.two = first[1].segmentId;
    ids.three = longer.segmentId;
    for (const s of [...first, tail, longer]) {
      await putJson(s3, BUCKET, keys.segmentManifest(s.segmentId), s);
    }
    const cursor: LogCursor = {
      schemaVersion: 1,
      database: 'ledger',
      kind: 'wal',
      next: longer.next,
      lastSegmentId: longer.segmentId,
      coveredUntil: '2026-03-10T10:00:00.000Z',
      updatedAt: '2026-03-10T10:00:00.000Z',
    };
    await putJson(s3, BUCKET, keys.logCursor('ledger'), cursor);
    for (const b of [base, orphan]) {
      await putJson(s3, BUCKET, baseKeys.manifest(b.baseId), b);
    }
    // "big": a base whose 150 GiB cluster cannot be recovered on a 100 GiB task disk.
    const big = baseManifest('big', '2026-03-10T08:00:00.000Z', '0/1000028', '0/1000100', 150 * GIB);
    await putJson(s3, BUCKET, baseKeys.manifest(big.baseId), big);
    const bigWal = segment('big', '2026-03-10T08:05:00.000Z', 1);
    await putJson(s3, BUCKET, keys.segmentManifest(bigWal.segmentId), bigWal);
  });

  afterAll(async () => {
    await s3rver.stop();
  });

  it('plans an instant from the base before it, to the end of that second, with every WAL file of its run', async () => {
    // Act
    const resolved = await resolve({ database: 'ledger', pointInTime: '2026-03-10T08:30:00Z' });

    // Assess
    expect(resolved.backupId).toBe(base.baseId);
    expect(resolved.takenAt).toBe(base.finishedAt);
    expect(resolved.requested).toBe('pointInTime 2026-03-10T08:30:00Z');
    expect(resolved.replay).toBeUndefined();
    expect(resolved.recovery).toEqual({
      baseId: base.baseId,
      timeline: 1,
      stop: { kind: 'instant', at: '2026-03-10T08:30:00.000Z' },
      target: { kind: 'time', at: '2026-03-10T08:30:00.999Z' },
      baseStartLsn: '0/1000028',
      baseStopLsn: '0/1000100',
      baseBytes: GIB / 2,
      clusterBytes: 2 * GIB,
      segmentIds: [ids.one, ids.two, ids.three],
      segmentBytes: 3_000_000,
      diskBytes: expect.any(Number),
      ephemeralStorageGiB: 100,
      expectedEnd: { segmentId: ids.three, coveredUntil: '2026-03-10T10:00:00.000Z', lsn: '0/3009000' },
    });
    // The selective-or-parallel delivery (restoreJobs 2) writes pg_dump's archive too: cluster twice, 4 GiB WAL, 10%.
    expect(resolved.recovery?.diskBytes).toBe(Math.ceil((2 * GIB + 2 * GIB + 4 * GIB) * 1.1));
    expect(env(resolved)).toMatchObject({
      [TASK_ENV.command]: 'restore',
      [TASK_ENV.recoveryBaseId]: base.baseId,
      [TASK_ENV.recoveryTime]: '2026-03-10T08:30:00.999Z',
    });
    expect(env(resolved)).not.toHaveProperty(TASK_ENV.backupId);
    expect(env(resolved)).not.toHaveProperty(TASK_ENV.recoveryLsn);
    expect(JSON.stringify(resolved.environment)).not.toMatch(/password/i);
  });

  it('recovers to the end of the archived WAL for an instant in the quiet tail the cursor vouches for', async () => {
    // Act: the last WAL file was read at 09:05:00.3; the cursor saw nothing new until 10:00
    const resolved = await resolve({ database: 'ledger', pointInTime: '2026-03-10T09:30:00Z' });

    // Assess
    expect(resolved.recovery?.target).toEqual({ kind: 'end' });
    expect(resolved.recovery?.stop).toEqual({ kind: 'instant', at: '2026-03-10T09:30:00.000Z' });
    expect(env(resolved)).not.toHaveProperty(TASK_ENV.recoveryTime);
  });

  it('restores a logical dump alone at its own instant, as for a binlog database', async () => {
    // Act
    const resolved = await resolve({ database: 'ledger', pointInTime: '2026-03-10T07:00:00Z' });

    // Assess
    expect(resolved.backupId).toBe(dumpId);
    expect(resolved.recovery).toBeUndefined();
    expect(resolved.replay).toEqual({ stop: { kind: 'instant', at: '2026-03-10T07:00:00.000Z' }, segmentIds: [], segmentBytes: 0 });
    expect(env(resolved)[TASK_ENV.backupId]).toBe(dumpId);
    expect(env(resolved)).not.toHaveProperty(TASK_ENV.recoveryBaseId);
  });

  it('keeps "latest" and "backupId" of a database with WAL on its logical backups, as before', async () => {
    // Act
    const latest = await resolve({ database: 'ledger', latest: true });
    const byId = await resolve({ database: 'ledger', backupId: dumpId });

    // Assess
    for (const resolved of [latest, byId]) {
      expect(resolved.backupId).toBe(dumpId);
      expect(resolved.recovery).toBeUndefined();
      expect(resolved.replay).toBeUndefined();
      expect(env(resolved)[TASK_ENV.backupId]).toBe(dumpId);
    }
  });

  it('refuses an instant outside the restorable ranges, listing them (the base without archived WAL is not one)', async () => {
    // Act
    const error = await failure({ database: 'ledger', pointInTime: '2026-03-10T11:00:00Z' });

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect(error.message).toBe(
      'Invalid restore input:\npointInTime: found "2026-03-10T11:00:00Z"; expected an instant in the restorable ranges of "ledger": 2026-03-10T07:00:00Z, 2026-03-10T08:00:00Z to 2026-03-10T10:00:00Z',
    );
  });

  it('plans an LSN from the newest base consistent before it, up to the WAL file holding it', async () => {
    // Act
    const resolved = await resolve({ database: 'ledger', lsn: '0/2000010' });

    // Assess
    expect(resolved.backupId).toBe(base.baseId);
    expect(resolved.requested).toBe('lsn 0/2000010');
    expect(resolved.recovery).toMatchObject({
      stop: { kind: 'lsn', lsn: '0/2000010' },
      target: { kind: 'lsn', lsn: '0/2000010' },
      segmentIds: [ids.one, ids.two],
      segmentBytes: 2_000_000,
    });
    expect(env(resolved)).toMatchObject({ [TASK_ENV.recoveryBaseId]: base.baseId, [TASK_ENV.recoveryLsn]: '0/2000010' });
  });

  it('refuses an LSN before the base is consistent and one past the archived WAL, listing the LSNs and the instants recovery reaches', async () => {
    // Act
    const early = await failure({ database: 'ledger', lsn: '0/1000050' });
    const late = await failure({ database: 'ledger', lsn: formatLsn(parseLsn('0/3009000') + 1n) });

    // Assess
    for (const [error, lsn] of [
      [early, '0/1000050'],
      [late, '0/3009001'],
    ] as const) {
      expect(error).toBeInstanceOf(InputValidationError);
      expect(error.message).toBe(
        `Invalid restore input:\nlsn: found "${lsn}"; expected an LSN the archived WAL reaches from a consistent base backup of "ledger": 0/1000100 to 0/3009000 (instants: 2026-03-10T08:00:00Z to 2026-03-10T10:00:00Z)`,
      );
    }
  });

  it('plans a restore point from the newest base with its WAL, over the whole run (PostgreSQL finds the name)', async () => {
    // Act
    const resolved = await resolve({ database: 'ledger', restorePoint: 'before-migration-42', dryRun: true });

    // Assess
    expect(resolved.dryRun).toBe(true);
    expect(resolved.requested).toBe('restorePoint before-migration-42');
    expect(resolved.recovery).toMatchObject({
      baseId: base.baseId,
      stop: { kind: 'name', name: 'before-migration-42' },
      target: { kind: 'name', name: 'before-migration-42' },
      segmentIds: [ids.one, ids.two, ids.three],
    });
    expect(env(resolved)[TASK_ENV.recoveryName]).toBe('before-migration-42');
  });

  it('keeps the RunTask overrides of a recovery small: identifiers and one stop, never a segment list', async () => {
    // Act
    const resolved = await resolve({ database: 'ledger', restorePoint: 'p'.repeat(63), include: ['public.ledger'] });

    // Assess
    const overrides = JSON.stringify({
      TaskRoleArn: resolved.taskRoleArn,
      ContainerOverrides: [{ Name: 'dump', Environment: resolved.environment }],
    });
    expect(overrides.length).toBeLessThan(1500);
    expect(overrides).not.toContain(ids.one);
    expect(resolved.environment.map((e) => e.Name).filter((n) => n.startsWith('STRONGBOX_RECOVERY_'))).toEqual([
      TASK_ENV.recoveryBaseId,
      TASK_ENV.recoveryName,
    ]);
  });

  it('refuses a recovery whose cluster cannot fit the task disk, naming the sizes and the way out', async () => {
    // Act
    const small = await failure({ database: 'big', pointInTime: '2026-03-10T08:03:00Z' });

    // Assess
    expect(small).toBeInstanceOf(RestoreRefusedError);
    expect(small.message).toMatch(
      /^Cannot recover base big-20260310T075900Z-base: a point-in-time recovery of "big" needs about 334\.4 GiB of task disk .* but the restore task has 100 GiB; it exceeds Fargate's 200 GiB ephemeral-storage ceiling/,
    );
  });

  const refusals: [string, Record<string, unknown>, string][] = [
    [
      'an LSN for MariaDB',
      { database: 'billing', lsn: '0/1000028' },
      'lsn: found "0/1000028"; expected it left out: an LSN is PostgreSQL\'s and "billing" is mariadb; use "pointInTime", "position" or "gtid"',
    ],
    [
      'a restore point for PostgreSQL without logs',
      { database: 'orders', restorePoint: 'x' },
      'restorePoint: found "x"; expected "backupId", "pointInTime" or "latest": "orders" has no logs block, so no WAL is archived to recover with (add logs: { intervalMinutes, windowDays } to its config)',
    ],
    [
      'a binlog position for PostgreSQL with logs',
      { database: 'ledger', position: { file: 'binlog.000001', position: 4 } },
      'position: found {"file":"binlog.000001","position":4}; expected "lsn" (such as "16/B374D848"), "restorePoint" or "pointInTime": "ledger" is PostgreSQL, whose WAL has LSNs, not binlog positions',
    ],
    [
      'roles "create" with a recovery',
      { database: 'ledger', pointInTime: '2026-03-10T08:30:00Z', roles: 'create' },
      'roles: found "create"; expected it left out for a point-in-time recovery of "ledger"',
    ],
    ['an LSN in words', { database: 'ledger', lsn: 'latest' }, 'lsn: found "latest"; expected a PostgreSQL LSN such as "16/B374D848"'],
    [
      'a restore point of 64 bytes',
      { database: 'ledger', restorePoint: 'r'.repeat(64) },
      'expected the name given to pg_create_restore_point(), 1 to 63 bytes',
    ],
    [
      'an LSN and a pointInTime',
      { database: 'ledger', lsn: '0/2000010', pointInTime: '2026-03-10T08:30:00Z' },
      'expected exactly one recovery point, but "pointInTime" and "lsn" are both set; keep one',
    ],
  ];

  it.each(refusals)('refuses %s at the field, naming the fix', async (_name, input, message) => {
    // Act
    const error = await failure(input);

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect(error.message).toContain(message);
    expect(error.message.split('\n')[0]).toBe('Invalid restore input:');
  });
});
