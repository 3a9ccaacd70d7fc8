import { describe, expect, it } from 'vitest';
import { RestoreRefusedError } from '../../../../contracts/errors';
import type { ResolvedRestore } from '../../../../contracts/payloads/restore';
import { guardRestore } from '../../../../lambdas/restore/guard/restore-guard';
import { databasePlan, planOf, SECRET } from '../../fixtures';

const plan = planOf([
  databasePlan('orders', 'postgres', { host: 'orders.prod.internal', port: 5432, database: 'orders' }),
  databasePlan('sessions', 'redis'),
]);

function resolved(target: ResolvedRestore['target'], overrides: Partial<ResolvedRestore> = {}): ResolvedRestore {
  return {
    database: 'orders',
    engine: 'postgres',
    backupId: 'orders-20260301T030000Z-full',
    takenAt: '2026-03-01T03:00:00.000Z',
    requested: 'latest',
    target,
    include: [],
    overwrite: false,
    overwriteConfirmed: false,
    taskFamily: 'strongbox-orders-dump',
    taskTimeoutSeconds: 7200,
    taskRoleArn: 'arn:aws:iam::123456789012:role/strongbox-orders-restore',
    environment: [],
    execution: { executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:r:x', name: 'x', startTime: '2026-03-10T12:00:00.000Z' },
    auditKey: 'restores/orders/2026-03-10T12:00:00.000Z.json',
    ...overrides,
  };
}

const SOURCE_MESSAGE =
  'Refusing to restore "orders" onto its own source connection ORDERS.prod.internal.:5432/orders: that would replace live data. Set "overwrite": true and "confirm": "orders" in the input to go ahead.';

describe('restore Guard', () => {
  it('refuses the source connection, however the host is spelt, with the exact message', async () => {
    // Prepare
    const event = resolved({ host: 'ORDERS.prod.internal.', port: 5432, database: 'orders', secretArn: SECRET });

    // Act
    const error = await guardRestore(event, { plan }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect((error as Error).message).toBe(SOURCE_MESSAGE);
  });

  it('refuses the source reached under another name that resolves to the same address', async () => {
    // Prepare
    const event = resolved({ host: 'orders-alias.internal', port: 5432, database: 'orders', secretArn: SECRET });
    const lookup = async (host: string) =>
      host === 'orders-alias.internal' ? ['10.0.0.7'] : host === 'orders.prod.internal' ? ['10.0.0.7', '10.0.0.8'] : [];

    // Act
    const error = await guardRestore(event, { plan, lookup }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect((error as Error).message).toContain('onto its own source connection orders-alias.internal:5432/orders');
  });

  it('refuses overwrite:true whose confirm does not match (overwriteConfirmed false)', async () => {
    // Prepare
    const event = resolved({ host: 'orders.prod.internal', port: 5432, database: 'orders' }, { overwrite: true });

    // Act
    const attempt = guardRestore(event, { plan });

    // Assess
    await expect(attempt).rejects.toThrow('Set "overwrite": true and "confirm": "orders" in the input to go ahead.');
  });

  it('accepts the source with overwrite and confirm', async () => {
    // Prepare
    const event = resolved({ host: 'orders.prod.internal', port: 5432, database: 'orders' }, { overwrite: true, overwriteConfirmed: true });

    // Act
    const result = await guardRestore(event, { plan });

    // Assess
    expect(result).toEqual({ sameAsSource: true, decision: 'overwrite-confirmed' });
  });

  it.each([
    ['another host', { host: 'orders-restore.internal', port: 5432, database: 'orders' }],
    ['another port', { host: 'orders.prod.internal', port: 5433, database: 'orders' }],
    ['another database on the same server', { host: 'orders.prod.internal', port: 5432, database: 'orders_copy' }],
  ])('accepts %s as a fresh target', async (_what, target) => {
    // Prepare
    const event = resolved(target);

    // Act
    const result = await guardRestore(event, { plan });

    // Assess
    expect(result).toEqual({ sameAsSource: false, decision: 'fresh-target' });
  });

  it('treats a Redis server as one target whatever the database field', async () => {
    // Prepare
    const event = resolved({ host: 'sessions.prod.internal', port: 6379 }, { database: 'sessions', engine: 'redis' });

    // Act
    const attempt = guardRestore(event, { plan });

    // Assess
    await expect(attempt).rejects.toThrow('Refusing to restore "sessions" onto its own source connection sessions.prod.internal:6379');
  });

  it('runs behind the middy handler with the parser on the Resolve payload', async () => {
    // Prepare
    process.env.STRONGBOX_PLAN = JSON.stringify(plan);
    // What the restore workflow sets on the function; the wrapper checks it before the event.
    process.env.STRONGBOX_VAULT_BUCKET = 'vault';
    process.env.STRONGBOX_CHAT_TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:strongbox-chat';
    const { handler } = await import('../../../../lambdas/restore/guard/handler');
    // Overwrite confirmed and privileges skipped: the handler's target and role checks (live connections,
    // covered in test/e2e) are not needed.
    const event = resolved(
      { host: '127.0.0.1', port: 5432, database: 'orders_copy' },
      { overwrite: true, overwriteConfirmed: true, privileges: 'skip' },
    );

    // Act
    const result = await handler(event, { functionName: 'guard', awsRequestId: '1' } as unknown as Parameters<typeof handler>[1]);

    // Assess
    expect(result).toEqual({ sameAsSource: false, decision: 'overwrite-confirmed' });
  });

  it("turns the target check's non-empty refusal into a RestoreRefusedError with its words", async () => {
    // Prepare
    const event = resolved({ host: 'scratch.internal', port: 5432, database: 'orders_copy', secretArn: SECRET });
    const refusal = Object.assign(new Error('Refusing to restore "orders" into a non-empty target scratch.internal:5432/orders_copy'), {
      name: 'TargetNotEmptyError',
    });

    // Act
    const error = await guardRestore(event, { plan, checkTarget: async () => Promise.reject(refusal) }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect((error as Error).message).toBe(refusal.message);
  });

  it('does not check the target when overwrite is confirmed, and passes other target errors through', async () => {
    // Prepare
    const checked: string[] = [];
    const confirmed = resolved(
      { host: 'scratch.internal', port: 5432, database: 'x', secretArn: SECRET },
      { overwrite: true, overwriteConfirmed: true },
    );
    const fresh = resolved({ host: 'scratch.internal', port: 5432, database: 'x', secretArn: SECRET });
    const unreachable = async (r: ResolvedRestore) => {
      checked.push(r.target.host);
      throw new Error('connect ECONNREFUSED');
    };

    // Act
    const accepted = await guardRestore(confirmed, { plan, checkTarget: unreachable });
    const error = await guardRestore(fresh, { plan, checkTarget: unreachable }).catch((e: unknown) => e);

    // Assess
    expect(accepted.decision).toBe('overwrite-confirmed');
    expect(checked).toEqual(['scratch.internal']);
    expect(error).not.toBeInstanceOf(RestoreRefusedError);
    expect((error as Error).message).toBe('connect ECONNREFUSED');
  });

  it('refuses a PostgreSQL target that lacks roles the backup names, even with overwrite confirmed, unless privileges are skipped', async () => {
    // Prepare
    const target = { host: 'scratch.internal', port: 5432, database: 'x', secretArn: SECRET };
    const checked: string[] = [];
    const lacking = async (r: ResolvedRestore) => {
      checked.push(`${r.privileges ?? 'restore'}/${r.roles ?? 'require'}`);
      throw Object.assign(new Error('Refusing to restore "orders" into scratch.internal:5432/x: the target lacks 1 role ...'), {
        name: 'MissingRolesError',
      });
    };

    // Act
    const confirmed = await guardRestore(resolved(target, { overwrite: true, overwriteConfirmed: true }), {
      plan,
      checkRoles: lacking,
    }).catch((e: unknown) => e);
    const creating = await guardRestore(resolved(target, { roles: 'create' }), { plan, checkRoles: lacking }).catch((e: unknown) => e);
    const skipped = await guardRestore(resolved(target, { privileges: 'skip' }), { plan, checkRoles: lacking });
    const redis = await guardRestore(resolved({ host: 'cache.internal', port: 6379 }, { database: 'sessions', engine: 'redis' }), {
      plan,
      checkRoles: lacking,
    });

    // Assess
    expect(confirmed).toBeInstanceOf(RestoreRefusedError);
    expect((confirmed as Error).message).toMatch(/^Refusing to restore "orders" into scratch\.internal:5432\/x: the target lacks 1 role/);
    expect(creating).toBeInstanceOf(RestoreRefusedError);
    expect(skipped.decision).toBe('fresh-target');
    expect(redis.decision).toBe('fresh-target');
    expect(checked).toEqual(['restore/require', 'restore/create']);
  });

  describe('DEFINER accounts (MySQL/MariaDB)', () => {
    const maria = (overrides: Partial<ResolvedRestore> = {}) =>
      resolved(
        { host: 'scratch.internal', port: 3306, database: 'billing_copy', secretArn: SECRET },
        { database: 'orders', engine: 'mariadb', ...overrides },
      );
    const missing = (message: string) => async () => Promise.reject(Object.assign(new Error(message), { name: 'MissingDefinersError' }));

    it("refuses with the check's message naming the accounts, even when overwrite is confirmed", async () => {
      // Prepare
      const refusal =
        "Refusing to restore \"orders\" into scratch.internal:3306/billing_copy: the target lacks the DEFINER account 'app'@'localhost'";
      const event = maria({ overwrite: true, overwriteConfirmed: true });

      // Act
      const error = await guardRestore(event, { plan, checkDefiners: missing(refusal) }).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(RestoreRefusedError);
      expect((error as Error).message).toBe(refusal);
    });

    it('returns the accounts it let through with definers: "ignore", and nothing when none is missing', async () => {
      // Prepare
      const ignoring = maria({ definers: 'ignore' });

      // Act
      const ignored = await guardRestore(ignoring, { plan, checkDefiners: async () => ["'app'@'localhost'", "'auditor'"] });
      const complete = await guardRestore(maria(), { plan, checkDefiners: async () => [] });

      // Assess
      expect(ignored).toEqual({ sameAsSource: false, decision: 'fresh-target', ignoredDefiners: ["'app'@'localhost'", "'auditor'"] });
      expect(complete).toEqual({ sameAsSource: false, decision: 'fresh-target' });
    });

    it('passes other errors of the check through unchanged', async () => {
      // Prepare
      const event = maria();

      // Act
      const error = await guardRestore(event, { plan, checkDefiners: async () => Promise.reject(new Error('connect ECONNREFUSED')) }).catch(
        (e: unknown) => e,
      );

      // Assess
      expect(error).not.toBeInstanceOf(RestoreRefusedError);
      expect((error as Error).message).toBe('connect ECONNREFUSED');
    });
  });
});
