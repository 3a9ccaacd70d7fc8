import { PutObjectCommand } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../../../contracts/vault';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { notify } from '../../../../lambdas/backup/notify/notify';
import { putBackup, testPlan } from '../../fixtures';

let s3rver: LocalS3;
beforeAll(async () => {
  s3rver = await startS3rver(['vault']);
});
afterAll(async () => {
  await s3rver.stop();
});

const plan = testPlan();
const execution = { executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:sbx-backup:run-1', startTime: '2026-04-01T10:00:00Z' };
const ready = (database: string, engine: string) => ({
  status: 'ready',
  database,
  engine,
  backupId: `${database}-20260401T100000Z-full`,
  prefix: 'p/',
  taskFamily: `sbx-${database}-dump`,
  taskTimeoutSeconds: 3600,
  trigger: 'schedule',
});

function setup() {
  const sns = new SNSClient({ region: 'eu-west-1' });
  const mock = mockClient(sns);
  mock.on(PublishCommand).resolves({ MessageId: '1' });
  const added: [string, string, number][] = [];
  const dimensions: Record<string, string>[] = [];
  const breaches: Record<string, string | number>[] = [];
  const metrics = {
    addMetric: (name: string, unit: string, value: number) => added.push([name, unit, value]),
    addDimensions: (d: Record<string, string>) => dimensions.push(d),
    // The breach flag goes out through a single-metric child with only Database and Tier (contracts/metrics.ts).
    singleMetric: () => {
      const line: Record<string, string | number> = {};
      breaches.push(line);
      return {
        clearDefaultDimensions: () => undefined,
        addDimension: (name: string, value: string) => {
          line[name] = value;
        },
        addMetric: (name: string, _unit: string, value: number) => {
          line[name] = value;
        },
      };
    },
  };
  const deps = {
    sns,
    s3: s3rver.client(),
    bucket: 'vault',
    plan,
    chatTopicArn: 'arn:chat',
    pagerTopicArn: 'arn:pager',
    pageOnImportant: false,
    region: 'eu-west-1',
    metrics: metrics as never,
  };
  const messages = () =>
    mock.commandCalls(PublishCommand).map((c) => ({ topic: c.args[0].input.TopicArn, body: JSON.parse(c.args[0].input.Message!) }));
  return { deps, messages, added, dimensions, breaches };
}

describe('notify', () => {
  it('publishes a success summary in Chatbot custom format and emits the backup metrics', async () => {
    // Prepare
    const { deps, messages, added, dimensions, breaches } = setup();
    await putBackup(s3rver.client(), 'vault', 'orders-20260401T100000Z-full', Buffer.alloc(1_000_000, 1));

    // Act
    await notify({ outcome: 'succeeded', execution, state: { prepare: ready('orders', 'postgres'), replicate: { lagSeconds: 42 } } }, deps);

    // Assess
    const [message] = messages();
    expect(message.topic).toBe('arn:chat');
    expect(message.body).toMatchObject({ version: '1.0', source: 'custom', content: { textType: 'client-markdown' } });
    expect(message.body.content.description).toContain('1.0 MB compressed, 3.0 MB raw (ratio 3x)');
    expect(message.body.content.description).toContain('90.0 s at');
    expect(message.body.content.description).toContain(encodeURIComponent(execution.executionArn));
    expect(dimensions).toEqual([{ Database: 'orders', Engine: 'postgres' }]);
    expect(added.map(([name]) => name)).toEqual([
      'BackupSucceeded',
      'BackupBytes',
      'BackupDurationSeconds',
      'BackupThroughputMBps',
      'CompressionRatio',
    ]);
    expect(breaches).toEqual([]);
  });

  it('turns an ECS failure and the stderr tail into a readable cause and pages for a critical database', async () => {
    // Prepare
    const { deps, messages, added, breaches } = setup();
    const backupId = 'orders-20260401T100000Z-full';
    await s3rver.client().send(
      new PutObjectCommand({
        Bucket: 'vault',
        Key: keys.failure(backupId),
        Body: JSON.stringify({
          schemaVersion: 1,
          backupId,
          failedAt: '2026-04-01T10:01:00Z',
          phase: 'dump',
          message: 'pg_dump exited with 1',
          exitCode: 1,
          signal: null,
          stderrTail: 'pg_dump: error: permission denied for table secrets',
        }),
      }),
    );
    const cause = JSON.stringify({ StoppedReason: 'Essential container in task exited', Containers: [{ Name: 'dump', ExitCode: 1 }] });

    // Act
    const summary = await notify(
      {
        outcome: 'failed',
        execution,
        state: { prepare: ready('orders', 'postgres'), error: { Error: 'States.TaskFailed', Cause: cause } },
      },
      deps,
    );

    // Assess
    expect(summary).toEqual({
      error: 'States.TaskFailed',
      cause: expect.stringContaining('Dump task stopped: Essential container in task exited; exit code 1'),
    });
    expect('cause' in summary && summary.cause).toContain('permission denied for table secrets');
    expect(messages().map((m) => m.topic)).toEqual(['arn:chat', 'arn:pager']);
    expect(added).toEqual([['BackupFailed', 'Count', 1]]);
    expect(breaches).toEqual([{ Database: 'orders', Tier: 'critical', DatabaseBreach: 1 }]);
  });

  it('titles a failed log-archiving run and a failed base backup by what failed, on chat and pager alike', async () => {
    // Prepare
    const { deps, messages, added } = setup();
    const run = (suffix: string) => ({ ...ready('orders', 'postgres'), backupId: `orders-20260401T100000Z-${suffix}` });
    const error = { Error: 'States.TaskFailed', Cause: JSON.stringify({ StoppedReason: 'Essential container in task exited' }) };

    // Act
    await notify({ outcome: 'failed', execution, state: { prepare: run('logs'), error } }, deps);
    await notify({ outcome: 'failed', execution, state: { prepare: run('base'), error } }, deps);

    // Assess
    expect(messages().map((m) => [m.topic, m.body.content.title])).toEqual([
      ['arn:chat', ':rotating_light: Log archiving failed: orders'],
      ['arn:pager', ':rotating_light: Log archiving failed: orders'],
      ['arn:chat', ':rotating_light: Base backup failed: orders'],
      ['arn:pager', ':rotating_light: Base backup failed: orders'],
    ]);
    // The alarms read one metric for every run that failed, whatever it was.
    expect(added).toEqual([
      ['BackupFailed', 'Count', 1],
      ['BackupFailed', 'Count', 1],
    ]);
  });

  it('extracts the message of a Lambda error without its stack, and does not page for an important database by default', async () => {
    // Prepare
    const { deps, messages } = setup();
    const cause = JSON.stringify({ errorType: 'VerificationError', errorMessage: 'sha256 mismatch', trace: ['at verify (verify.ts:1)'] });

    // Act
    const summary = await notify(
      {
        outcome: 'failed',
        execution,
        state: { prepare: ready('billing', 'mariadb'), error: { Error: 'VerificationError', Cause: cause } },
      },
      deps,
    );

    // Assess
    expect(summary).toEqual({ error: 'VerificationError', cause: 'sha256 mismatch' });
    expect(messages().map((m) => m.topic)).toEqual(['arn:chat']);
  });

  it('reports an invalid input that failed before Prepare returned', async () => {
    // Prepare
    const { deps } = setup();
    const cause = JSON.stringify({ errorType: 'InputValidationError', errorMessage: 'Invalid backup input:\nkind: found "x"', trace: [] });

    // Act
    const summary = await notify(
      { outcome: 'failed', execution, state: { database: 'nope', error: { Error: 'InputValidationError', Cause: cause } } },
      deps,
    );

    // Assess
    expect(summary).toEqual({ error: 'InputValidationError', cause: 'Invalid backup input:\nkind: found "x"' });
  });
});
