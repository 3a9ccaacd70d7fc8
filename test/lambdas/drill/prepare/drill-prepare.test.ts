import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputValidationError } from '../../../../contracts/errors';
import type { LogCoordinates, SegmentManifest } from '../../../../contracts/logs';
import { keys, mintSegmentId } from '../../../../contracts/vault';
import { putJson } from '../../../../contracts/vault-io';
import { type BaseVerification, baseKeys, formatLsn, lsnOfCoordinates } from '../../../../contracts/wal';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { NothingToDrillError, prepareDrill } from '../../../../lambdas/drill/prepare/drill-prepare';
import { baseManifestOf } from '../../backup/base-fixtures';
import { databasePlan, planOf } from '../../fixtures';
import { restoreRoleArn, seedBackup } from '../../restore/resolve/fixtures';

const BUCKET = 'vault';
const plan = planOf(); // orders (postgres), billing (mariadb), sessions (redis)
const execution = {
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:strongbox-drill:weekly-orders',
  name: 'weekly-orders',
  startTime: '2026-03-10T04:30:00.000Z',
};

describe('drill Prepare', () => {
  let s3rver: LocalS3;
  let s3: S3Client;
  const ids: Record<string, string> = {};
  const deps = () => ({ s3, bucket: BUCKET, plan, restoreRoleArn });

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    s3 = s3rver.client();
    ids.jan = await seedBackup(s3, BUCKET, 'orders', '2026-01-15T03:00:00Z');
    ids.feb = await seedBackup(s3, BUCKET, 'orders', '2026-02-15T03:00:00Z');
    ids.failed = await seedBackup(s3, BUCKET, 'orders', '2026-03-01T03:00:00Z', { verified: false });
    ids.unverified = await seedBackup(s3, BUCKET, 'orders', '2026-03-09T03:00:00Z', { verified: 'missing' });
    ids.broken = await seedBackup(s3, BUCKET, 'orders', '2026-03-09T09:00:00Z', { manifest: false });
    // billing has backups, none of them verified.
    await seedBackup(s3, BUCKET, 'billing', '2026-03-01T03:00:00Z', { engine: 'mariadb', verified: false });
    await seedBackup(s3, BUCKET, 'billing', '2026-03-02T03:00:00Z', { engine: 'mariadb', verified: 'missing' });
  });

  afterAll(async () => {
    delete process.env.STRONGBOX_S3_ENDPOINT;
    await s3rver.stop();
  });

  it('drills the newest verified backup, skipping newer failed, unverified and manifest-less ones', async () => {
    // Prepare
    const input = { database: 'orders' };

    // Act
    const prepared = await prepareDrill(input, execution, deps());

    // Assess
    expect(prepared).toEqual({
      database: 'orders',
      engine: 'postgres',
      backupId: ids.feb,
      taskFamily: 'strongbox-orders-dump',
      taskTimeoutSeconds: 7200,
      taskRoleArn: 'arn:aws:iam::123456789012:role/strongbox-orders-restore',
      environment: [
        { Name: 'STRONGBOX_COMMAND', Value: 'drill' },
        { Name: 'STRONGBOX_BACKUP_ID', Value: 'orders-20260215T030000Z-full' },
        { Name: 'STRONGBOX_TRIGGER', Value: 'drill:weekly-orders' },
      ],
    });
  });

  it('takes the restore role from deps.restoreRoleArn for the drilled database', async () => {
    // Prepare
    const asked: string[] = [];
    const roleOf = (database: string) => {
      asked.push(database);
      return `arn:aws:iam::123456789012:role/custom-${database}`;
    };

    // Act
    const prepared = await prepareDrill({ database: 'orders', trigger: 'manual' }, execution, { ...deps(), restoreRoleArn: roleOf });

    // Assess
    expect(asked).toEqual(['orders']);
    expect(prepared.taskRoleArn).toBe('arn:aws:iam::123456789012:role/custom-orders');
  });

  it('rejects a database that is not configured, listing the configured ones', async () => {
    // Prepare
    const input = { database: 'ordres' };

    // Act
    const error = await prepareDrill(input, execution, deps()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toBe(
      'Invalid drill input:\ndatabase: found "ordres"; expected one of the configured databases: orders, billing, sessions',
    );
  });

  it.each([
    ['billing, whose backups all failed or are unverified', 'billing'],
    ['sessions, which has no backup at all', 'sessions'],
  ])('fails with NothingToDrillError for %s', async (_what, database) => {
    // Prepare
    const input = { database };

    // Act
    const error = await prepareDrill(input, execution, deps()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(NothingToDrillError);
    expect((error as Error).name).toBe('NothingToDrillError');
    expect((error as Error).message).toBe(
      `"${database}" has no verified backup to drill; the newest backups failed or are not verified yet`,
    );
  });

  it.each([
    [
      'an unknown trigger',
      { database: 'orders', trigger: 'cron' },
      'trigger: found "cron"; expected trigger to be one of schedule, manual, demo',
    ],
    [
      'an upper-case database',
      { database: 'Orders' },
      'database: found "Orders"; expected a database name of lowercase letters, digits and "-", starting with a letter',
    ],
    ['a misspelt field', { database: 'orders', triger: 'manual' }, 'unknown field "triger"; remove it'],
    ['a bare string', 'orders', '(input): found "orders"; expected object'],
  ])('rejects %s with a readable error before reading the vault', async (_what, input, line) => {
    // Prepare
    const offline = { ...deps(), s3: undefined as unknown as S3Client };

    // Act
    const error = await prepareDrill(input, execution, offline).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toBe(`Invalid drill input:\n${line}`);
  });

  it('runs behind the middy handler with the plan and restore roles from the environment', async () => {
    // Prepare
    process.env.STRONGBOX_PLAN = JSON.stringify(plan);
    process.env.STRONGBOX_RESTORE_ROLE_ARN_TEMPLATE = 'arn:aws:iam::123456789012:role/from-env-{database}';
    process.env.STRONGBOX_VAULT_BUCKET = BUCKET;
    process.env.STRONGBOX_CHAT_TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:strongbox-chat';
    process.env.STRONGBOX_S3_ENDPOINT = s3rver.endpoint;
    const { handler } = await import('../../../../lambdas/drill/prepare/handler');
    const event = { input: { database: 'orders', trigger: 'schedule' }, execution };

    // Act
    const result = await handler(event, { functionName: 'drill-prepare', awsRequestId: '1' } as unknown as Parameters<typeof handler>[1]);

    // Assess
    expect(result).toMatchObject({ backupId: ids.feb, taskRoleArn: 'arn:aws:iam::123456789012:role/from-env-orders' });
  });
});

/** A segment manifest as the archiving run writes it, for `ledger`'s binlog. */
async function seedSegment(s3: S3Client, archivedAt: string, file: string, start: number, next: LogCoordinates): Promise<string> {
  const segmentId = mintSegmentId('ledger', 'binlog', new Date(archivedAt), file, start);
  const manifest: SegmentManifest = {
    schemaVersion: 1,
    segmentId,
    database: 'ledger',
    kind: 'binlog',
    engine: { serverVersion: '10.11.6-MariaDB', serverId: 1 },
    serverFile: file,
    startPosition: start,
    endPosition: next.file === file ? next.position : start + 100,
    closed: next.file !== file,
    next,
    firstEventAt: archivedAt,
    lastEventAt: archivedAt,
    coveredUntil: archivedAt,
    artifact: {
      key: keys.segmentData(segmentId),
      bytes: 10,
      sha256: 'b'.repeat(64),
      uncompressedBytes: 30,
      compression: { algorithm: 'zstd', level: 3 },
    },
    tool: { name: 'mariadb-binlog', version: '3.5', args: ['--raw'] },
    archivedAt,
  };
  await putJson(s3, BUCKET, keys.segmentManifest(segmentId), manifest);
  return segmentId;
}

describe('drill Prepare, chain drills', () => {
  let s3rver: LocalS3;
  let s3: S3Client;
  const logs = { kind: 'binlog' as const, intervalSeconds: 300, windowDays: 7 };
  const chainPlan = planOf([{ ...databasePlan('ledger', 'mariadb'), logs }, databasePlan('plain', 'mariadb')]);
  const deps = () => ({ s3, bucket: BUCKET, plan: chainPlan, restoreRoleArn });
  const binlog = (file: number, position: number) => ({ binlogFile: `binlog.00000${file}`, binlogPosition: position });
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    s3 = s3rver.client();
    const seed = (database: string, at: string, position?: ReturnType<typeof binlog>) =>
      seedBackup(s3, BUCKET, database, at, { engine: 'mariadb', ...(position && { position }) });
    ids.mon = await seed('ledger', '2026-03-02T03:00:00Z', binlog(1, 400));
    ids.tue = await seed('ledger', '2026-03-03T03:00:00Z', binlog(2, 300));
    // A newer verified dump past a gap in the segments: the newest pair is not joined, the one before is.
    ids.wed = await seed('ledger', '2026-03-04T03:00:00Z', binlog(3, 700));
    ids.plainOld = await seed('plain', '2026-03-02T03:00:00Z', binlog(1, 400));
    ids.plainNew = await seed('plain', '2026-03-03T03:00:00Z', binlog(1, 900));
    await seedSegment(s3, '2026-03-02T03:05:00Z', 'binlog.000001', 4, { file: 'binlog.000002', position: 4 });
    await seedSegment(s3, '2026-03-03T03:05:00Z', 'binlog.000002', 4, { file: 'binlog.000002', position: 800 });
    await seedSegment(s3, '2026-03-04T03:05:00Z', 'binlog.000003', 600, { file: 'binlog.000003', position: 900 });
  });

  afterAll(async () => {
    await s3rver.stop();
  });

  it('drills the older dump of the newest pair an intact run of segments joins, naming the newer one', async () => {
    // Act
    const prepared = await prepareDrill({ database: 'ledger' }, execution, deps());

    // Assess
    expect(prepared.backupId).toBe(ids.mon);
    expect(prepared.chainToBackupId).toBe(ids.tue);
    expect(prepared.environment).toEqual([
      { Name: 'STRONGBOX_COMMAND', Value: 'drill' },
      { Name: 'STRONGBOX_BACKUP_ID', Value: ids.mon },
      { Name: 'STRONGBOX_TRIGGER', Value: 'drill:weekly-orders' },
      { Name: 'STRONGBOX_DRILL_CHAIN_TO', Value: ids.tue },
    ]);
  });

  it('drills the newest dump alone for a database without a logs block, whatever its positions', async () => {
    // Act
    const prepared = await prepareDrill({ database: 'plain' }, execution, deps());

    // Assess
    expect(prepared.backupId).toBe(ids.plainNew);
    expect(prepared.chainToBackupId).toBeUndefined();
    expect(prepared.environment.map((e) => e.Name)).not.toContain('STRONGBOX_DRILL_CHAIN_TO');
  });

  it('drills the newest dump alone once no pair is joined (the segment the pair needs is gone)', async () => {
    // Prepare
    const gone = mintSegmentId('ledger', 'binlog', new Date('2026-03-03T03:05:00Z'), 'binlog.000002', 4);
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: keys.segmentManifest(gone) }));

    // Act
    const prepared = await prepareDrill({ database: 'ledger' }, execution, deps());

    // Assess
    expect(prepared.backupId).toBe(ids.wed);
    expect(prepared.chainToBackupId).toBeUndefined();
  });
});

const WAL_BYTES = 16 * 1024 * 1024;
/** WAL file `n` of timeline 1, as PostgreSQL names it. */
const walFile = (n: number) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;
const lsnAt = (file: number, offset: number) => formatLsn(lsnOfCoordinates({ file: walFile(file), position: offset }).lsn);

/** A whole WAL file's segment manifest, as archive-wal writes it: closed (to the next file) or the tail up to `end`. */
async function seedWal(s3: S3Client, database: string, archivedAt: string, file: number, end?: number): Promise<string> {
  const segmentId = mintSegmentId(database, 'wal', new Date(archivedAt), walFile(file), 0);
  const manifest: SegmentManifest = {
    schemaVersion: 1,
    segmentId,
    database,
    kind: 'wal',
    engine: { serverVersion: '15.8' },
    serverFile: walFile(file),
    startPosition: 0,
    endPosition: end ?? WAL_BYTES,
    closed: end === undefined,
    next: end === undefined ? { file: walFile(file + 1), position: 0 } : { file: walFile(file), position: end },
    coveredUntil: archivedAt,
    artifact: {
      key: keys.segmentData(segmentId),
      bytes: 10,
      sha256: 'c'.repeat(64),
      uncompressedBytes: WAL_BYTES,
      compression: { algorithm: 'zstd', level: 3 },
    },
    tool: { name: 'pg_receivewal', version: '15.8', args: ['--slot', 'strongbox_pgchain'] },
    archivedAt,
  };
  await putJson(s3, BUCKET, keys.segmentManifest(segmentId), manifest);
  return segmentId;
}

/** A base backup's manifest (and Verify's record, unless `verified` is 'missing'), starting and consistent in WAL file `file`. */
async function seedBase(s3: S3Client, database: string, finishedAt: string, file: number, verified: boolean | 'missing'): Promise<string> {
  const manifest = baseManifestOf({
    database,
    finishedAt: new Date(finishedAt),
    startLsn: lsnOfCoordinates({ file: walFile(file), position: 40 }).lsn,
    stopLsn: lsnOfCoordinates({ file: walFile(file), position: 4096 }).lsn,
    artifact: { bytes: 10, sha256: 'd'.repeat(64), uncompressedBytes: 30 },
    backupManifest: { bytes: 10, sha256: 'e'.repeat(64) },
    toolArgs: ['-Ft', '-X', 'none', '-D', '-'],
  });
  const { baseId } = manifest;
  await putJson(s3, BUCKET, baseKeys.manifest(baseId), manifest);
  if (verified !== 'missing') {
    const verification: BaseVerification = {
      schemaVersion: 1,
      baseId,
      passed: verified,
      verifiedAt: finishedAt,
      checks: { bytes: true, sha256: verified, backupManifest: true },
      ...(!verified && { reason: 'sha256 differs from the manifest' }),
    };
    await putJson(s3, BUCKET, baseKeys.verification(baseId), verification);
  }
  return baseId;
}

describe('drill Prepare, PostgreSQL chain drills', () => {
  let s3rver: LocalS3;
  let s3: S3Client;
  const logs = { kind: 'wal' as const, intervalSeconds: 300, windowDays: 7 };
  const chainPlan = planOf([
    { ...databasePlan('pgchain', 'postgres'), logs },
    { ...databasePlan('pgnobase', 'postgres'), logs },
  ]);
  const deps = () => ({ s3, bucket: BUCKET, plan: chainPlan, restoreRoleArn });
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    s3 = s3rver.client();
    const dump = (database: string, at: string, lsn: string) => seedBackup(s3, BUCKET, database, at, { position: { lsn } });
    // WAL files 1 to 4 archived as one run: 1, 2 and 3 closed, 4 the tail.
    for (const file of [1, 2, 3]) {
      ids[`wal${file}`] = await seedWal(s3, 'pgchain', `2026-03-0${file + 1}T04:00:00Z`, file);
    }
    ids.wal4 = await seedWal(s3, 'pgchain', '2026-03-05T04:00:00Z', 4, 8192);
    ids.baseMon = await seedBase(s3, 'pgchain', '2026-03-02T02:00:00Z', 1, true);
    ids.mon = await dump('pgchain', '2026-03-02T03:00:00Z', lsnAt(2, 100));
    // Not verified yet: still a chain start, like a segment without a record.
    ids.baseTue = await seedBase(s3, 'pgchain', '2026-03-03T02:00:00Z', 2, 'missing');
    // Verify found the tar damaged: never a chain start, though it is the newest base before the newest dump.
    ids.baseWed = await seedBase(s3, 'pgchain', '2026-03-04T02:00:00Z', 3, false);
    ids.thu = await dump('pgchain', '2026-03-05T03:00:00Z', lsnAt(4, 100));
    ids.plainNewest = await dump('pgnobase', '2026-03-05T03:00:00Z', lsnAt(1, 100));
  });

  afterAll(async () => {
    await s3rver.stop();
  });

  it('pairs the newest dump with the newest usable base whose WAL run reaches its LSN, skipping a base Verify failed', async () => {
    // Act
    const prepared = await prepareDrill({ database: 'pgchain' }, execution, deps());

    // Assess
    expect(prepared.backupId).toBe(ids.thu);
    expect(prepared.recoveryBaseId).toBe(ids.baseTue);
    expect(prepared.chainToBackupId).toBeUndefined();
    expect(prepared.environment).toEqual([
      { Name: 'STRONGBOX_COMMAND', Value: 'drill' },
      { Name: 'STRONGBOX_BACKUP_ID', Value: ids.thu },
      { Name: 'STRONGBOX_TRIGGER', Value: 'drill:weekly-orders' },
      { Name: 'STRONGBOX_RECOVERY_BASE_ID', Value: ids.baseTue },
    ]);
  });

  it('drills the newest dump alone when the database has no base backup', async () => {
    // Act
    const prepared = await prepareDrill({ database: 'pgnobase' }, execution, deps());

    // Assess
    expect(prepared.backupId).toBe(ids.plainNewest);
    expect(prepared.recoveryBaseId).toBeUndefined();
    expect(prepared.environment.map((e) => e.Name)).not.toContain('STRONGBOX_RECOVERY_BASE_ID');
  });

  it('falls back to an older dump once a WAL gap cuts the newest off, then to the newest dump alone once no run holds a base', async () => {
    // Prepare: WAL file 3 gone, so file 4 (the newest dump's LSN) is no longer reached from a base
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: keys.segmentManifest(ids.wal3) }));

    // Act
    const older = await prepareDrill({ database: 'pgchain' }, execution, deps());
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: keys.segmentManifest(ids.wal2) }));
    const alone = await prepareDrill({ database: 'pgchain' }, execution, deps());

    // Assess
    expect(older).toMatchObject({ backupId: ids.mon, recoveryBaseId: ids.baseMon });
    expect(alone.backupId).toBe(ids.thu);
    expect(alone.recoveryBaseId).toBeUndefined();
  });
});
