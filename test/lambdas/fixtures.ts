import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DatabasePlan, Plan } from '../../contracts/plan';
import { type Inventory, keys, type Manifest, parseBackupId } from '../../contracts/vault';
import { parseConfig } from '../../infra/config/load';
import { buildPlan } from '../../infra/config/plan';

/** A small, valid config for the workflow tests: three databases in three time zones and tiers. */
export const TEST_CONFIG_YAML = `
app:
  name: sbx
vault:
  primaryRegion: eu-west-1
  replicaRegion: eu-central-1
  graceHours: 6
alerts:
  pageOnImportant: false
databases:
  - name: orders
    engine: postgres
    tier: critical
    connection: { host: orders.example.com, database: orders, secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-AbCdEf" }
    schedule: { expression: rate(15 minutes), timezone: Europe/Dublin, flexibleWindowMinutes: 0 }
    drill: { expression: cron(30 4 ? * SUN *), timezone: Europe/Dublin }
    retention: { daily: 7, weekly: 4, monthly: 12, yearly: 7, complianceArchive: forever }
    task: { timeoutMinutes: 60 }
  - name: billing
    engine: mariadb
    tier: important
    connection: { host: billing.example.com, secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing-AbCdEf" }
    schedule:
      expression: cron(0 * * * ? *)
      timezone: Europe/Berlin
      blackouts: [{ start: "23:50", end: "00:10" }]
    task: { timeoutMinutes: 180 }
  - name: cache
    engine: redis
    tier: general
    connection: { host: cache.example.com }
    schedule: { expression: cron(0 3 * * ? *), timezone: America/New_York, flexibleWindowMinutes: 30 }
    rpo: 2d
`;

export function testConfig() {
  return parseConfig(TEST_CONFIG_YAML, 'test.yaml');
}

export function testPlan(): Plan {
  return buildPlan(testConfig());
}

export const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:strongbox/target-AbCdEf';

export function databasePlan(
  name: string,
  engine: DatabasePlan['engine'],
  connection: Partial<DatabasePlan['connection']> = {},
): DatabasePlan {
  return {
    name,
    engine,
    tier: 'important',
    rpoSeconds: 3600,
    rtoSeconds: 14400,
    timezone: 'UTC',
    blackouts: [],
    retention: { daily: 7, weekly: 4, monthly: 12, yearly: 7, legalHoldYearly: false },
    connection: {
      host: `${name}.prod.internal`,
      port: engine === 'redis' ? 6379 : engine === 'postgres' ? 5432 : 3306,
      tls: 'require',
      ...(engine === 'redis' ? {} : { database: name, secretArn: SECRET.replace('target', name) }),
      ...connection,
    },
    taskFamily: `strongbox-${name}-dump`,
    taskTimeoutSeconds: 7200,
    compressionLevel: 3,
    restoreJobs: 2,
    redisMode: 'auto',
  };
}

/** A plan of exactly `databases`, built by hand (testPlan() is the one a config builds). */
export function planOf(
  databases: DatabasePlan[] = [databasePlan('orders', 'postgres'), databasePlan('billing', 'mariadb'), databasePlan('sessions', 'redis')],
): Plan {
  return {
    app: 'strongbox',
    objectLock: { mode: 'GOVERNANCE', defaultDays: 7 },
    graceSeconds: 21600,
    databases: Object.fromEntries(databases.map((db) => [db.name, db])),
  };
}

/** Real zstd output from the Debian `zstd` binary (installed by scripts/ensure-tools.sh). */
export function zstdCompress(data: Buffer): Buffer {
  const result = spawnSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 28 });
  if (result.status !== 0) {
    throw new Error(`zstd failed: ${result.stderr.toString()}`);
  }
  return result.stdout;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ManifestOptions {
  /** @default 'postgres' (with the pgdump format; rdb for redis, sql for mysql and mariadb) */
  readonly engine?: Manifest['engine']['name'];
  /** @default one counted table, public.orders */
  readonly inventory?: Inventory;
}

/** The one manifest fabricator of the tests: what the dump task writes for `artifact`, taken at the backupId's instant. */
export function manifestFor(
  backupId: string,
  artifact: Buffer,
  uncompressedBytes = artifact.length * 3,
  options: ManifestOptions = {},
): Manifest {
  const { database, takenAt } = parseBackupId(backupId);
  const engine = options.engine ?? 'postgres';
  const format = engine === 'postgres' ? 'pgdump' : engine === 'redis' ? 'rdb' : 'sql';
  const finished = new Date(takenAt.getTime() + 90_000);
  return {
    schemaVersion: 1,
    backupId,
    database,
    kind: 'full',
    trigger: 'schedule',
    engine: { name: engine, serverVersion: '15.8' },
    tool: { name: 'pg_dump', version: '15.8', args: ['-Fc', '-Z0'] },
    artifact: {
      key: keys.artifact(backupId, format),
      format,
      bytes: artifact.length,
      sha256: sha256(artifact),
      uncompressedBytes,
      compression: { algorithm: 'zstd', level: 3 },
      parts: 1,
      partSizeBytes: 8 * 1024 * 1024,
    },
    startedAt: takenAt.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: 90,
    throughputMBps: Math.round((uncompressedBytes / 1e6 / 90) * 100) / 100,
    inventory: options.inventory ?? { exact: true, entries: [{ name: 'public.orders', kind: 'table', count: 3 }] },
  };
}

/** Writes a backup the way the dump task does: data first, manifest last. */
export async function putBackup(
  s3: S3Client,
  bucket: string,
  backupId: string,
  artifact: Buffer,
  manifest = manifestFor(backupId, artifact),
) {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifest.artifact.key, Body: artifact }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.manifest(backupId), Body: JSON.stringify(manifest) }));
  return manifest;
}

/**
 * A PostgreSQL backup's second artifact: puts `roles` (zstd) at keys.roles and returns the manifest naming it
 * (the manifest is rewritten too, as the dump writes it last).
 */
export async function putRoles(s3: S3Client, bucket: string, manifest: Manifest, roles: Buffer, uncompressedBytes = roles.length * 2) {
  const withRoles: Manifest = {
    ...manifest,
    roles: { key: keys.roles(manifest.backupId), bytes: roles.length, sha256: sha256(roles), uncompressedBytes, passwordsOmitted: false },
  };
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.roles(manifest.backupId), Body: roles }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.manifest(manifest.backupId), Body: JSON.stringify(withRoles) }));
  return withRoles;
}

export interface RecordedMetric {
  readonly dimensions: Record<string, string>;
  readonly defaultsCleared: boolean;
  readonly name: string;
  readonly unit: string;
  readonly value: number;
}

/** Stands in for Powertools Metrics (as local/demo/demo.ts's metricValues does): records what would reach EMF. */
export function metricsRecorder(): { metrics: Metrics; recorded: RecordedMetric[] } {
  const recorded: RecordedMetric[] = [];
  const metrics = {
    singleMetric: () => {
      const dimensions: Record<string, string> = {};
      let defaultsCleared = false;
      return {
        clearDefaultDimensions: () => {
          defaultsCleared = true;
        },
        addDimension: (name: string, value: string) => {
          dimensions[name] = value;
        },
        addMetric: (name: string, unit: string, value: number) =>
          recorded.push({ dimensions: { ...dimensions }, defaultsCleared, name, unit, value }),
      };
    },
  } as unknown as Metrics;
  return { metrics, recorded };
}

/** The execution a Prepare of state machine `sbx-<machine>` is given: its ARN ends with `id` and it started at `startTime`. */
export function executionOf(machine: string) {
  return (id: string, startTime: string) => ({
    executionArn: `arn:aws:states:eu-west-1:123456789012:execution:sbx-${machine}:${id}`,
    startTime,
  });
}

/** What the replicate steps take: both vaults, `primary` and `replica`, in one s3rver, copying at `now`. */
export function replicationDeps(vaults: { client(): S3Client }, now: Date, replica: S3Client = vaults.client()) {
  return {
    source: vaults.client(),
    replica,
    sourceBucket: 'primary',
    replicaBucket: 'replica',
    replicaKmsKey: 'alias/sbx-vault-replica',
    now: () => now,
  };
}
