import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  GetObjectTaggingCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  PutObjectTaggingCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../../../contracts/plan';
import { keys, TIER_TAG } from '../../../../contracts/vault';
import { listObjects } from '../../../../contracts/vault-io';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { deletionOrder, retain } from '../../../../lambdas/backup/retain/retain';
import { testPlan } from '../../fixtures';

const base = testPlan();
// orders in Europe/Dublin: keep 2 daily, 2 weekly, 2 monthly, 0 yearly.
const plan: Plan = {
  ...base,
  databases: {
    ...base.databases,
    orders: { ...base.databases.orders, retention: { daily: 2, weekly: 2, monthly: 2, yearly: 0, legalHoldYearly: false } },
  },
};

let s3rver: LocalS3;
beforeAll(async () => {
  s3rver = await startS3rver(['primary', 'replica']);
});
afterAll(async () => {
  await s3rver.stop();
});

async function put(bucket: string, backupId: string, status: 'verified' | 'failed' | 'unverified' | 'incomplete') {
  const s3 = s3rver.client();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.artifact(backupId, 'pgdump'), Body: 'data' }));
  // PostgreSQL backups carry a second artifact: it goes (or stays) with its backup.
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.roles(backupId), Body: 'roles' }));
  if (status !== 'incomplete') await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.manifest(backupId), Body: '{}' }));
  if (status === 'verified' || status === 'failed') {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: keys.verification(backupId),
        Body: JSON.stringify({
          schemaVersion: 1,
          backupId,
          verified: status === 'verified',
          verifiedAt: '2026-04-01T00:00:00Z',
          method: 'reread',
          bytes: 4,
          sha256: 'a'.repeat(64),
          problems: [],
        }),
      }),
    );
  }
}

async function ids(bucket: string): Promise<string[]> {
  const found = new Set<string>();
  for await (const o of listObjects(s3rver.client(), bucket, 'backups/orders/')) found.add(o.key.split('/')[5]);
  return [...found].sort();
}

describe('retain against s3rver (no Object Lock there)', () => {
  const history = {
    'orders-20260301T100000Z-full': 'verified', // superseded by the newer March backup
    'orders-20260331T100000Z-full': 'verified', // newest of March (closed): monthly representative
    'orders-20260405T100000Z-full': 'verified', // Sunday, newest of ISO week 14 (closed): weekly representative
    'orders-20260406T090000Z-full': 'verified', // superseded on the same day
    'orders-20260406T100000Z-full': 'verified', // daily
    'orders-20260407T080000Z-full': 'failed', // leftover older than the grace period
    'orders-20260407T100000Z-full': 'verified', // newest: daily, weekly, monthly
    'orders-20260407T140000Z-full': 'incomplete', // in progress, inside the grace period
  } as const;

  it('dry run reports the plan and deletes nothing', async () => {
    // Prepare
    for (const [id, status] of Object.entries(history)) {
      await put('primary', id, status);
      await put('replica', id, status);
    }

    // Act
    const result = await retain(
      { database: 'orders', dryRun: true, now: '2026-04-07T15:00:00Z' },
      { s3: s3rver.client(), bucket: 'primary', replica: { s3: s3rver.client(), bucket: 'replica' }, plan, objectLock: false },
    );

    // Assess
    expect(result.deleted.sort()).toEqual(['orders-20260301T100000Z-full', 'orders-20260406T090000Z-full', 'orders-20260407T080000Z-full']);
    expect(await ids('primary')).toHaveLength(8);
  });

  it('prunes both vaults and tags the closed weekly and monthly representatives', async () => {
    // Act
    const result = await retain(
      { database: 'orders', dryRun: false, now: '2026-04-07T15:00:00Z' },
      { s3: s3rver.client(), bucket: 'primary', replica: { s3: s3rver.client(), bucket: 'replica' }, plan, objectLock: false },
    );

    // Assess
    const kept = [
      'orders-20260331T100000Z-full',
      'orders-20260405T100000Z-full',
      'orders-20260406T100000Z-full',
      'orders-20260407T100000Z-full',
      'orders-20260407T140000Z-full',
    ];
    expect(await ids('primary')).toEqual(kept);
    expect(await ids('replica')).toEqual(kept);
    for (const bucket of ['primary', 'replica']) {
      const roles: string[] = [];
      for await (const o of listObjects(s3rver.client(), bucket, 'backups/orders/'))
        if (o.key.endsWith('/roles.sql.zst')) roles.push(o.key);
      expect(roles.sort()).toEqual(kept.map((id) => keys.roles(id)).sort());
    }
    // Slots end at local midnight in Dublin (IST, UTC+1): 1 May for March, Monday 13 April for ISO week 14.
    expect(result.tiered).toEqual([
      { backupId: 'orders-20260331T100000Z-full', tier: 'monthly', retainUntil: '2026-04-30T23:00:00.000Z' },
      { backupId: 'orders-20260405T100000Z-full', tier: 'weekly', retainUntil: '2026-04-12T23:00:00.000Z' },
    ]);
    const tags = await s3rver
      .client()
      .send(new GetObjectTaggingCommand({ Bucket: 'replica', Key: keys.artifact('orders-20260331T100000Z-full', 'pgdump') }));
    expect(tags.TagSet).toEqual([{ Key: TIER_TAG, Value: 'monthly' }]);
  });

  it('is idempotent: a second run deletes nothing', async () => {
    // Act
    const again = await retain(
      { database: 'orders', dryRun: false, now: '2026-04-07T15:00:00Z' },
      { s3: s3rver.client(), bucket: 'primary', plan, objectLock: false },
    );

    // Assess
    expect(again.deleted).toEqual([]);
    expect(again.kept).toBe(5);
  });
});

describe('retain with Object Lock (client mock: s3rver has none)', () => {
  const older = 'orders-20260301T100000Z-full';
  const march = 'orders-20260331T100000Z-full';
  const newest = 'orders-20260407T100000Z-full';
  const listing = [older, march, newest].flatMap((id) => [keys.artifact(id, 'pgdump'), keys.manifest(id), keys.verification(id)]);

  function mocked(retainUntilOfOlder: Date | undefined) {
    const s3 = new S3Client({ region: 'eu-west-1' });
    const mock = mockClient(s3);
    mock.on(ListObjectsV2Command).resolves({ Contents: listing.map((Key) => ({ Key, Size: 1 })) });
    mock.on(GetObjectCommand).callsFake((input) => {
      const backupId = input.Key.split('/')[5];
      const text = JSON.stringify({
        schemaVersion: 1,
        backupId,
        verified: true,
        verifiedAt: '2026-04-01T00:00:00Z',
        method: 'reread',
        bytes: 1,
        sha256: 'a'.repeat(64),
        problems: [],
      });
      return { Body: { transformToString: async () => text } };
    });
    mock.on(GetObjectRetentionCommand).callsFake((input) => {
      if (input.Key.includes(older) && retainUntilOfOlder)
        return { Retention: { Mode: 'GOVERNANCE', RetainUntilDate: retainUntilOfOlder } };
      throw Object.assign(new Error('none'), { name: 'NoSuchObjectLockConfiguration' });
    });
    mock.on(GetObjectLegalHoldCommand).rejects(Object.assign(new Error('none'), { name: 'NoSuchObjectLockConfiguration' }));
    mock.on(GetObjectTaggingCommand).resolves({ TagSet: [{ Key: 'owner', Value: 'dba' }] });
    mock.on(PutObjectTaggingCommand).resolves({});
    mock.on(PutObjectRetentionCommand).resolves({});
    mock.on(PutObjectLegalHoldCommand).resolves({});
    mock.on(DeleteObjectCommand).resolves({});
    return { s3, mock };
  }

  it('skips and reports a backup under unexpired retention instead of deleting it', async () => {
    // Prepare
    const { s3, mock } = mocked(new Date('2026-05-01T00:00:00Z'));

    // Act
    const result = await retain(
      { database: 'orders', dryRun: false, now: '2026-04-07T15:00:00Z' },
      { s3, bucket: 'primary', plan, objectLock: true },
    );

    // Assess
    expect(result.deleted).toEqual([]);
    expect(result.skippedLocked).toEqual([{ backupId: older, reason: expect.stringContaining('retained until 2026-05-01T00:00:00.000Z') }]);
    expect(mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it('deletes an expired backup manifest first, and extends the lock, tags and keeps other tags on the monthly representative', async () => {
    // Prepare
    const { s3, mock } = mocked(new Date('2026-04-01T00:00:00Z'));

    // Act
    const result = await retain(
      { database: 'orders', dryRun: false, now: '2026-04-07T15:00:00Z' },
      { s3, bucket: 'primary', plan, objectLock: true },
    );

    // Assess
    expect(result.deleted).toEqual([older]);
    expect(mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.Key)).toEqual([
      keys.manifest(older),
      keys.artifact(older, 'pgdump'),
      keys.verification(older),
    ]);
    const retention = mock.commandCalls(PutObjectRetentionCommand).map((c) => c.args[0].input);
    expect(retention).toHaveLength(3);
    expect(retention[0]).toMatchObject({
      Key: expect.stringContaining(march),
      Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date('2026-04-30T23:00:00Z') },
    });
    expect(mock.commandCalls(PutObjectTaggingCommand)[0].args[0].input.Tagging?.TagSet).toEqual([
      { Key: 'owner', Value: 'dba' },
      { Key: TIER_TAG, Value: 'monthly' },
    ]);
    expect(mock.commandCalls(PutObjectLegalHoldCommand)).toHaveLength(0);
  });

  it('orders deletions manifest, data (and the roles artifact), then records', () => {
    // Act
    const order = deletionOrder(
      new Map([
        ['verification.json', 'v'],
        ['roles.sql.zst', 'r'],
        ['data.pgdump.zst', 'd'],
        ['manifest.json', 'm'],
        ['drill.json', 'x'],
      ]),
    );

    // Assess
    expect(order).toEqual(['m', 'd', 'r', 'x', 'v']);
  });
});
