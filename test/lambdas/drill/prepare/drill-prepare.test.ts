import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputValidationError } from '../../../../contracts/errors';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { NothingToDrillError, prepareDrill } from '../../../../lambdas/drill/prepare/drill-prepare';
import { planOf } from '../../fixtures';
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
