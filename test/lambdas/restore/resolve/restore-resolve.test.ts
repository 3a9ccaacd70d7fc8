import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputValidationError, RestoreRefusedError } from '../../../../contracts/errors';
import { restoreInputJsonSchema } from '../../../../contracts/payloads/restore';
import { TASK_ENV } from '../../../../contracts/task-env';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { resolveRestore } from '../../../../lambdas/restore/resolve/restore-resolve';
import { planOf, SECRET } from '../../fixtures';
import { restoreRoleArn, seedBackup } from './fixtures';

const BUCKET = 'vault';
const execution = {
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:strongbox-restore:console-1',
  name: 'console-1',
  startTime: '2026-03-10T12:00:00.000Z',
};
const target = { host: 'orders-restore.internal', database: 'orders_copy', secretArn: SECRET };

/** Counts every S3 call, to prove a rejected input touched nothing (not even a read). */
function counted(client: S3Client): { client: S3Client; calls: () => number } {
  let calls = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      calls++;
      return next(args);
    },
    { step: 'initialize' },
  );
  return { client, calls: () => calls };
}

describe('restore Resolve', () => {
  let s3rver: LocalS3;
  let s3: S3Client;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    s3 = s3rver.client();
    ids.jan = await seedBackup(s3, BUCKET, 'orders', '2026-01-15T03:00:00Z');
    ids.feb = await seedBackup(s3, BUCKET, 'orders', '2026-02-15T03:00:00Z');
    ids.failed = await seedBackup(s3, BUCKET, 'orders', '2026-02-20T03:00:00Z', { verified: false });
    ids.mar = await seedBackup(s3, BUCKET, 'orders', '2026-03-01T03:00:00Z');
    ids.unverified = await seedBackup(s3, BUCKET, 'orders', '2026-03-09T03:00:00Z', { verified: 'missing' });
    ids.broken = await seedBackup(s3, BUCKET, 'orders', '2026-03-09T09:00:00Z', { manifest: false });
  });

  afterAll(async () => {
    await s3rver.stop();
  });

  const malformed: [string, unknown, string][] = [
    ['a string instead of an object', 'orders', '(input): found "orders"; expected a JSON object such as {"database": "orders"'],
    ['null', null, '(input): found null; expected a JSON object'],
    ['an array', [{ database: 'orders' }], '(input): found [{"database":"orders"}]; expected a JSON object'],
    ['an empty object', {}, 'database: found nothing; expected the name of a configured database'],
    [
      'an upper-case database name',
      { database: 'Orders', latest: true, target },
      'database: found "Orders"; expected a database name of lowercase',
    ],
    [
      'an unknown database',
      { database: 'ordres', latest: true, target },
      'database: found "ordres"; expected one of the configured databases: orders, billing, sessions',
    ],
    ['no recovery point', { database: 'orders', target }, '(input): found {'],
    [
      'two recovery points',
      { database: 'orders', latest: true, backupId: 'orders-20260115T030000Z-full', target },
      'expected exactly one recovery point, but "backupId" and "latest" are both set; keep one',
    ],
    ['latest: false', { database: 'orders', latest: false, target }, 'latest: found false; expected true (or leave the field out)'],
    [
      'a pointInTime in words',
      { database: 'orders', pointInTime: 'yesterday', target },
      'pointInTime: found "yesterday"; expected an ISO 8601 date-time with a zone',
    ],
    [
      'a pointInTime without a zone',
      { database: 'orders', pointInTime: '2026-03-01T03:00:00', target },
      'pointInTime: found "2026-03-01T03:00:00"; expected an ISO 8601',
    ],
    [
      'a malformed backupId',
      { database: 'orders', backupId: 'orders-latest', target },
      'backupId: found "orders-latest"; expected a backupId "<database>-<yyyymmddThhmmssZ>-<kind>"',
    ],
    [
      'a backupId of another database',
      { database: 'orders', backupId: 'billing-20260101T000000Z-full', target },
      'backupId: found "billing-20260101T000000Z-full"; expected a backup of "orders"; this backupId belongs to "billing"',
    ],
    ['no target', { database: 'orders', latest: true }, 'target: found nothing; expected object'],
    [
      'a port as a string',
      { database: 'orders', latest: true, target: { ...target, port: '5432' } },
      'target.port: found "5432"; expected a TCP port number 1-65535 (a number, not a string)',
    ],
    [
      'a port out of range',
      { database: 'orders', latest: true, target: { ...target, port: 70000 } },
      'target.port: found 70000; expected a TCP port number 1-65535',
    ],
    [
      'a malformed secret ARN',
      { database: 'orders', latest: true, target: { ...target, secretArn: 'orders-secret' } },
      'target.secretArn: found "orders-secret"; expected a Secrets Manager ARN',
    ],
    [
      'an empty host',
      { database: 'orders', latest: true, target: { ...target, host: '' } },
      'target.host: found ""; expected the host name or address',
    ],
    ['a misspelt field', { database: 'orders', latest: true, target, overwite: true }, 'unknown field "overwite"; remove it'],
    [
      'an empty include',
      { database: 'orders', latest: true, target, include: [] },
      'include: found []; expected at least one name; leave "include" out to restore everything',
    ],
    [
      'include as a string',
      { database: 'orders', latest: true, target, include: 'public.orders' },
      'include: found "public.orders"; expected a list of names',
    ],
    [
      'a PostgreSQL include that is not a table name',
      { database: 'orders', latest: true, target, include: ['public.orders; drop'] },
      'include.0: found "public.orders; drop"; expected "schema" or "schema.table"',
    ],
    [
      'confirm without overwrite',
      { database: 'orders', latest: true, target, confirm: 'orders' },
      'confirm: found "orders"; expected "overwrite": true alongside "confirm"',
    ],
    [
      'overwrite as a string',
      { database: 'orders', latest: true, target, overwrite: 'yes' },
      'overwrite: found "yes"; expected true or false',
    ],
    [
      'a PostgreSQL target without a database',
      { database: 'orders', latest: true, target: { host: 'x', secretArn: SECRET } },
      'target.database: found nothing; expected the name of an existing database to restore into',
    ],
    [
      'a PostgreSQL target without a secret',
      { database: 'orders', latest: true, target: { host: 'x', database: 'y' } },
      'target.secretArn: found nothing; expected a Secrets Manager ARN: postgres needs credentials',
    ],
    [
      'a Redis target with a database',
      { database: 'sessions', latest: true, target: { host: 'x', database: 'orders' } },
      'target.database: found "orders"; expected no database for redis',
    ],
    [
      'host:port in the host',
      { database: 'orders', latest: true, target: { ...target, host: 'orders-restore.internal:5433' } },
      'target.host: found "orders-restore.internal:5433"; expected a host name without a port: put "orders-restore.internal" here and 5433 in "target.port"',
    ],
    [
      'a blank host',
      { database: 'orders', latest: true, target: { ...target, host: '   ' } },
      'target.host: found "   "; expected the host name or address of the server, such as "orders-copy.internal"; found only spaces',
    ],
    [
      'a 200 KiB host',
      { database: 'orders', latest: true, target: { ...target, host: 'h'.repeat(200 * 1024) } },
      '...; expected at most 253 characters (the longest DNS name)',
    ],
    [
      'a 64-byte PostgreSQL database name',
      { database: 'orders', latest: true, target: { ...target, database: 'ü'.repeat(32) } },
      'target.database: found "üüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü"; expected at most 63 bytes, the longest name PostgreSQL keeps',
    ],
    [
      'a 64-byte PostgreSQL identifier in include',
      { database: 'orders', latest: true, target, include: [`public.${'t'.repeat(64)}`] },
      '...; expected names of at most 63 bytes each, the longest postgres keeps',
    ],
    [
      'a 513-character Redis pattern',
      { database: 'sessions', latest: true, target: { host: 'x' }, include: ['k'.repeat(513)] },
      '...; expected at most 512 characters per name or pattern',
    ],
    [
      'include names longer than the task overrides allow',
      {
        database: 'sessions',
        latest: true,
        target: { host: 'x' },
        include: Array.from({ length: 100 }, (_, i) => `${'k'.repeat(60)}${i}`),
      },
      'include: found [',
    ],
    [
      'a Redis include with a space',
      { database: 'sessions', latest: true, target: { host: 'x' }, include: ['session *'] },
      'include.0: found "session *"; expected a key glob pattern without spaces',
    ],
  ];

  it.each(malformed)('rejects %s with a readable cause, touching nothing', async (_what, input, cause) => {
    // Prepare
    const probe = counted(s3rver.client());

    // Act
    const attempt = resolveRestore(input, execution, { s3: probe.client, bucket: BUCKET, plan: planOf(), restoreRoleArn });

    // Assess
    const error = await attempt.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toContain(cause);
    expect((error as Error).message).toMatch(/^Invalid restore input:\n/);
    expect((error as Error).message).not.toMatch(/\n\s+at /);
    expect(probe.calls()).toBe(0);
  });

  it('resolves "latest" to the newest verified backup, skipping unverified and manifest-less ones', async () => {
    // Prepare
    const input = { database: 'orders', latest: true, target };

    // Act
    const resolved = await resolveRestore(input, execution, { s3, bucket: BUCKET, plan: planOf(), restoreRoleArn });

    // Assess
    expect(resolved.backupId).toBe(ids.mar);
    expect(resolved.requested).toBe('latest');
    expect(resolved.target).toEqual({
      host: 'orders-restore.internal',
      port: 5432,
      database: 'orders_copy',
      secretArn: SECRET,
      tls: 'require',
    });
    expect(resolved.auditKey).toBe('restores/orders/2026-03-10T12:00:00.000Z.json');
    expect(resolved.taskFamily).toBe('strongbox-orders-dump');
  });

  it('resolves a pointInTime to the newest verified backup at or before it, skipping a failed one', async () => {
    // Prepare
    const input = { database: 'orders', pointInTime: '2026-02-28T00:00:00+01:00', target };

    // Act
    const resolved = await resolveRestore(input, execution, { s3, bucket: BUCKET, plan: planOf(), restoreRoleArn });

    // Assess
    expect(resolved.backupId).toBe(ids.feb);
    expect(resolved.takenAt).toBe('2026-02-15T03:00:00.000Z');
  });

  it('resolves a backupId and carries include, overwrite and the task environment (no credentials)', async () => {
    // Prepare
    const input = {
      database: 'orders',
      backupId: ids.jan,
      target,
      include: ['public.orders'],
      overwrite: true,
      confirm: 'orders',
      requestedBy: 'alice',
    };

    // Act
    const resolved = await resolveRestore(input, execution, { s3, bucket: BUCKET, plan: planOf(), restoreRoleArn });

    // Assess
    expect(resolved.backupId).toBe(ids.jan);
    expect(resolved.overwriteConfirmed).toBe(true);
    const env = Object.fromEntries(resolved.environment.map((e) => [e.Name, e.Value]));
    expect(env).toEqual({
      [TASK_ENV.command]: 'restore',
      [TASK_ENV.backupId]: ids.jan,
      [TASK_ENV.targetHost]: 'orders-restore.internal',
      [TASK_ENV.targetPort]: '5432',
      [TASK_ENV.targetName]: 'orders_copy',
      [TASK_ENV.targetSecretArn]: SECRET,
      [TASK_ENV.include]: '["public.orders"]',
      [TASK_ENV.restoreOverwrite]: 'true',
      [TASK_ENV.trigger]: 'restore:console-1',
      [TASK_ENV.executionName]: 'console-1',
    });
  });

  it('does not treat overwrite with the wrong confirm as confirmed', async () => {
    // Prepare
    const input = { database: 'orders', latest: true, target, overwrite: true, confirm: 'Orders' };

    // Act
    const resolved = await resolveRestore(input, execution, { s3, bucket: BUCKET, plan: planOf(), restoreRoleArn });

    // Assess
    expect(resolved.overwriteConfirmed).toBe(false);
    expect(resolved.environment).toContainEqual({ Name: TASK_ENV.restoreOverwrite, Value: 'false' });
  });

  it.each([
    [
      'a backupId that does not exist',
      { backupId: 'orders-20260216T030000Z-full' },
      'Recovery point backupId "orders-20260216T030000Z-full" does not exist in the vault',
    ],
    [
      'a backup that failed verification',
      { backupId: 'orders-20260220T030000Z-full' },
      'Recovery point backupId "orders-20260220T030000Z-full" failed verification (sha256 differs from the manifest)',
    ],
    ['a backup not verified yet', { backupId: 'orders-20260309T030000Z-full' }, 'is not verified yet (no verification.json)'],
    ['a backup without a manifest', { backupId: 'orders-20260309T090000Z-full' }, 'has no manifest'],
    [
      'a pointInTime before the first backup',
      { pointInTime: '2025-12-01T00:00:00Z' },
      'No verified backup of "orders" was taken at or before pointInTime 2025-12-01T00:00:00Z',
    ],
  ])('refuses %s and lists the nearest verified points', async (_what, point, reason) => {
    // Prepare
    const input = { database: 'orders', target, ...point };

    // Act
    const error = await resolveRestore(input, execution, { s3, bucket: BUCKET, plan: planOf(), restoreRoleArn }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect((error as Error).message).toContain(reason);
    expect((error as Error).message).toContain(
      `Nearest verified recovery points of "orders": ${ids.jan} (taken 2026-01-15T03:00:00.000Z), ${ids.feb} (taken 2026-02-15T03:00:00.000Z), ${ids.mar} (taken 2026-03-01T03:00:00.000Z)`,
    );
  });

  it('refuses "latest" for a database with no verified backup, saying there is none', async () => {
    // Prepare
    const input = { database: 'billing', latest: true, target: { host: 'x', secretArn: SECRET } };

    // Act
    const error = await resolveRestore(input, execution, { s3, bucket: BUCKET, plan: planOf(), restoreRoleArn }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect((error as Error).message).toBe(
      'Recovery point "latest": "billing" has no verified backup. Nearest verified recovery points of "billing": none: the vault holds no verified backup of "billing"',
    );
  });

  it('refuses a pointInTime after the start of the execution, naming the newest restorable point', async () => {
    // Prepare: one second after the execution started
    const input = { database: 'orders', pointInTime: '2026-03-10T12:00:01Z', target };

    // Act
    const error = await resolveRestore(input, execution, { s3, bucket: BUCKET, plan: planOf(), restoreRoleArn }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toBe(
      `Invalid restore input:\npointInTime: found "2026-03-10T12:00:01Z"; expected an instant no later than the start of this execution (2026-03-10T12:00:00.000Z): the newest restorable point of "orders" is ${ids.mar} (taken 2026-03-01T03:00:00.000Z); use "latest": true or that backupId`,
    );
  });

  it('refuses include names the backup does not hold, listing the closest names in its manifest', async () => {
    // Prepare: the seeded backups hold public.orders only
    const input = { database: 'orders', latest: true, target, include: ['public', 'public.order', 'sales'] };

    // Act
    const error = await resolveRestore(input, execution, { s3, bucket: BUCKET, plan: planOf(), restoreRoleArn }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toBe(
      `Invalid restore input:\ninclude.1: found "public.order"; expected a schema or schema.table that backup ${ids.mar} holds; closest: public.orders, public\ninclude.2: found "sales"; expected a schema or schema.table that backup ${ids.mar} holds; closest: public, public.orders`,
    );
  });

  it('refuses values that together overflow the RunTask overrides, naming the largest', async () => {
    // Prepare: every input value at its own limit (which alone cannot reach 8 KiB), plus a role ARN with a long IAM path
    const roleArn = () => `arn:aws:iam::123456789012:role/${'p/'.repeat(800)}strongbox-sessions-restore`;
    const longArn = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${'s'.repeat(1990)}`;
    const input = {
      database: 'sessions',
      latest: true,
      target: { host: `${'h'.repeat(63)}.${'h'.repeat(63)}.${'h'.repeat(63)}.${'h'.repeat(61)}`, secretArn: longArn },
      include: Array.from({ length: 64 }, (_, i) => `${'k'.repeat(58)}${String(i).padStart(2, '0')}`),
    };
    const plan = planOf();
    await seedBackup(s3, BUCKET, 'sessions', '2026-03-01T03:00:00Z', { engine: 'redis' });

    // Act
    const error = await resolveRestore(input, execution, { s3, bucket: BUCKET, plan, restoreRoleArn: roleArn }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toMatch(
      /^Invalid restore input:\n\(input\): found values that make \d+ characters of ECS RunTask overrides \(largest: STRONGBOX_INCLUDE 4033 characters, STRONGBOX_TARGET_SECRET_ARN 2043 characters\); expected at most 8192 \(8 KiB\) in all/,
    );
  });

  it('knows a restore a DR plan started by its requestedBy and the plan target, and nothing else', async () => {
    // Prepare
    const plan = {
      ...planOf(),
      drPlans: {
        'region-loss': {
          groups: [['orders']],
          targets: { orders: { host: 'orders.dr.internal', port: 5432, database: 'orders', secretArn: SECRET } },
        },
      },
    };
    const drTarget = { host: 'orders.dr.internal', port: 5432, database: 'orders', secretArn: SECRET };
    const resolveWith = (extra: Record<string, unknown>) =>
      resolveRestore({ database: 'orders', latest: true, target: drTarget, ...extra }, execution, {
        s3,
        bucket: BUCKET,
        plan,
        restoreRoleArn,
      });

    // Act
    const [fromPlan, elsewhere, typed] = await Promise.all([
      resolveWith({ requestedBy: 'DR plan region-loss (dr-1): bob' }),
      resolveWith({ requestedBy: 'DR plan region-loss (dr-1)', target: { ...drTarget, database: 'orders_copy' } }),
      resolveWith({ requestedBy: 'alice' }),
    ]);

    // Assess
    expect(fromPlan.drPlan).toBe('region-loss');
    expect(elsewhere).not.toHaveProperty('drPlan');
    expect(typed).not.toHaveProperty('drPlan');
  });

  it('publishes a JSON Schema with the recovery point fields and the target', () => {
    // Act
    const schema = restoreInputJsonSchema() as { properties: Record<string, unknown>; required: string[] };

    // Assess
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['database', 'backupId', 'pointInTime', 'latest', 'target', 'include', 'overwrite', 'confirm']),
    );
    expect(schema.required).toEqual(['database', 'target']);
  });
});
