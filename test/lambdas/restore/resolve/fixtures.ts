import type { S3Client } from '@aws-sdk/client-s3';
import type { Plan } from '../../../../contracts/plan';
import { type Inventory, keys, type Manifest, mintBackupId, type Verification } from '../../../../contracts/vault';
import { putJson } from '../../../../contracts/vault-io';
import { databasePlan, manifestFor, planOf, SECRET, sha256 } from '../../fixtures';

/** Vault records for tests that need backups to exist without running a dump. */

/** Each database's restore role, as STRONGBOX_RESTORE_ROLE_ARN_TEMPLATE names it. */
export const restoreRoleArn = (database: string) => `arn:aws:iam::123456789012:role/strongbox-${database}-restore`;

/** The bytes a seeded backup's manifest and verification describe (never uploaded: no test reads them). */
const SEED_ARTIFACT = Buffer.from('seeded dum');

export interface SeedOptions {
  readonly verified?: boolean | 'missing';
  readonly manifest?: boolean;
  readonly engine?: Manifest['engine']['name'];
  readonly inventory?: Inventory;
  /** The log coordinates the dump recorded (MySQL/MariaDB binlog file and position). */
  readonly position?: Manifest['position'];
}

/** Writes a backup's records (manifest, verification) as the dump task and Verify would. Returns the backupId. */
export async function seedBackup(s3: S3Client, bucket: string, database: string, at: string, options: SeedOptions = {}): Promise<string> {
  const backupId = mintBackupId(database, 'full', new Date(at));
  const inventory = options.inventory ?? { exact: true, entries: [{ name: 'public.orders', kind: 'table', count: 3 }] };
  if (options.manifest !== false) {
    const manifest = manifestFor(backupId, SEED_ARTIFACT, 20, { engine: options.engine, inventory });
    await putJson(s3, bucket, keys.manifest(backupId), options.position ? { ...manifest, position: options.position } : manifest);
  }
  if (options.verified !== 'missing') {
    const verification: Verification = {
      schemaVersion: 1,
      backupId,
      verified: options.verified !== false,
      verifiedAt: at,
      method: 'reread',
      bytes: SEED_ARTIFACT.length,
      sha256: sha256(SEED_ARTIFACT),
      problems: options.verified === false ? ['sha256 differs from the manifest'] : [],
    };
    await putJson(s3, bucket, keys.verification(backupId), verification);
  }
  return backupId;
}

/** Four databases and two DR plans: `region-loss` (three groups) and `az-loss` (one database). */
export function drPlanFixture(): Plan {
  return {
    ...planOf([
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
