import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedRestore } from '../../../../contracts/payloads/restore';
import { type Inventory, keys } from '../../../../contracts/vault';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { resolveRestore } from '../../../../lambdas/restore/resolve/restore-resolve';
import { RestoreMismatchError, validateRestore } from '../../../../lambdas/restore/validate/restore-validate';
import { databasePlan, planOf, SECRET } from '../../fixtures';
import { restoreRoleArn, seedBackup } from '../resolve/fixtures';

const BUCKET = 'vault';
const plan = planOf([databasePlan('orders', 'postgres'), databasePlan('shop', 'mysql')]);
const execution = {
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:strongbox-restore:console-1',
  name: 'console-1',
  startTime: '2026-03-10T12:00:00.000Z',
};

/** What the dump counted: three PostgreSQL tables, and a MySQL database `shop` dumped without its name. */
const ORDERS_INVENTORY: Inventory = {
  exact: true,
  entries: [
    { name: 'public.orders', kind: 'table', count: 3 },
    { name: 'public.customers', kind: 'table', count: 2 },
    { name: 'audit.events', kind: 'table', count: 40 },
  ],
};
const SHOP_INVENTORY: Inventory = {
  exact: true,
  entries: [
    { name: 'shop.orders', kind: 'table', count: 5 },
    { name: 'shop.items', kind: 'table', count: 7 },
  ],
};

describe('restore Validate', () => {
  let s3rver: LocalS3;
  let s3: S3Client;
  const ids: Record<string, string> = {};

  /** The payload Validate receives: the real Resolve output for a console input (the latest backup unless it names one). */
  const resolve = (input: Record<string, unknown>): Promise<ResolvedRestore> =>
    resolveRestore(input.backupId ? input : { latest: true, ...input }, execution, { s3, bucket: BUCKET, plan, restoreRoleArn });

  /** The target's inventory as the engine adapter would count it, recording which restore it was asked about. */
  const inventoryOf = (inventory: Inventory, asked: ResolvedRestore[] = []) => ({
    s3,
    bucket: BUCKET,
    readInventory: async (r: ResolvedRestore) => {
      asked.push(r);
      return inventory;
    },
  });

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    s3 = s3rver.client();
    ids.orders = await seedBackup(s3, BUCKET, 'orders', '2026-03-01T03:00:00Z', { inventory: ORDERS_INVENTORY });
    ids.shop = await seedBackup(s3, BUCKET, 'shop', '2026-03-01T03:00:00Z', { engine: 'mysql', inventory: SHOP_INVENTORY });
  });

  afterAll(async () => {
    delete process.env.STRONGBOX_S3_ENDPOINT;
    await s3rver.stop();
  });

  it('passes a target whose inventory matches the manifest, with the number of entries compared', async () => {
    // Prepare
    const resolved = await resolve({
      database: 'orders',
      target: { host: 'scratch.internal', database: 'orders_copy', secretArn: SECRET },
    });
    const asked: ResolvedRestore[] = [];
    // The target also holds a table the backup never had: not this restore's business.
    const target: Inventory = { exact: true, entries: [...ORDERS_INVENTORY.entries, { name: 'public.scratch', kind: 'table', count: 9 }] };

    // Act
    const result = await validateRestore(resolved, inventoryOf(target, asked));

    // Assess
    expect(result).toEqual({ matched: true, compared: 3, mismatches: [] });
    expect(asked).toEqual([resolved]);
  });

  it('throws RestoreMismatchError listing every differing and missing object', async () => {
    // Prepare
    const resolved = await resolve({
      database: 'orders',
      target: { host: 'scratch.internal', database: 'orders_copy', secretArn: SECRET },
    });
    const target: Inventory = {
      exact: true,
      entries: [
        { name: 'public.orders', kind: 'table', count: 2 },
        { name: 'public.customers', kind: 'table', count: 2 },
      ],
    };

    // Act
    const error = await validateRestore(resolved, inventoryOf(target)).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RestoreMismatchError);
    expect((error as Error).name).toBe('RestoreMismatchError');
    expect((error as Error).message).toBe(
      `The restored target differs from the manifest of ${ids.orders} (exact counts):\npublic.orders: expected 3, found 2\naudit.events: expected 40, found nothing`,
    );
  });

  it('compares only the included objects: a differing table left out of include does not fail the restore', async () => {
    // Prepare
    const resolved = await resolve({
      database: 'orders',
      include: ['public'],
      target: { host: 'scratch.internal', database: 'orders_copy', secretArn: SECRET },
    });
    const target: Inventory = {
      exact: true,
      entries: [
        { name: 'public.orders', kind: 'table', count: 3 },
        { name: 'public.customers', kind: 'table', count: 2 },
      ],
    };
    const wrongInIncluded: Inventory = {
      exact: true,
      entries: [
        { name: 'public.orders', kind: 'table', count: 3 },
        { name: 'public.customers', kind: 'table', count: 1 },
      ],
    };

    // Act
    const result = await validateRestore(resolved, inventoryOf(target));
    const error = await validateRestore(resolved, inventoryOf(wrongInIncluded)).catch((e: unknown) => e);

    // Assess: `compared` counts what include selected (the two public tables), not the whole manifest
    expect(result).toEqual({ matched: true, compared: 2, mismatches: [] });
    expect(error).toBeInstanceOf(RestoreMismatchError);
    expect((error as Error).message).toBe(
      `The restored target differs from the manifest of ${ids.orders} (exact counts):\npublic.customers: expected 2, found 1`,
    );
  });

  it('compares a MySQL database restored under another name by the names the manifest uses', async () => {
    // Prepare
    const resolved = await resolve({ database: 'shop', target: { host: 'scratch.internal', database: 'shop_copy', secretArn: SECRET } });
    const target: Inventory = {
      exact: true,
      entries: [
        { name: 'shop_copy.orders', kind: 'table', count: 5 },
        { name: 'shop_copy.items', kind: 'table', count: 7 },
      ],
    };

    // Act
    const result = await validateRestore(resolved, inventoryOf(target));

    // Assess
    expect(resolved).toMatchObject({ engine: 'mysql', sourceDatabase: 'shop', target: { database: 'shop_copy' } });
    expect(result).toEqual({ matched: true, compared: 2, mismatches: [] });
  });

  it('reports a renamed MySQL restore with an included table differing under the source name', async () => {
    // Prepare
    const resolved = await resolve({
      database: 'shop',
      include: ['shop.items'],
      target: { host: 'scratch.internal', database: 'shop_copy', secretArn: SECRET },
    });
    // Only items was restored (orders is absent) and one row is missing from it.
    const target: Inventory = { exact: true, entries: [{ name: 'shop_copy.items', kind: 'table', count: 6 }] };

    // Act
    const error = await validateRestore(resolved, inventoryOf(target)).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RestoreMismatchError);
    expect((error as Error).message).toBe(
      `The restored target differs from the manifest of ${ids.shop} (exact counts):\nshop.items: expected 7, found 6`,
    );
  });

  it('says the manifest disappeared when it is gone from the vault, without reading the target', async () => {
    // Prepare
    const id = await seedBackup(s3, BUCKET, 'orders', '2026-03-05T03:00:00Z', { inventory: ORDERS_INVENTORY });
    const resolved = await resolve({
      database: 'orders',
      target: { host: 'scratch.internal', database: 'orders_copy', secretArn: SECRET },
    });
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: keys.manifest(id) }));
    const asked: ResolvedRestore[] = [];

    // Act
    const error = await validateRestore(resolved, inventoryOf(ORDERS_INVENTORY, asked)).catch((e: unknown) => e);

    // Assess
    expect(resolved.backupId).toBe(id);
    expect(error).toBeInstanceOf(RestoreMismatchError);
    expect((error as Error).message).toBe(`The manifest of ${id} disappeared from the vault during the restore; nothing to compare with`);
    expect(asked).toEqual([]);
  });

  it('runs behind the middy handler with the parser on the Resolve payload', async () => {
    // Prepare
    process.env.STRONGBOX_VAULT_BUCKET = BUCKET;
    process.env.STRONGBOX_CHAT_TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:strongbox-chat';
    process.env.STRONGBOX_S3_ENDPOINT = s3rver.endpoint;
    const { handler } = await import('../../../../lambdas/restore/validate/handler');
    const resolved = await resolve({ database: 'orders', target: { host: '127.0.0.1', database: 'orders_copy', secretArn: SECRET } });
    // A recovery point whose manifest is not in the vault: the handler fails before it connects to the target.
    const event = { ...resolved, backupId: 'orders-20250101T000000Z-full' };

    // Act
    const error = await handler(event, { functionName: 'validate', awsRequestId: '1' } as unknown as Parameters<typeof handler>[1]).catch(
      (e: unknown) => e,
    );

    // Assess
    expect((error as Error).name).toBe('RestoreMismatchError');
    expect((error as Error).message).toBe(
      'The manifest of orders-20250101T000000Z-full disappeared from the vault during the restore; nothing to compare with',
    );
  });
  describe('after a PostgreSQL WAL recovery', () => {
    /** A Resolve payload as a recovery of base orders-20260301T030000Z-base makes it: no logical manifest exists for it. */
    const recovered = async (include?: string[]): Promise<ResolvedRestore> => {
      const resolved = await resolve({
        database: 'orders',
        target: { host: 'scratch.internal', database: 'orders_copy', secretArn: SECRET },
      });
      return {
        ...resolved,
        backupId: 'orders-20260301T030000Z-base',
        include: include ?? [],
        recovery: {
          baseId: 'orders-20260301T030000Z-base',
          timeline: 1,
          stop: { kind: 'lsn', lsn: '0/3000060' },
          target: { kind: 'lsn', lsn: '0/3000060' },
          baseStartLsn: '0/2000028',
          baseStopLsn: '0/2000100',
          baseBytes: 1000,
          clusterBytes: 4000,
          segmentIds: [],
          segmentBytes: 0,
          diskBytes: 5000,
          ephemeralStorageGiB: 100,
          expectedEnd: {
            segmentId: 'orders-20260301T031000Z-wal-000000010000000000000003-0',
            coveredUntil: '2026-03-01T03:10:00Z',
            lsn: '0/4000000',
          },
        },
      };
    };

    it('passes the included objects the task delivered, without a manifest to compare counts with', async () => {
      // Prepare
      const resolved = await recovered(['public']);
      const target: Inventory = {
        exact: true,
        entries: [
          { name: 'public.orders', kind: 'table', count: 3 },
          { name: 'public.new_table', kind: 'table', count: 1 },
        ],
      };

      // Act
      const result = await validateRestore(resolved, inventoryOf(target));

      // Assess
      expect(result).toEqual({ matched: true, compared: 2, mismatches: [] });
    });

    it('fails an include name that selects nothing on the target, naming the base and the stop', async () => {
      // Prepare
      const resolved = await recovered(['public.orders', 'public.ordres']);
      const target: Inventory = { exact: true, entries: [{ name: 'public.orders', kind: 'table', count: 3 }] };

      // Act
      const error = await validateRestore(resolved, inventoryOf(target)).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(RestoreMismatchError);
      expect((error as Error).message).toBe(
        'The target after the recovery of base orders-20260301T030000Z-base (LSN 0/3000060) is not what was asked for:\npublic.ordres: selects nothing on the target after the recovery',
      );
    });
  });
});
