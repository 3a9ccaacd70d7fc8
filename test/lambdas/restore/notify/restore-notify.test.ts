import type { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ResolvedRestore, RestoreAuditSchema } from '../../../../contracts/payloads/restore';
import { keys } from '../../../../contracts/vault';
import { getJson, listObjects, putJson } from '../../../../contracts/vault-io';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { type ExecutionStatusChange, notifyAborted, notifyRestore } from '../../../../lambdas/restore/notify/restore-notify';
import { resolveRestore } from '../../../../lambdas/restore/resolve/restore-resolve';
import { databasePlan, planOf, SECRET } from '../../fixtures';
import { restoreRoleArn, seedBackup } from '../resolve/fixtures';

const BUCKET = 'vault';
const CHAT = 'arn:aws:sns:eu-west-1:123456789012:chat';
const plan = planOf([databasePlan('orders', 'postgres'), databasePlan('sessions', 'redis')]);
const execution = {
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:strongbox-restore:console-1',
  name: 'console-1',
  startTime: '2026-03-10T12:00:00.000Z',
};
const STOPPED_ARN = 'arn:aws:states:eu-west-1:123456789012:execution:strongbox-restore:console-stopped';

describe('restore Notify', () => {
  let s3rver: LocalS3;
  let s3: S3Client;
  const sns = mockClient(SNSClient);
  const ids: Record<string, string> = {};

  /** The payload Notify receives: the real Resolve output for a console input (the latest backup unless it names one). */
  const resolve = (input: Record<string, unknown>): Promise<ResolvedRestore> =>
    resolveRestore(input.backupId ? input : { latest: true, ...input }, execution, { s3, bucket: BUCKET, plan, restoreRoleArn });
  const deps = (now: string) => ({ s3, bucket: BUCKET, sns: new SNSClient({}), chatTopicArn: CHAT, now: () => new Date(now) });
  const published = () => sns.commandCalls(PublishCommand).map((call) => call.args[0].input);
  const message = (index = 0) => JSON.parse(String(published()[index].Message));
  const audits = async () => {
    const listed: string[] = [];
    for await (const object of listObjects(s3, BUCKET, 'restores/')) {
      listed.push(object.key);
    }
    return listed.sort();
  };
  const stopped = (input: unknown, detail: Partial<ExecutionStatusChange['detail']> = {}): ExecutionStatusChange => ({
    'detail-type': 'Step Functions Execution Status Change',
    detail: {
      executionArn: STOPPED_ARN,
      name: 'console-stopped',
      status: 'ABORTED',
      startDate: Date.parse('2026-03-11T08:00:00.000Z'),
      stopDate: Date.parse('2026-03-11T08:01:30.000Z'),
      input: JSON.stringify(input),
      ...detail,
    },
  });

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    s3 = s3rver.client();
    ids.orders = await seedBackup(s3, BUCKET, 'orders', '2026-03-01T03:00:00Z');
    ids.sessions = await seedBackup(s3, BUCKET, 'sessions', '2026-03-01T03:00:00Z', { engine: 'redis' });
  });

  beforeEach(() => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: '1' });
  });

  afterAll(async () => {
    sns.restore();
    delete process.env.STRONGBOX_S3_ENDPOINT;
    await s3rver.stop();
  });

  it('writes the restored audit record at the auditKey and posts the restore time to chat', async () => {
    // Prepare
    const resolved = await resolve({
      database: 'orders',
      include: ['public.orders'],
      requestedBy: 'alice, INC-7',
      target: { host: 'orders-copy.internal', database: 'orders_copy', secretArn: SECRET },
    });
    const validate = { matched: true, compared: 1, mismatches: [] };

    // Act
    const returned = await notifyRestore({ outcome: 'restored', resolved, validate }, deps('2026-03-10T12:03:25.500Z'));

    // Assess
    const expected = {
      schemaVersion: 1,
      database: 'orders',
      outcome: 'restored',
      startedBy: { executionArn: execution.executionArn, executionName: 'console-1', requestedBy: 'alice, INC-7' },
      startedAt: '2026-03-10T12:00:00.000Z',
      finishedAt: '2026-03-10T12:03:25.500Z',
      restoreSeconds: 205.5,
      backupId: ids.orders,
      requested: 'latest',
      target: { host: 'orders-copy.internal', port: 5432, database: 'orders_copy' },
      include: ['public.orders'],
      overwrite: false,
      validation: validate,
    };
    expect(resolved.auditKey).toBe('restores/orders/2026-03-10T12:00:00.000Z.json');
    expect((await getJson(s3, BUCKET, resolved.auditKey, RestoreAuditSchema))?.value).toEqual(expected);
    expect(returned).toEqual(expected);
    expect(published()).toEqual([{ TopicArn: CHAT, Subject: 'Strongbox restore restored: orders', Message: expect.any(String) }]);
    expect(message()).toEqual({
      version: '1.0',
      source: 'custom',
      content: {
        title: 'Restore restored: orders',
        description: `Restore of orders succeeded: ${ids.orders} (only public.orders) restored to orders-copy.internal:5432/orders_copy in 3 min 26 s; inventory matches the manifest.`,
      },
      metadata: { audit: 'restores/orders/2026-03-10T12:00:00.000Z.json', executionArn: execution.executionArn },
    });
  });

  it('records the DEFINER accounts Guard let through and names them in chat', async () => {
    // Prepare
    const resolved = await resolve({
      database: 'orders',
      target: { host: 'orders-copy.internal', database: 'orders_copy', secretArn: SECRET },
    });
    const guard = { sameAsSource: false, decision: 'fresh-target' as const, ignoredDefiners: ["'app'@'localhost'", "'ops'@'%'"] };

    // Act
    const audit = await notifyRestore(
      { outcome: 'restored', resolved, validate: { matched: true, compared: 1, mismatches: [] }, guard },
      deps('2026-03-10T12:00:30.000Z'),
    );

    // Assess
    expect(audit.ignoredDefiners).toEqual(["'app'@'localhost'", "'ops'@'%'"]);
    expect((await getJson(s3, BUCKET, resolved.auditKey, RestoreAuditSchema))?.value.ignoredDefiners).toEqual(guard.ignoredDefiners);
    expect(message().content.description).toContain(
      `The target lacks the DEFINER accounts 'app'@'localhost', 'ops'@'%' (definers: "ignore"): views, triggers, routines and events that run as them fail until they exist.`,
    );
  });

  it('records a failed restore with its error and cause, and says FAILED in chat', async () => {
    // Prepare
    const resolved = await resolve({
      database: 'orders',
      backupId: ids.orders,
      overwrite: true,
      confirm: 'orders',
      target: { host: 'orders-copy.internal', port: 5433, database: 'orders_copy', secretArn: SECRET },
    });
    const error = {
      Error: 'RestoreMismatchError',
      Cause: `The restored target differs from the manifest of ${ids.orders} (exact counts):\npublic.orders: expected 3, found 2`,
    };

    // Act
    const returned = await notifyRestore({ outcome: 'failed', resolved, error }, deps('2026-03-10T12:00:42.250Z'));

    // Assess
    const record = (await getJson(s3, BUCKET, resolved.auditKey, RestoreAuditSchema))?.value;
    expect(record).toEqual(returned);
    expect(record).toEqual({
      schemaVersion: 1,
      database: 'orders',
      outcome: 'failed',
      startedBy: { executionArn: execution.executionArn, executionName: 'console-1' },
      startedAt: '2026-03-10T12:00:00.000Z',
      finishedAt: '2026-03-10T12:00:42.250Z',
      restoreSeconds: 42.3,
      backupId: ids.orders,
      requested: `backupId ${ids.orders}`,
      target: { host: 'orders-copy.internal', port: 5433, database: 'orders_copy' },
      include: [],
      overwrite: true,
      errorType: 'RestoreMismatchError',
      error: error.Cause,
    });
    expect(published()[0].Subject).toBe('Strongbox restore failed: orders');
    expect(message().content).toEqual({
      title: 'Restore failed: orders',
      description: `Restore of orders FAILED after 42.3 s (${ids.orders} to orders-copy.internal:5433/orders_copy): ${error.Cause}`,
    });
  });

  it('records a RestoreRefusedError as refused, for a Redis target without a database', async () => {
    // Prepare
    const resolved = await resolve({ database: 'sessions', target: { host: 'sessions.prod.internal' } });
    const cause =
      'Refusing to restore "sessions" onto its own source connection sessions.prod.internal:6379: that would replace live data. Set "overwrite": true and "confirm": "sessions" in the input to go ahead.';

    // Act
    const returned = await notifyRestore(
      { outcome: 'failed', resolved, error: { Error: 'RestoreRefusedError', Cause: cause } },
      deps('2026-03-10T12:00:01.000Z'),
    );

    // Assess
    const record = (await getJson(s3, BUCKET, 'restores/sessions/2026-03-10T12:00:00.000Z.json', RestoreAuditSchema))?.value;
    expect(record).toEqual(returned);
    expect(record).toMatchObject({
      database: 'sessions',
      outcome: 'refused',
      backupId: ids.sessions,
      target: { host: 'sessions.prod.internal', port: 6379 },
      overwrite: false,
      errorType: 'RestoreRefusedError',
      error: cause,
    });
    expect(record?.target).not.toHaveProperty('database');
    expect(record).not.toHaveProperty('validation');
    expect(published()[0].Subject).toBe('Strongbox restore refused: sessions');
    expect(message().content).toEqual({
      title: 'Restore refused: sessions',
      description: `Restore of sessions refused before anything was written: ${cause}`,
    });
  });

  it("keeps only the message of a Lambda error's JSON: no trace in the audit record or chat", async () => {
    // Prepare
    const resolved = await resolve({
      database: 'orders',
      target: { host: 'orders-copy.internal', database: 'orders_new', secretArn: SECRET },
    });
    const lambdaError = {
      Error: 'RestoreRefusedError',
      Cause: JSON.stringify({
        errorType: 'RestoreRefusedError',
        errorMessage:
          'Refusing to restore "orders" into a non-empty target orders-copy.internal:5432/orders_new (1 existing object, such as public.orders)',
        trace: ['RestoreRefusedError: Refusing ...', '    at guardRestore (/var/task/lambdas/restore-guard/restore-guard.ts:37:15)'],
      }),
    };

    // Act
    const audit = await notifyRestore({ outcome: 'failed', resolved, error: lambdaError }, deps('2026-03-10T12:00:02.000Z'));

    // Assess
    expect(audit).toMatchObject({
      outcome: 'refused',
      errorType: 'RestoreRefusedError',
      error:
        'Refusing to restore "orders" into a non-empty target orders-copy.internal:5432/orders_new (1 existing object, such as public.orders)',
    });
    expect(message().content.description).not.toMatch(/trace|\.ts:|\n\s+at /);
  });

  describe('a failed Restore state (ECS reports the stopped task, not its words)', () => {
    const ecsCause = JSON.stringify({
      Containers: [{ Name: 'dump', ExitCode: 1, LastStatus: 'STOPPED' }],
      StoppedReason: 'Essential container in task exited',
      TaskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/strongbox-tasks/1',
    });
    const failedTask = { Error: 'States.TaskFailed', Cause: ecsCause };

    it("takes the task's own error line, and its tool's stderr, from the record it wrote", async () => {
      // Prepare
      const resolved = await resolve({
        database: 'orders',
        target: { host: 'orders-copy.internal', database: 'orders_t1', secretArn: SECRET },
      });
      const line = `checksum mismatch: expected ${'a'.repeat(64)}, got ${'b'.repeat(64)}; the artifact is corrupt or was changed after the backup`;
      await putJson(s3, BUCKET, keys.restoreTaskError('orders', 'console-1'), {
        schemaVersion: 1,
        database: 'orders',
        executionName: 'console-1',
        failedAt: '2026-03-10T12:00:30.000Z',
        errorType: 'ChecksumMismatchError',
        message: line,
        stderrTail: 'pg_restore: error: could not read input file: end of file\n',
      });

      // Act
      const audit = await notifyRestore({ outcome: 'failed', resolved, error: failedTask }, deps('2026-03-10T12:00:31.000Z'));

      // Assess
      expect(audit).toMatchObject({
        outcome: 'failed',
        errorType: 'ChecksumMismatchError',
        error: `${line}\nstderr (last lines):\npg_restore: error: could not read input file: end of file`,
      });
      expect(message().content.description).toContain(line);
    });

    it('records a target the task found non-empty as refused', async () => {
      // Prepare
      const resolved = await resolve({
        database: 'orders',
        target: { host: 'orders-copy.internal', database: 'orders_t2', secretArn: SECRET },
      });
      await putJson(s3, BUCKET, keys.restoreTaskError('orders', 'console-1'), {
        schemaVersion: 1,
        database: 'orders',
        executionName: 'console-1',
        failedAt: '2026-03-10T12:00:30.000Z',
        errorType: 'TargetNotEmptyError',
        message:
          'Refusing to restore "orders" into a non-empty target orders-copy.internal:5432/orders_t2 (1 existing object, such as public.orders): that would mix or replace data. Set "overwrite": true and "confirm": "orders" in the input to go ahead.',
      });

      // Act
      const audit = await notifyRestore({ outcome: 'failed', resolved, error: failedTask }, deps('2026-03-10T12:00:31.000Z'));

      // Assess
      expect(audit).toMatchObject({ outcome: 'refused', errorType: 'RestoreRefusedError' });
      expect(message().content.title).toBe('Restore refused: orders');
    });

    it('says the task stopped, with its exit code, when it wrote no record', async () => {
      // Prepare
      const resolved = await resolveRestore(
        { database: 'orders', latest: true, target: { host: 'orders-copy.internal', database: 'orders_t3', secretArn: SECRET } },
        { ...execution, name: 'console-crashed' },
        { s3, bucket: BUCKET, plan, restoreRoleArn },
      );

      // Act
      const audit = await notifyRestore({ outcome: 'failed', resolved, error: failedTask }, deps('2026-03-10T12:00:31.000Z'));

      // Assess
      expect(audit.errorType).toBe('States.TaskFailed');
      expect(audit.error).toBe(
        'The task stopped: Essential container in task exited; exit code 1. The task wrote no error record (restores/orders/task-errors/console-crashed.json); its log in CloudWatch Logs says why.',
      );
    });
  });

  it('tells a restore started by a DR plan what the plan input needs', async () => {
    // Prepare
    const drPlan = {
      ...plan,
      drPlans: {
        'region-loss': {
          groups: [['orders']],
          targets: { orders: { host: 'orders.dr.internal', port: 5432, database: 'orders', secretArn: SECRET } },
        },
      },
    };
    const resolved = await resolveRestore(
      {
        database: 'orders',
        latest: true,
        target: { host: 'orders.dr.internal', port: 5432, database: 'orders', secretArn: SECRET },
        requestedBy: 'DR plan region-loss (dr-7)',
      },
      execution,
      { s3, bucket: BUCKET, plan: drPlan, restoreRoleArn },
    );
    const cause =
      'Refusing to restore "orders" into a non-empty target orders.dr.internal:5432/orders (3 existing objects, such as public.orders): that would mix or replace data. Set "overwrite": true and "confirm": "orders" in the input to go ahead.';

    // Act
    const audit = await notifyRestore(
      { outcome: 'failed', resolved, error: { Error: 'RestoreRefusedError', Cause: cause } },
      deps('2026-03-10T12:00:05.000Z'),
    );

    // Assess
    expect(resolved.drPlan).toBe('region-loss');
    expect(audit.error).toBe(
      'Refusing to restore "orders" into a non-empty target orders.dr.internal:5432/orders (3 existing objects, such as public.orders): that would mix or replace data. This restore was started by DR plan "region-loss": set "overwrite": true and "confirm": "region-loss" in the DR plan\'s input ({"plan": "region-loss", "overwrite": true, "confirm": "region-loss"}) to go ahead.',
    );
    expect(message().content.description).not.toContain('"confirm": "orders"');
  });

  it('records a run stopped from the console as aborted, keyed by its start time', async () => {
    // Prepare
    const event = stopped({
      database: 'orders',
      backupId: ids.orders,
      target: { host: 'orders-copy.internal', port: 5433, database: 'orders_copy', secretArn: SECRET },
      include: ['public.orders', 7],
      overwrite: true,
      confirm: 'orders',
      requestedBy: 'bob, INC-9',
    });

    // Act
    const returned = await notifyAborted(event, deps('2026-03-11T09:00:00.000Z'));

    // Assess
    const expected = {
      schemaVersion: 1,
      database: 'orders',
      outcome: 'aborted',
      startedBy: { executionArn: STOPPED_ARN, executionName: 'console-stopped', requestedBy: 'bob, INC-9' },
      startedAt: '2026-03-11T08:00:00.000Z',
      finishedAt: '2026-03-11T08:01:30.000Z',
      restoreSeconds: 90,
      backupId: ids.orders,
      requested: `backupId ${ids.orders}`,
      target: { host: 'orders-copy.internal', port: 5433, database: 'orders_copy' },
      include: ['public.orders'],
      overwrite: true,
      error: 'Execution aborted from the console; Step Functions stopped the restore task, so the target may hold a partial restore',
    };
    expect(keys.restoreAudit('orders', new Date('2026-03-11T08:00:00.000Z'))).toBe('restores/orders/2026-03-11T08:00:00.000Z.json');
    expect((await getJson(s3, BUCKET, 'restores/orders/2026-03-11T08:00:00.000Z.json', RestoreAuditSchema))?.value).toEqual(expected);
    expect(returned).toEqual(expected);
    expect(published()[0].Subject).toBe('Strongbox restore aborted: orders');
    expect(message()).toEqual({
      version: '1.0',
      source: 'custom',
      content: {
        title: 'Restore aborted: orders',
        description: `Restore of orders was STOPPED from the console after 1 min 30 s (backupId ${ids.orders} to orders-copy.internal:5433/orders_copy); the target may hold a partial restore.`,
      },
      metadata: { audit: 'restores/orders/2026-03-11T08:00:00.000Z.json', executionArn: STOPPED_ARN },
    });
  });

  it('takes the finish time from the clock when the event has no stopDate, and an unconfirmed overwrite as none', async () => {
    // Prepare
    const event = stopped(
      {
        database: 'orders',
        pointInTime: '2026-03-01T04:00:00Z',
        target: { host: 'orders-copy.internal', port: 5432, database: 'orders_copy', secretArn: SECRET },
        overwrite: true,
        confirm: 'yes',
      },
      { startDate: Date.parse('2026-03-12T08:00:00.000Z'), stopDate: null },
    );

    // Act
    const returned = await notifyAborted(event, deps('2026-03-12T08:00:12.000Z'));

    // Assess
    const record = (await getJson(s3, BUCKET, 'restores/orders/2026-03-12T08:00:00.000Z.json', RestoreAuditSchema))?.value;
    expect(record).toEqual(returned);
    expect(record).toMatchObject({
      finishedAt: '2026-03-12T08:00:12.000Z',
      restoreSeconds: 12,
      requested: 'pointInTime 2026-03-01T04:00:00Z',
      include: [],
      overwrite: false,
    });
    expect(record).not.toHaveProperty('backupId');
    expect(record?.startedBy).toEqual({ executionArn: STOPPED_ARN, executionName: 'console-stopped' });
    expect(message().content.description).toBe(
      'Restore of orders was STOPPED from the console after 12 s (pointInTime 2026-03-01T04:00:00Z to orders-copy.internal:5432/orders_copy); the target may hold a partial restore.',
    );
  });

  it('records a timed-out run as timed out, not stopped from the console, with the engine port the input left out', async () => {
    // Prepare
    const event = stopped(
      { database: 'orders', latest: true, target: { host: 'orders-copy.internal', database: 'orders_copy', secretArn: SECRET } },
      { status: 'TIMED_OUT', startDate: Date.parse('2026-03-13T08:00:00.000Z'), stopDate: Date.parse('2026-03-13T08:01:59.600Z') },
    );

    // Act
    const record = await notifyAborted(event, { ...deps('2026-03-13T09:00:00.000Z'), plan });

    // Assess
    expect(record).toMatchObject({
      outcome: 'aborted',
      target: { host: 'orders-copy.internal', port: 5432, database: 'orders_copy' },
      error: 'Execution timed out; Step Functions stopped the restore task, so the target may hold a partial restore',
    });
    // 119.6 s rounds to two whole minutes, never "1 min 60 s".
    expect(message().content.description).toBe(
      'Restore of orders TIMED OUT after 2 min 0 s (latest to orders-copy.internal:5432/orders_copy); the target may hold a partial restore.',
    );
  });

  it.each([
    ['no input at all', null],
    ['input that is not JSON', '{"database": "orders"'],
    ['input that is a JSON string', JSON.stringify('orders')],
    ['no database', JSON.stringify({ latest: true, target: { host: 'x' } })],
    ['an upper-case database', JSON.stringify({ database: 'Orders', latest: true, target: { host: 'x' } })],
    ['a database that is not a string', JSON.stringify({ database: ['orders'], latest: true })],
  ])('writes and posts nothing for a stopped run with %s', async (_what, input) => {
    // Prepare
    const before = await audits();
    const event = stopped(undefined, { input, startDate: Date.parse('2026-03-13T08:00:00.000Z') });

    // Act
    const result = await notifyAborted(event, deps('2026-03-13T08:05:00.000Z'));

    // Assess
    expect(result).toBeUndefined();
    expect(await audits()).toEqual(before);
    expect(published()).toEqual([]);
  });

  it('runs behind the middy handler, sending an EventBridge status change to notifyAborted', async () => {
    // Prepare
    process.env.STRONGBOX_VAULT_BUCKET = BUCKET;
    process.env.STRONGBOX_CHAT_TOPIC_ARN = CHAT;
    process.env.STRONGBOX_S3_ENDPOINT = s3rver.endpoint;
    process.env.STRONGBOX_PLAN = JSON.stringify(plan);
    const { handler } = await import('../../../../lambdas/restore/notify/handler');
    const event = stopped(
      { database: 'sessions', latest: true, target: { host: 'sessions-copy.internal', port: 6379 } },
      { startDate: Date.parse('2026-03-14T08:00:00.000Z') },
    );

    // Act
    const result = await handler(event, { functionName: 'notify', awsRequestId: '1' } as unknown as Parameters<typeof handler>[1]);

    // Assess
    const record = (await getJson(s3, BUCKET, 'restores/sessions/2026-03-14T08:00:00.000Z.json', RestoreAuditSchema))?.value;
    expect(record).toEqual(result);
    expect(record).toMatchObject({ outcome: 'aborted', requested: 'latest', target: { host: 'sessions-copy.internal', port: 6379 } });
    expect(published()).toHaveLength(1);
    expect(published()[0]).toMatchObject({ TopicArn: CHAT, Subject: 'Strongbox restore aborted: sessions' });
  });
});
