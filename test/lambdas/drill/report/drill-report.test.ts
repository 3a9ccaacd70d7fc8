import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DrillFailedError } from '../../../../contracts/errors';
import type { DrillPrepared } from '../../../../contracts/payloads/drill';
import { type DrillRecord, keys, LatestDrillSchema } from '../../../../contracts/vault';
import { getJson, putJson } from '../../../../contracts/vault-io';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { reportDrill } from '../../../../lambdas/drill/report/drill-report';
import { monitoringPlan } from '../../../infra/constructs/monitoring-plan';
import { metricsRecorder } from '../../fixtures';
import { restoreRoleArn, seedBackup } from '../../restore/resolve/fixtures';

const BUCKET = 'vault';
const CHAT = 'arn:aws:sns:eu-west-1:123456789012:chat';
const TASK_CRASHED = { Error: 'States.TaskFailed', Cause: 'Essential container in task exited (exit code 137)' };

describe('drill Report', () => {
  let s3rver: LocalS3;
  let s3: S3Client;
  const sns = mockClient(SNSClient);
  const published = () => sns.commandCalls(PublishCommand).map((call) => call.args[0].input);
  const message = () => JSON.parse(String(published()[0].Message));

  const prepared = (backupId: string): DrillPrepared => ({
    database: 'orders',
    engine: 'postgres',
    backupId,
    taskFamily: 'strongbox-orders-dump',
    taskTimeoutSeconds: 7200,
    taskRoleArn: restoreRoleArn('orders'),
    environment: [],
  });
  const drillRecord = (backupId: string, overrides: Partial<DrillRecord> = {}): DrillRecord => ({
    schemaVersion: 1,
    backupId,
    passed: true,
    drilledAt: '2026-03-10T04:35:00.000Z',
    restoreSeconds: 12.5,
    mismatches: [],
    checks: [
      { name: 'connect', passed: true },
      { name: 'foreign-keys', passed: true },
    ],
    ...overrides,
  });
  /** A backup drilled by the task: its drill.json (when given) written where the task writes it. */
  const drilled = async (at: string, record?: (backupId: string) => DrillRecord): Promise<string> => {
    const backupId = await seedBackup(s3, BUCKET, 'orders', at);
    if (record) {
      await putJson(s3, BUCKET, keys.drill(backupId), record(backupId));
    }
    return backupId;
  };
  const deps = (metrics: Metrics) => ({ s3, bucket: BUCKET, sns: new SNSClient({}), chatTopicArn: CHAT, metrics });

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    s3 = s3rver.client();
  });

  beforeEach(() => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: '1' });
  });

  afterAll(async () => {
    sns.restore();
    delete process.env.STRONGBOX_S3_ENDPOINT;
    delete process.env.STRONGBOX_PLAN;
    await s3rver.stop();
  });

  it('reports a passing drill.json to chat and returns the record, emitting no metric of its own', async () => {
    // Prepare
    const backupId = await drilled('2026-03-01T03:00:00Z', (id) => drillRecord(id));
    const { metrics, recorded } = metricsRecorder();

    // Act
    const result = await reportDrill({ prepared: prepared(backupId) }, deps(metrics));

    // Assess
    expect(result).toEqual(drillRecord(backupId));
    expect(recorded).toEqual([]);
    expect(published()).toEqual([{ TopicArn: CHAT, Subject: 'Strongbox drill passed: orders', Message: expect.any(String) }]);
    expect(message()).toEqual({
      version: '1.0',
      source: 'custom',
      content: {
        title: 'Drill passed: orders',
        description: `Drill of orders passed: ${backupId} restored into a throwaway engine in 12.5 s; inventory matches the manifest, 2 sanity checks passed.`,
      },
    });
  });

  it('keeps index/<db>/latest-drill.json for the watchdog, for passing and failing drills, but not for a crash', async () => {
    // Prepare
    const { metrics } = metricsRecorder();
    const passing = await drilled('2026-02-02T03:00:00Z', (id) => drillRecord(id));
    const failing = await drilled('2026-02-03T03:00:00Z', (id) =>
      drillRecord(id, { passed: false, drilledAt: '2026-03-11T04:35:00.000Z', mismatches: [{ name: 't', expected: 1, actual: 0 }] }),
    );
    const crashed = await drilled('2026-02-04T03:00:00Z');

    // Act
    await reportDrill({ prepared: prepared(passing) }, deps(metrics));
    const afterPass = await getJson(s3, BUCKET, keys.latestDrill('orders'), LatestDrillSchema);
    await reportDrill({ prepared: prepared(failing) }, deps(metrics)).catch(() => undefined);
    const afterFail = await getJson(s3, BUCKET, keys.latestDrill('orders'), LatestDrillSchema);
    await reportDrill({ prepared: prepared(crashed), error: TASK_CRASHED }, deps(metrics)).catch(() => undefined);
    const afterCrash = await getJson(s3, BUCKET, keys.latestDrill('orders'), LatestDrillSchema);

    // Assess
    expect(afterPass?.value).toEqual({ database: 'orders', backupId: passing, drilledAt: '2026-03-10T04:35:00.000Z', passed: true });
    expect(afterFail?.value).toEqual({ database: 'orders', backupId: failing, drilledAt: '2026-03-11T04:35:00.000Z', passed: false });
    expect(afterCrash?.value).toEqual(afterFail?.value);
  });

  it('returns the mismatches and failed checks of a failing drill.json as the failure, and says FAILED in chat', async () => {
    // Prepare
    const backupId = await drilled('2026-03-02T03:00:00Z', (id) =>
      drillRecord(id, {
        passed: false,
        mismatches: [
          { name: 'public.orders', expected: 3, actual: 2 },
          { name: 'public.customers', expected: 2, actual: null },
          { name: 'public.scratch', expected: null, actual: 4 },
        ],
        checks: [
          { name: 'connect', passed: true },
          { name: 'foreign-keys', passed: false, detail: '2 orphan rows in public.orders' },
          { name: 'sequences', passed: false },
        ],
      }),
    );
    const { metrics, recorded } = metricsRecorder();
    const summary = `Drill of orders FAILED: ${backupId} restored in 12.5 s but public.orders: expected 3, found 2; public.customers: expected 2, found nothing; public.scratch: expected nothing, found 4; check foreign-keys failed (2 orphan rows in public.orders); check sequences failed`;

    // Act
    const result = await reportDrill({ prepared: prepared(backupId), error: TASK_CRASHED }, deps(metrics));

    // Assess
    expect(result).toEqual({ passed: false, error: 'DrillFailedError', cause: summary });
    expect(recorded).toEqual([]); // the task emitted DrillPassed=0 itself when it wrote this record
    expect(published()[0].Subject).toBe('Strongbox drill FAILED: orders');
    expect(message().content).toEqual({ title: 'Drill failed: orders', description: summary });
  });

  it('emits DrillPassed=0 and fails when the task exited 0 but left no drill.json', async () => {
    // Prepare
    const backupId = await drilled('2026-03-03T03:00:00Z');
    const { metrics, recorded } = metricsRecorder();

    // Act
    const error = await reportDrill({ prepared: prepared(backupId) }, deps(metrics)).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(DrillFailedError);
    expect((error as Error).message).toBe(
      `Drill of orders FAILED (${backupId}): the drill did not complete: the drill task left no drill.json`,
    );
    expect(recorded).toEqual([
      { dimensions: { Database: 'orders', Engine: 'postgres' }, defaultsCleared: true, name: 'DrillPassed', unit: 'Count', value: 0 },
    ]);
    expect(published()[0].Subject).toBe('Strongbox drill FAILED: orders');
    expect(message().content).toEqual({
      title: 'Drill failed: orders',
      description: `Drill of orders FAILED (${backupId}): the drill did not complete: the drill task left no drill.json`,
    });
  });

  it('gives the task error as the reason when the crashed task left no drill.json', async () => {
    // Prepare
    const backupId = await drilled('2026-03-04T03:00:00Z');
    const { metrics, recorded } = metricsRecorder();

    // Act
    const result = await reportDrill({ prepared: prepared(backupId), error: TASK_CRASHED }, deps(metrics));

    // Assess
    const summary = `Drill of orders FAILED (${backupId}): the drill did not complete: Essential container in task exited (exit code 137)`;
    expect(result).toEqual({ passed: false, error: 'DrillFailedError', cause: summary });
    expect(recorded.map((m) => [m.name, m.value])).toEqual([['DrillPassed', 0]]);
    expect(message().content.description).toBe(summary);
  });

  it("reads ECS's task description in the failure as the task's stop, without the JSON", async () => {
    // Prepare
    const backupId = await drilled('2026-03-07T03:00:00Z');
    const { metrics } = metricsRecorder();
    const error = {
      Error: 'States.TaskFailed',
      Cause: JSON.stringify({
        Containers: [{ Name: 'dump', ExitCode: 1, LastStatus: 'STOPPED' }],
        StoppedReason: 'Essential container in task exited',
        TaskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/strongbox-tasks/1',
      }),
    };

    // Act
    const result = await reportDrill({ prepared: prepared(backupId), error }, deps(metrics));

    // Assess
    expect(result).toEqual({
      passed: false,
      error: 'DrillFailedError',
      cause: `Drill of orders FAILED (${backupId}): the drill did not complete: The task stopped: Essential container in task exited; exit code 1`,
    });
  });

  it('does not trust a failing drill.json written before this run started', async () => {
    // Prepare
    const backupId = await drilled('2026-03-08T03:00:00Z', (id) =>
      drillRecord(id, { passed: false, drilledAt: '2026-02-01T04:35:00.000Z' }),
    );
    const { metrics, recorded } = metricsRecorder();

    // Act
    const result = await reportDrill(
      { prepared: prepared(backupId), error: TASK_CRASHED, startedAt: '2026-03-10T04:00:00.000Z' },
      deps(metrics),
    );

    // Assess
    expect(result).toMatchObject({ cause: expect.stringContaining('the drill did not complete: Essential container in task exited') });
    expect(recorded.map((m) => [m.name, m.value])).toEqual([['DrillPassed', 0]]);
  });

  it('does not trust a passing drill.json left by an earlier run when this run failed', async () => {
    // Prepare
    const backupId = await drilled('2026-03-05T03:00:00Z', (id) => drillRecord(id, { drilledAt: '2026-02-01T04:35:00.000Z' }));
    const { metrics, recorded } = metricsRecorder();

    // Act
    const result = await reportDrill({ prepared: prepared(backupId), error: TASK_CRASHED }, deps(metrics));

    // Assess
    expect(result).toEqual({
      passed: false,
      error: 'DrillFailedError',
      cause: `Drill of orders FAILED (${backupId}): the drill did not complete: Essential container in task exited (exit code 137)`,
    });
    expect(recorded).toEqual([
      { dimensions: { Database: 'orders', Engine: 'postgres' }, defaultsCleared: true, name: 'DrillPassed', unit: 'Count', value: 0 },
    ]);
    expect(published()[0].Subject).toBe('Strongbox drill FAILED: orders');
    expect(message().content.title).toBe('Drill failed: orders');
  });

  it('flags a breach for the tier alarm when a drill fails or restores slower than the RTO, not when it passes in time', async () => {
    // Prepare
    const plan = monitoringPlan(); // orders: critical, RTO 1 h
    const inTime = await drilled('2026-01-05T03:00:00Z', (id) => drillRecord(id, { drilledAt: '2026-03-12T04:35:00.000Z' }));
    const slow = await drilled('2026-01-06T03:00:00Z', (id) =>
      drillRecord(id, { drilledAt: '2026-03-13T04:35:00.000Z', restoreSeconds: 3601 }),
    );
    const failing = await drilled('2026-01-07T03:00:00Z', (id) =>
      drillRecord(id, { passed: false, drilledAt: '2026-03-14T04:35:00.000Z', mismatches: [{ name: 't', expected: 1, actual: 0 }] }),
    );
    const runs = [inTime, slow, failing].map(() => metricsRecorder());

    // Act
    await reportDrill({ prepared: prepared(inTime) }, { ...deps(runs[0].metrics), plan });
    await reportDrill({ prepared: prepared(slow) }, { ...deps(runs[1].metrics), plan });
    await reportDrill({ prepared: prepared(failing) }, { ...deps(runs[2].metrics), plan }).catch(() => undefined);

    // Assess
    const breach = {
      dimensions: { Database: 'orders', Tier: 'critical' },
      defaultsCleared: true,
      name: 'DatabaseBreach',
      unit: 'Count',
      value: 1,
    };
    expect(runs[0].recorded).toEqual([]);
    expect(runs[1].recorded).toEqual([breach]);
    expect(runs[2].recorded).toEqual([breach]);
  });

  it('names the recovered base in chat for a PostgreSQL chain drill, and a recovered mismatch when it fails', async () => {
    // Prepare
    const { metrics } = metricsRecorder();
    const recovery = (baseId: string): NonNullable<DrillRecord['recovery']> => ({
      baseId,
      targetLsn: '0/4001150',
      reachedLsn: '0/4001238',
      walFiles: ['000000010000000000000003', '000000010000000000000004'],
      verifybackup: { passed: true, detail: 'backup successfully verified' },
      amcheck: { passed: true, detail: 'no corruption found' },
      mismatches: [],
      recoverySeconds: 7.1,
    });
    const passing = await drilled('2026-03-07T03:00:00Z', (id) =>
      drillRecord(id, { restoreSeconds: 19.6, recovery: recovery('orders-20260306T020000Z-base') }),
    );
    const failing = await drilled('2026-03-08T03:00:00Z', (id) =>
      drillRecord(id, {
        passed: false,
        restoreSeconds: 19.6,
        recovery: { ...recovery('orders-20260307T020000Z-base'), mismatches: [{ name: 'public.ledger', expected: 630, actual: 629 }] },
      }),
    );

    // Act
    await reportDrill({ prepared: prepared(passing) }, deps(metrics));
    const passed = message().content.description;
    sns.resetHistory();
    const error = await reportDrill({ prepared: prepared(failing) }, deps(metrics)).catch((e: unknown) => e);

    // Assess
    expect(passed).toBe(
      `Drill of orders passed: ${passing} restored into a throwaway engine in 19.6 s; inventory matches the manifest, 2 sanity checks passed. Base orders-20260306T020000Z-base and 2 WAL files recovered to the dump's LSN 0/4001150 in 7.1 s (included above) agree with it to the row; pg_verifybackup and pg_amcheck passed.`,
    );
    expect(error).toBeInstanceOf(DrillFailedError);
    expect((error as Error).message).toBe(
      `Drill of orders FAILED: ${failing} restored in 19.6 s but recovered base orders-20260307T020000Z-base: public.ledger: expected 630, found 629`,
    );
  });

  it('runs behind the middy handler with the parser on the drill payload', async () => {
    // Prepare
    process.env.STRONGBOX_VAULT_BUCKET = BUCKET;
    process.env.STRONGBOX_CHAT_TOPIC_ARN = CHAT;
    process.env.STRONGBOX_S3_ENDPOINT = s3rver.endpoint;
    process.env.STRONGBOX_PLAN = JSON.stringify(monitoringPlan());
    const { handler } = await import('../../../../lambdas/drill/report/handler');
    const backupId = await drilled('2026-03-06T03:00:00Z', (id) => drillRecord(id));

    // Act
    const result = await handler({ prepared: prepared(backupId) }, {
      functionName: 'drill-report',
      awsRequestId: '1',
    } as unknown as Parameters<typeof handler>[1]);

    // Assess
    expect(result).toEqual(drillRecord(backupId));
    expect(published()).toHaveLength(1);
    expect(published()[0]).toMatchObject({ TopicArn: CHAT, Subject: 'Strongbox drill passed: orders' });
  });
});
