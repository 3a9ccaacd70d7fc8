import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientResolvedConfig,
  S3ServiceException,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import { type AwsStub, mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LogCursor } from '../../../contracts/logs';
import { METRICS_NAMESPACE, NO_BACKUP_AGE_SECONDS } from '../../../contracts/metrics';
import type { DatabasePlan, Plan } from '../../../contracts/plan';
import { keys, type LatestDrill, type LatestVerified } from '../../../contracts/vault';
import { type LatestBase, latestBaseKey, mintBaseId } from '../../../contracts/wal';
import { type LocalS3, startS3rver } from '../../../dev/servers/s3rver';
import { runWatchdog, WatchdogError } from '../../../lambdas/watchdog/watchdog';

const BUCKET = 'vault';
const NOW = new Date('2026-03-10T12:00:00Z');

function database(name: string, engine: DatabasePlan['engine'], tier: DatabasePlan['tier'], rpoSeconds: number): DatabasePlan {
  return {
    name,
    engine,
    tier,
    rpoSeconds,
    rtoSeconds: 3600,
    timezone: 'UTC',
    blackouts: [],
    retention: { daily: 7, weekly: 4, monthly: 12, yearly: 0, legalHoldYearly: false },
    connection: { host: 'db.internal', port: 5432, tls: 'require' },
    taskFamily: `app-${name}-dump`,
    taskTimeoutSeconds: 3600,
    compressionLevel: 3,
    restoreJobs: 2,
    redisMode: 'auto',
  };
}

function planOf(...databases: DatabasePlan[]): Plan {
  return {
    app: 'app',
    objectLock: { mode: 'GOVERNANCE', defaultDays: 7 },
    graceSeconds: 3600,
    databases: Object.fromEntries(databases.map((db) => [db.name, db])),
  };
}

async function plantPointer(client: S3Client, database: string, takenAt: Date, bytes: number): Promise<LatestVerified> {
  const stamp = takenAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const pointer: LatestVerified = {
    database,
    backupId: `${database}-${stamp}-full`,
    takenAt: takenAt.toISOString(),
    verifiedAt: new Date(takenAt.getTime() + 60_000).toISOString(),
    bytes,
  };
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys.latestVerified(database), Body: JSON.stringify(pointer) }));
  return pointer;
}

interface EmfLine {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

/** Captures what Powertools prints: with POWERTOOLS_DEV set, EMF goes through the global console. */
function captureEmf() {
  const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  return {
    lines: (): EmfLine[] => spy.mock.calls.map((call) => JSON.parse(String(call[0])) as EmfLine).filter((line) => line._aws !== undefined),
    value: (database: string, metric: string): unknown =>
      spy.mock.calls.map((call) => JSON.parse(String(call[0])) as EmfLine).find((line) => line.Database === database && metric in line)?.[
        metric
      ],
  };
}

const quietLogger = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };

/** One watchdog run at NOW over `plan`, with the vault on `s3` and the real Metrics. */
function watch(s3: S3Client, plan: Plan) {
  return runWatchdog({
    s3,
    bucket: BUCKET,
    plan,
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'watchdog' }),
    logger: quietLogger,
    now: () => NOW,
  });
}

describe('runWatchdog against s3rver', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    // setup-env.ts sets POWERTOOLS_DEV, which also disables metrics unless they are enabled explicitly.
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    s3 = await startS3rver([BUCKET]);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await s3.stop();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('emits the age of the newest verified backup for fresh, stale and never-backed-up databases', async () => {
    // Prepare
    const client = s3.client();
    const fresh = await plantPointer(client, 'fresh-db', new Date(NOW.getTime() - 300_000), 12_345);
    await plantPointer(client, 'stale-db', new Date(NOW.getTime() - 7_200_000), 999);
    const plan = planOf(
      database('fresh-db', 'postgres', 'critical', 900),
      database('stale-db', 'mariadb', 'important', 3600),
      database('none-db', 'redis', 'general', 86_400),
    );
    const emf = captureEmf();
    // Act
    const points = await watch(client, plan);
    // Assess
    expect(emf.value('fresh-db', 'RecoveryPointAgeSeconds')).toBe(300);
    expect(emf.value('stale-db', 'RecoveryPointAgeSeconds')).toBe(7200);
    expect(emf.value('none-db', 'RecoveryPointAgeSeconds')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(emf.value('fresh-db', 'LatestVerifiedBackupBytes')).toBe(12_345);
    expect(emf.value('none-db', 'LatestVerifiedBackupBytes')).toBeUndefined();
    expect(points).toEqual([
      expect.objectContaining({ database: 'fresh-db', ageSeconds: 300, withinRpo: true, backupId: fresh.backupId }),
      expect.objectContaining({ database: 'stale-db', ageSeconds: 7200, withinRpo: false }),
      expect.objectContaining({ database: 'none-db', ageSeconds: NO_BACKUP_AGE_SECONDS, withinRpo: false, backupId: undefined }),
    ]);
  });

  it('ages a database with a logs block by the log it archived, and by its full dump after a chain break until a newer dump', async () => {
    // Prepare
    const client = s3.client();
    const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);
    const cursor = (database: string, coveredUntil: Date, brokenAt?: Date): LogCursor => ({
      schemaVersion: 1,
      database,
      kind: 'binlog',
      next: { file: 'binlog.000009', position: 4 },
      coveredUntil: coveredUntil.toISOString(),
      updatedAt: coveredUntil.toISOString(),
      ...(brokenAt && {
        broken: {
          at: brokenAt.toISOString(),
          reason: 'binary log binlog.000007 was purged before it was archived',
          resumedAt: { file: 'binlog.000008', position: 4 },
        },
      }),
    });
    const put = (c: LogCursor) =>
      client.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys.logCursor(c.database), Body: JSON.stringify(c) }));
    const logs = { kind: 'binlog' as const, intervalSeconds: 300, windowDays: 7 };
    const withLogs = (name: string) => ({ ...database(name, 'mariadb', 'critical', 900), logs });
    for (const name of ['intact-db', 'broken-db', 'renewed-db']) {
      await plantPointer(client, name, minutesAgo(name === 'renewed-db' ? 30 : 360), 100);
    }
    await put(cursor('intact-db', minutesAgo(2)));
    await put(cursor('broken-db', minutesAgo(1), minutesAgo(60)));
    await put(cursor('renewed-db', minutesAgo(1), minutesAgo(60)));
    await plantPointer(client, 'unarchived-db', minutesAgo(10), 100);
    const emf = captureEmf();

    // Act
    const points = await watch(
      client,
      planOf(withLogs('intact-db'), withLogs('broken-db'), withLogs('renewed-db'), withLogs('unarchived-db')),
    );

    // Assess
    expect(emf.value('intact-db', 'RecoveryPointAgeSeconds')).toBe(120);
    expect(emf.value('broken-db', 'RecoveryPointAgeSeconds')).toBe(21_600);
    expect(emf.value('renewed-db', 'RecoveryPointAgeSeconds')).toBe(60);
    expect(emf.value('unarchived-db', 'RecoveryPointAgeSeconds')).toBe(600);
    expect(emf.value('broken-db', 'DatabaseBreach')).toBe(1);
    expect(emf.value('intact-db', 'DatabaseBreach')).toBe(0);
    expect(points.map((p) => [p.database, p.recoveryFrom, p.withinRpo, p.chainBroken?.at])).toEqual([
      ['intact-db', 'log', true, undefined],
      ['broken-db', 'full', false, minutesAgo(60).toISOString()],
      ['renewed-db', 'log', true, undefined],
      ['unarchived-db', 'full', true, undefined],
    ]);
  });

  it('ages a PostgreSQL database with WAL from its newest verified base, never from a logical dump, and a newer dump by itself', async () => {
    // Prepare
    const client = s3.client();
    const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);
    const walCursor = (database: string, coveredUntil: Date): LogCursor => ({
      schemaVersion: 1,
      database,
      kind: 'wal',
      next: { file: '000000010000000000000009', position: 0 },
      coveredUntil: coveredUntil.toISOString(),
      updatedAt: coveredUntil.toISOString(),
    });
    const putJsonAt = (key: string, body: unknown) =>
      client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: JSON.stringify(body) }));
    const base = (database: string, finishedAt: Date): LatestBase => ({
      database,
      baseId: mintBaseId(database, new Date(finishedAt.getTime() - 60_000)),
      finishedAt: finishedAt.toISOString(),
      verifiedAt: finishedAt.toISOString(),
      bytes: 10,
    });
    const logs = { kind: 'wal' as const, intervalSeconds: 300, windowDays: 7 };
    const withWal = (name: string) => ({ ...database(name, 'postgres', 'critical', 900), logs });
    // based-db: a base 6 h ago and WAL to 2 min ago, a logical dump 3 h ago that the WAL cannot extend.
    await putJsonAt(latestBaseKey('based-db'), base('based-db', minutesAgo(360)));
    await plantPointer(client, 'based-db', minutesAgo(180), 100);
    await putJsonAt(keys.logCursor('based-db'), walCursor('based-db', minutesAgo(2)));
    // dump-only-db: WAL archived, no base yet: only its logical dump 3 h ago counts.
    await plantPointer(client, 'dump-only-db', minutesAgo(180), 100);
    await putJsonAt(keys.logCursor('dump-only-db'), walCursor('dump-only-db', minutesAgo(2)));
    const emf = captureEmf();

    // Act
    const points = await watch(client, planOf(withWal('based-db'), withWal('dump-only-db')));

    // Assess
    expect(emf.value('based-db', 'RecoveryPointAgeSeconds')).toBe(120);
    expect(emf.value('dump-only-db', 'RecoveryPointAgeSeconds')).toBe(10_800);
    expect(points.map((p) => [p.database, p.recoveryFrom, p.withinRpo, p.baseId])).toEqual([
      ['based-db', 'log', true, base('based-db', minutesAgo(360)).baseId],
      ['dump-only-db', 'full', false, undefined],
    ]);
  });

  it('emits DrillAgeSeconds only for databases with a drill schedule, from the latest-drill pointer', async () => {
    // Prepare
    const client = s3.client();
    await plantPointer(client, 'drilled-db', new Date(NOW.getTime() - 600_000), 10);
    await plantPointer(client, 'undrilled-db', new Date(NOW.getTime() - 600_000), 10);
    await plantPointer(client, 'plain-db', new Date(NOW.getTime() - 600_000), 10);
    const drill: LatestDrill = {
      database: 'drilled-db',
      backupId: 'drilled-db-20260309T030000Z-full',
      drilledAt: new Date(NOW.getTime() - 86_400_000).toISOString(),
      passed: true,
    };
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys.latestDrill('drilled-db'), Body: JSON.stringify(drill) }));
    const weekly = { drillIntervalSeconds: 7 * 86_400 };
    const plan = planOf(
      { ...database('drilled-db', 'postgres', 'critical', 900), ...weekly },
      { ...database('undrilled-db', 'postgres', 'critical', 900), ...weekly },
      database('plain-db', 'redis', 'general', 86_400),
    );
    const emf = captureEmf();
    // Act
    const points = await watch(client, plan);
    // Assess
    expect(emf.value('drilled-db', 'DrillAgeSeconds')).toBe(86_400);
    expect(emf.value('undrilled-db', 'DrillAgeSeconds')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(emf.value('plain-db', 'DrillAgeSeconds')).toBeUndefined();
    expect(points.map((p) => p.drillAgeSeconds)).toEqual([86_400, NO_BACKUP_AGE_SECONDS, undefined]);
  });

  it('publishes every metric in the Strongbox namespace with exactly the Database and Engine dimensions', async () => {
    // Prepare
    const client = s3.client();
    await plantPointer(client, 'dims-db', new Date(NOW.getTime() - 60_000), 10);
    const emf = captureEmf();
    // Act
    await watch(client, planOf(database('dims-db', 'mysql', 'critical', 900)));
    // Assess
    const lines = emf.lines().filter((line) => !('DatabaseBreach' in line));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line._aws.CloudWatchMetrics[0].Namespace).toBe('Strongbox');
      expect(line._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Database', 'Engine']]);
      expect(line).toMatchObject({ Database: 'dims-db', Engine: 'mysql' });
      expect(line.service).toBeUndefined();
    }
    expect(lines.map((line) => line._aws.CloudWatchMetrics[0].Metrics[0])).toEqual([
      { Name: 'RecoveryPointAgeSeconds', Unit: 'Seconds' },
      { Name: 'LatestVerifiedBackupBytes', Unit: 'Bytes' },
    ]);
  });

  it('flags each database in or out of breach every run, with exactly the Database and Tier dimensions', async () => {
    // Prepare
    const client = s3.client();
    await plantPointer(client, 'ok-db', new Date(NOW.getTime() - 300_000), 10);
    await plantPointer(client, 'late-db', new Date(NOW.getTime() - 7_200_000), 10);
    await plantPointer(client, 'undrilled-db', new Date(NOW.getTime() - 300_000), 10);
    const weekly = { drillIntervalSeconds: 7 * 86_400 };
    const plan = planOf(database('ok-db', 'postgres', 'critical', 900), database('late-db', 'mariadb', 'important', 3600), {
      ...database('undrilled-db', 'redis', 'general', 86_400),
      ...weekly,
    });
    const emf = captureEmf();
    // Act
    const points = await watch(client, plan);
    // Assess
    const flags = emf
      .lines()
      .filter((line) => 'DatabaseBreach' in line || 'DrillOverdue' in line)
      .map((line) => ({ ...line, _aws: line._aws.CloudWatchMetrics[0].Dimensions }));
    expect(flags).toEqual([
      { _aws: [['Database', 'Tier']], Database: 'ok-db', Tier: 'critical', DatabaseBreach: 0 },
      { _aws: [['Database', 'Tier']], Database: 'late-db', Tier: 'important', DatabaseBreach: 1 },
      { _aws: [['Database', 'Tier']], Database: 'undrilled-db', Tier: 'general', DatabaseBreach: 0 },
      { _aws: [['Database', 'Tier']], Database: 'undrilled-db', Tier: 'general', DrillOverdue: 1 },
    ]);
    expect(points.map((p) => p.drillOverdue)).toEqual([undefined, undefined, true]);
  });

  it('counts a drill overdue only beyond the drill schedule plus the task timeout plus an hour', async () => {
    // Prepare
    const client = s3.client();
    const weekly = 7 * 86_400;
    const allowed = weekly + 3600 + 3600; // the schedule, the 1 h task timeout of database(), an hour
    for (const [name, ageSeconds] of [
      ['ontime-db', allowed],
      ['overdue-db', allowed + 60],
    ] as const) {
      await plantPointer(client, name, new Date(NOW.getTime() - 60_000), 10);
      const drill: LatestDrill = {
        database: name,
        backupId: `${name}-20260301T030000Z-full`,
        drilledAt: new Date(NOW.getTime() - ageSeconds * 1000).toISOString(),
        passed: true,
      };
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys.latestDrill(name), Body: JSON.stringify(drill) }));
    }
    const plan = planOf(
      { ...database('ontime-db', 'postgres', 'critical', 900), drillIntervalSeconds: weekly },
      { ...database('overdue-db', 'postgres', 'critical', 900), drillIntervalSeconds: weekly },
    );
    const emf = captureEmf();
    // Act
    const points = await watch(client, plan);
    // Assess
    expect(points.map((p) => p.drillOverdue)).toEqual([false, true]);
    expect(emf.value('ontime-db', 'DrillOverdue')).toBe(0);
    expect(emf.value('overdue-db', 'DrillOverdue')).toBe(1);
  });

  it('still reports the readable databases when one pointer is corrupt, then fails naming the bad one', async () => {
    // Prepare
    const client = s3.client();
    await plantPointer(client, 'good-db', new Date(NOW.getTime() - 120_000), 5);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys.latestVerified('bad-db'), Body: '{"database":"bad-db"}' }));
    const emf = captureEmf();
    // Act
    const run = watch(client, planOf(database('good-db', 'postgres', 'critical', 900), database('bad-db', 'postgres', 'critical', 900)));
    // Assess
    await expect(run).rejects.toThrow(WatchdogError);
    await expect(run).rejects.toThrow(
      /bad-db: s3:\/\/vault\/index\/bad-db\/latest-verified\.json is not a valid pointer[\s\S]*backupId: found nothing/,
    );
    expect(emf.value('good-db', 'RecoveryPointAgeSeconds')).toBe(120);
    expect(emf.value('bad-db', 'RecoveryPointAgeSeconds')).toBeUndefined();
  });

  it('refuses a pointer that names another database', async () => {
    // Prepare
    const client = s3.client();
    const other = await plantPointer(client, 'source-db', new Date(NOW.getTime() - 60_000), 1);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys.latestVerified('copied-db'), Body: JSON.stringify(other) }));
    captureEmf();
    // Act
    const run = watch(client, planOf(database('copied-db', 'postgres', 'general', 86_400)));
    // Assess
    await expect(run).rejects.toThrow(/names database "source-db"; expected "copied-db"/);
  });

  it('rejects an empty bucket name with the fix', async () => {
    // Prepare
    const deps = {
      s3: s3.client(),
      bucket: '',
      plan: planOf(database('any-db', 'postgres', 'general', 86_400)),
      metrics: new Metrics({ namespace: METRICS_NAMESPACE }),
      logger: quietLogger,
    };
    // Act
    const run = runWatchdog(deps);
    // Assess
    await expect(run).rejects.toThrow(/set VAULT_BUCKET/);
  });
});

describe('runWatchdog when S3 answers 403 for a missing pointer', () => {
  beforeAll(() => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });
  let s3: AwsStub<ServiceInputTypes, ServiceOutputTypes, S3ClientResolvedConfig>;
  afterEach(() => {
    s3.restore();
    vi.restoreAllMocks();
  });

  const accessDenied = () =>
    new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' });

  it('reports no backup when the key is not listed under index/', async () => {
    // Prepare
    s3 = mockClient(S3Client);
    s3.on(GetObjectCommand).rejects(accessDenied());
    s3.on(ListObjectsV2Command, { Bucket: BUCKET, Prefix: keys.latestVerified('new-db'), MaxKeys: 1 }).resolves({ Contents: [] });
    const emf = captureEmf();
    // Act
    const points = await runWatchdog({
      s3: new S3Client({}),
      bucket: BUCKET,
      plan: planOf(database('new-db', 'postgres', 'critical', 900)),
      metrics: new Metrics({ namespace: METRICS_NAMESPACE }),
      logger: quietLogger,
      now: () => NOW,
    });
    // Assess
    expect(points[0].ageSeconds).toBe(NO_BACKUP_AGE_SECONDS);
    expect(emf.value('new-db', 'RecoveryPointAgeSeconds')).toBe(NO_BACKUP_AGE_SECONDS);
  });

  it('fails on a real permission problem: the pointer is listed but cannot be read', async () => {
    // Prepare
    s3 = mockClient(S3Client);
    s3.on(GetObjectCommand).rejects(accessDenied());
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: keys.latestVerified('locked-db') }] });
    const emf = captureEmf();
    // Act
    const run = runWatchdog({
      s3: new S3Client({}),
      bucket: BUCKET,
      plan: planOf(database('locked-db', 'postgres', 'critical', 900)),
      metrics: new Metrics({ namespace: METRICS_NAMESPACE }),
      logger: quietLogger,
      now: () => NOW,
    });
    // Assess
    await expect(run).rejects.toThrow(/locked-db: Access Denied/);
    expect(emf.value('locked-db', 'RecoveryPointAgeSeconds')).toBeUndefined();
  });
});
