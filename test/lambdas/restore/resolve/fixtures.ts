import type { S3Client } from '@aws-sdk/client-s3';
import type { DatabasePlan, Plan } from '../../../../contracts/plan';
import { type Inventory, keys, type Manifest, mintBackupId, type Verification } from '../../../../contracts/vault';
import { putJson } from '../../../../contracts/vault-io';

/** Vault records for tests that need backups to exist without running a dump. */

/** What STRONGBOX_RESTORE_ROLES would map each database to. */
export const restoreRoleArn = (database: string) => `arn:aws:iam::123456789012:role/strongbox-${database}-restore`;

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

export function testPlan(
  databases: DatabasePlan[] = [databasePlan('orders', 'postgres'), databasePlan('billing', 'mariadb'), databasePlan('sessions', 'redis')],
): Plan {
  return {
    app: 'strongbox',
    objectLock: { mode: 'GOVERNANCE', defaultDays: 7 },
    graceSeconds: 21600,
    databases: Object.fromEntries(databases.map((db) => [db.name, db])),
  };
}

export function fakeManifest(backupId: string, database: string, engine: Manifest['engine']['name'], inventory: Inventory): Manifest {
  const format = engine === 'postgres' ? 'pgdump' : engine === 'redis' ? 'rdb' : 'sql';
  return {
    schemaVersion: 1,
    backupId,
    database,
    kind: 'full',
    trigger: 'schedule',
    engine: { name: engine, serverVersion: '15.8' },
    tool: { name: 'pg_dump', version: '15.8', args: ['-Fc'] },
    artifact: {
      key: keys.artifact(backupId, format),
      format,
      bytes: 10,
      sha256: 'a'.repeat(64),
      uncompressedBytes: 20,
      compression: { algorithm: 'zstd', level: 3 },
      parts: 1,
      partSizeBytes: 8 * 1024 * 1024,
    },
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:00:01Z',
    durationSeconds: 1,
    throughputMBps: 1,
    inventory,
  };
}

export interface SeedOptions {
  readonly verified?: boolean | 'missing';
  readonly manifest?: boolean;
  readonly engine?: Manifest['engine']['name'];
  readonly inventory?: Inventory;
}

/** Writes a backup's records (manifest, verification) as the dump task and Verify would. Returns the backupId. */
export async function seedBackup(s3: S3Client, bucket: string, database: string, at: string, options: SeedOptions = {}): Promise<string> {
  const backupId = mintBackupId(database, 'full', new Date(at));
  const inventory = options.inventory ?? { exact: true, entries: [{ name: 'public.orders', kind: 'table', count: 3 }] };
  if (options.manifest !== false) {
    await putJson(s3, bucket, keys.manifest(backupId), fakeManifest(backupId, database, options.engine ?? 'postgres', inventory));
  }
  if (options.verified !== 'missing') {
    const verification: Verification = {
      schemaVersion: 1,
      backupId,
      verified: options.verified !== false,
      verifiedAt: at,
      method: 'reread',
      bytes: 10,
      sha256: 'a'.repeat(64),
      problems: options.verified === false ? ['sha256 differs from the manifest'] : [],
    };
    await putJson(s3, bucket, keys.verification(backupId), verification);
  }
  return backupId;
}

/** Four databases and two DR plans: `region-loss` (three groups) and `az-loss` (one database). */
export function drPlanFixture(): Plan {
  return {
    ...testPlan([
      databasePlan('users', 'postgres'),
      databasePlan('orders', 'postgres'),
      databasePlan('billing', 'mariadb'),
      databasePlan('sessions', 'redis'),
    ]),
    drPlans: {
      'region-loss': {
        groups: [['users'], ['orders', 'billing'], ['sessions']],
        targets: {
          users: { host: 'users.dr.internal', port: 5432, database: 'users', secretArn: SECRET },
          orders: { host: 'orders.dr.internal', port: 5432, database: 'orders', secretArn: SECRET },
          billing: { host: 'billing.dr.internal', port: 3306, secretArn: SECRET },
          sessions: { host: 'sessions.dr.internal', port: 6379 },
        },
      },
      'az-loss': {
        groups: [['orders']],
        targets: { orders: { host: 'orders.az2.internal', port: 5432, database: 'orders', secretArn: SECRET } },
      },
    },
  };
}
