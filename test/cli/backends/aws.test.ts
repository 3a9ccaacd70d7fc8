import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../cli/main';
import { backupObjects } from '../plant';
import { cli } from '../run-cli';

/**
 * The deployed-app path, which needs AWS: the account from the state machine listing, the vault buckets named
 * from it, Object Lock read with HeadObject (s3rver has none), and an execution followed through
 * GetExecutionHistory/DescribeExecution and stopped with StopExecution, all against aws-sdk-client-mock.
 */

const ACCOUNT = '123456789012';
const PRIMARY = `acme-vault-${ACCOUNT}-eu-west-1`;
const REPLICA = `acme-vault-replica-${ACCOUNT}-eu-central-1`;
const RESTORE_ARN = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:acme-restore`;
const dir = mkdtempSync(join(tmpdir(), 'strongbox-cli-aws-'));
const config = join(dir, 'strongbox.yaml');
writeFileSync(
  config,
  `app: { name: acme }
vault: { primaryRegion: eu-west-1, replicaRegion: eu-central-1 }
alerts: { email: [] }
databases:
  - name: orders
    engine: postgres
    tier: critical
    connection: { host: orders.internal, database: orders, secretArn: "arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:orders-AbCdEf" }
    schedule: { expression: rate(15 minutes) }
`,
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sfn = new SFNClient({ region: 'eu-west-1' });
const primaryS3 = new S3Client({ region: 'eu-west-1' });
const replicaS3 = new S3Client({ region: 'eu-central-1' });
const sfnMock = mockClient(sfn);
const primaryMock = mockClient(primaryS3);
const replicaMock = mockClient(replicaS3);
const aws = { clients: { sfn, primaryS3, replicaS3 }, pollMs: 5 };
const logs = new CloudWatchLogsClient({ region: 'eu-west-1' });
const logsMock = mockClient(logs);
/** With a CloudWatch Logs client: the CLI reads the task's stream itself. */
const awsWithLogs = { clients: { sfn, primaryS3, replicaS3, logs }, pollMs: 5 };

const backup = backupObjects({
  database: 'orders',
  takenAt: new Date('2026-11-21T03:04:05Z'),
  bytes: 4096,
  uncompressedBytes: 20_000,
  durationSeconds: 30,
  throughputMBps: 12,
  verifiedAfterMinutes: 3,
});
const notFound = () => Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });

/** The primary vault holds `backup`, its artifact in Glacier IR under COMPLIANCE retention and a legal hold. */
function vaultHoldsBackup(): void {
  const listing = [...backup.objects].map(([Key, body]) => ({
    Key,
    Size: body.length,
    StorageClass: Key === backup.artifactKey ? 'GLACIER_IR' : 'STANDARD',
  }));
  primaryMock
    .on(ListObjectsV2Command, { Bucket: PRIMARY })
    .callsFake((input: { Prefix?: string }) => ({ Contents: listing.filter((o) => o.Key.startsWith(input.Prefix ?? '')) }));
  primaryMock.on(GetObjectCommand, { Bucket: PRIMARY }).callsFake((input: { Key: string }) => {
    const body = backup.objects.get(input.Key);
    if (body === undefined) {
      throw notFound();
    }
    return { Body: { transformToString: async () => body.toString() } };
  });
  primaryMock.on(HeadObjectCommand, { Bucket: PRIMARY, Key: backup.artifactKey }).resolves({
    ContentLength: 4096,
    ObjectLockMode: 'COMPLIANCE',
    ObjectLockRetainUntilDate: new Date('2027-01-31T00:00:00Z'),
    ObjectLockLegalHoldStatus: 'ON',
  });
}

/** The audit record a restore of `backup` to orders-copy.internal writes. */
function restoredAudit(executionArn: string): Record<string, unknown> {
  return {
    schemaVersion: 1,
    database: 'orders',
    outcome: 'restored',
    startedBy: { executionArn, executionName: 'run', requestedBy: 'erin' },
    startedAt: '2026-12-01T10:00:00.000Z',
    finishedAt: '2026-12-01T10:02:00.000Z',
    restoreSeconds: 120,
    backupId: backup.backupId,
    requested: 'latest',
    target: { host: 'orders-copy.internal', port: 5432, database: 'orders_copy' },
    include: [],
    overwrite: false,
    validation: { matched: true, compared: 1, mismatches: [] },
  };
}

const RESTORE_ARGS = [
  'restore',
  'orders',
  '--latest',
  '--target-host',
  'orders-copy.internal',
  '--target-database',
  'orders_copy',
  '--target-secret-arn',
  `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:orders-copy-AbCdEf`,
  '--requested-by',
  'erin',
  '--config',
  config,
];

/** The TaskSubmitted event of the restore task `0f1e...` of orders. */
const taskSubmitted = (id: number, timestamp: Date) => ({
  id,
  type: 'TaskSubmitted' as const,
  timestamp,
  taskSubmittedEventDetails: {
    resourceType: 'ecs',
    resource: 'runTask.sync',
    output: JSON.stringify({
      Tasks: [
        {
          TaskArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task/acme-cluster/0f1e2d3c4b5a69788796a5b4c3d2e1f0`,
          TaskDefinitionArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/acme-orders-dump:7`,
        },
      ],
    }),
  },
});

beforeEach(() => {
  sfnMock.reset();
  primaryMock.reset();
  replicaMock.reset();
  logsMock.reset();
  sfnMock.on(ListStateMachinesCommand).resolves({
    stateMachines: [
      { name: 'acme-restore', stateMachineArn: RESTORE_ARN, type: 'STANDARD', creationDate: new Date() },
      {
        name: 'other-restore',
        stateMachineArn: 'arn:aws:states:eu-west-1:999999999999:stateMachine:other-restore',
        type: 'STANDARD',
        creationDate: new Date(),
      },
    ],
  });
});

describe('the CLI against a deployed app', () => {
  it('names the vault bucket from the account of <app>-restore and shows Object Lock mode, retain-until and legal hold', async () => {
    // Prepare
    vaultHoldsBackup();

    // Act
    const json = await cli(['points', 'orders', '--config', config, '--json'], { aws });
    const human = await cli(['points', 'orders', '--config', config], { aws, now: new Date('2026-12-01T00:00:00Z') });

    // Assess
    expect(json.code).toBe(0);
    const doc = json.json<{ vault: string; points: Record<string, unknown>[] }>();
    expect(doc.vault).toBe(`s3://${PRIMARY} (eu-west-1)`);
    expect(doc.points).toEqual([
      expect.objectContaining({
        backupId: backup.backupId,
        restorable: true,
        storageClass: 'GLACIER_IR',
        lock: { supported: true, mode: 'COMPLIANCE', retainUntil: '2027-01-31T00:00:00.000Z', legalHold: true },
      }),
    ]);
    expect(human.out).toContain('COMPLIANCE until 2027-01-31, legal hold');
  });

  it('show reads the replica copy with HeadObject in the replica region, and says when it is missing', async () => {
    // Prepare
    vaultHoldsBackup();
    replicaMock.on(HeadObjectCommand, { Bucket: REPLICA, Key: backup.artifactKey }).resolvesOnce({
      ContentLength: 4096,
      StorageClass: 'GLACIER_IR',
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: new Date('2026-12-31T00:00:00Z'),
    });

    // Act
    const present = await cli(['show', backup.backupId, '--config', config, '--json'], { aws });
    replicaMock.on(HeadObjectCommand).rejects(notFound());
    const missing = await cli(['show', backup.backupId, '--config', config], { aws });

    // Assess
    expect(present.code).toBe(0);
    expect(present.json<{ replica: unknown }>().replica).toEqual({
      bucket: REPLICA,
      present: true,
      bytes: 4096,
      sizeMatches: true,
      storageClass: 'GLACIER_IR',
      lock: { supported: true, mode: 'GOVERNANCE', retainUntil: '2026-12-31T00:00:00.000Z', legalHold: false },
    });
    expect(missing.code).toBe(0);
    expect(missing.out).toContain(`replica       MISSING from ${REPLICA}`);
  });

  it('report evidences Object Lock mode, retain-until and legal holds from HeadObject, and the replica copies', async () => {
    // Prepare
    vaultHoldsBackup();
    replicaMock.on(ListObjectsV2Command, { Bucket: REPLICA }).resolves({ Contents: [{ Key: backup.artifactKey, Size: 4096 }] });
    const out = join(dir, 'report.html');

    // Act
    const run = await cli(['report', '--month', '2026-11', '--out', out, '--config', config, '--json'], {
      aws,
      now: new Date('2026-12-02T00:00:00Z'),
    });

    // Assess
    expect(run.code).toBe(0);
    const [orders] = run.json<{ databases: Record<string, unknown>[] }>().databases;
    expect(orders.immutability).toEqual({
      supported: true,
      objects: 1,
      locked: 1,
      modes: { COMPLIANCE: 1 },
      legalHolds: 1,
      earliestRetainUntil: '2027-01-31T00:00:00.000Z',
      latestRetainUntil: '2027-01-31T00:00:00.000Z',
    });
    expect(orders.replica).toEqual({ verified: 1, copied: 1, share: 1, missing: [] });
    expect(primaryMock.commandCalls(HeadObjectCommand).map((c) => c.args[0].input)).toEqual([{ Bucket: PRIMARY, Key: backup.artifactKey }]);
  });

  it('exits 3 with what to do when the app is not deployed or AWS refuses the credentials; --account skips the lookup', async () => {
    // Prepare
    sfnMock.on(ListStateMachinesCommand).resolves({ stateMachines: [] });

    // Act
    const notDeployed = await cli(['points', 'orders', '--config', config], { aws });
    sfnMock
      .on(ListStateMachinesCommand)
      .rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
    const noCredentials = await cli(['stats', '--config', config], { aws });
    const badAccount = await cli(['stats', '--config', config, '--account', '12345'], { aws });

    // Assess
    expect(notDeployed.code).toBe(3);
    expect(notDeployed.err).toBe(
      'strongbox: no state machine acme-restore in eu-west-1: is app "acme" deployed there? Pass --account <id> to read the vault anyway',
    );
    expect(noCredentials.code).toBe(3);
    expect(noCredentials.err).toContain(
      'CredentialsProviderError: Could not load credentials from any providers; configure AWS credentials',
    );
    expect(badAccount.code).toBe(2);
    expect(badAccount.err).toBe('strongbox: --account: found "12345"; expected the 12-digit AWS account id');
  });

  it('restore starts the execution with the validated input, follows its history to the end and prints the audit record', async () => {
    // Prepare
    vaultHoldsBackup();
    const executionArn = `arn:aws:states:eu-west-1:${ACCOUNT}:execution:acme-restore:run`;
    sfnMock.on(StartExecutionCommand).resolves({ executionArn, startDate: new Date('2026-12-01T10:00:00Z') });
    const audit = restoredAudit(executionArn);
    const at = (s: number) => new Date(Date.parse('2026-12-01T10:00:00Z') + s * 1000);
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: [{ id: 1, type: 'ExecutionStarted', timestamp: at(0) }] })
      .resolvesOnce({
        events: [
          { id: 1, type: 'ExecutionStarted', timestamp: at(0) },
          { id: 2, type: 'TaskStateEntered', timestamp: at(1), stateEnteredEventDetails: { name: 'Resolve' } },
          { id: 3, type: 'TaskStateExited', timestamp: at(2), stateExitedEventDetails: { name: 'Resolve', output: '{}' } },
          { id: 4, type: 'TaskStateEntered', timestamp: at(3), stateEnteredEventDetails: { name: 'Restore' } },
        ],
      })
      .resolves({
        events: [
          { id: 4, type: 'TaskStateEntered', timestamp: at(3), stateEnteredEventDetails: { name: 'Restore' } },
          {
            id: 41,
            type: 'TaskSubmitted',
            timestamp: at(4),
            taskSubmittedEventDetails: {
              resourceType: 'ecs',
              resource: 'runTask.sync',
              output: JSON.stringify({
                Tasks: [
                  {
                    TaskArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task/acme-cluster/0f1e2d3c4b5a69788796a5b4c3d2e1f0`,
                    TaskDefinitionArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/acme-orders-dump:7`,
                  },
                ],
              }),
            },
          },
          { id: 5, type: 'TaskStateExited', timestamp: at(90), stateExitedEventDetails: { name: 'Restore', output: '{}' } },
          { id: 6, type: 'TaskStateEntered', timestamp: at(91), stateEnteredEventDetails: { name: 'Notify' } },
          { id: 7, type: 'TaskStateExited', timestamp: at(92), stateExitedEventDetails: { name: 'Notify', output: '{}' } },
        ],
      });
    sfnMock
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({ status: 'SUCCEEDED', stopDate: at(120), output: JSON.stringify({ audit }) });

    // Act
    const run = await cli(RESTORE_ARGS, { aws });

    // Assess
    expect(run.code).toBe(0);
    const started = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(started.stateMachineArn).toBe(RESTORE_ARN);
    expect(started.name).toMatch(/^strongbox-cli-\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    expect(JSON.parse(started.input!)).toEqual({
      database: 'orders',
      latest: true,
      target: {
        host: 'orders-copy.internal',
        database: 'orders_copy',
        secretArn: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:orders-copy-AbCdEf`,
      },
      requestedBy: 'erin',
    });
    expect(run.out.split('\n').filter((l) => l.startsWith('  → ') || l.startsWith('  ✓ '))).toEqual([
      '  → Resolve',
      '  ✓ Resolve (1 s)',
      '  → Restore',
      '  ✓ Restore (1 min 27 s)',
      '  → Notify',
      '  ✓ Notify (1 s)',
    ]);
    expect(run.out).toContain(
      `Audit record restores/orders/2026-12-01T10:00:00.000Z.json: restored: ${backup.backupId} to orders-copy.internal:5432/orders_copy in 2 min 0 s; validation: 1 objects compared, all match the manifest`,
    );
    expect(sfnMock.commandCalls(StopExecutionCommand)).toHaveLength(0);
    // Without a CloudWatch Logs client the CLI falls back to naming the task's stream.
    expect(run.out.split('\n').filter((l) => l.includes('aws logs tail'))).toEqual([
      '      task: progress and log lines: aws logs tail /strongbox/acme/dump/orders --log-stream-names orders/dump/0f1e2d3c4b5a69788796a5b4c3d2e1f0 --follow --region eu-west-1',
    ]);
  });

  it('restore shows the task progress from its CloudWatch log stream under the running step, then stops with the execution', async () => {
    // Prepare
    vaultHoldsBackup();
    const executionArn = `arn:aws:states:eu-west-1:${ACCOUNT}:execution:acme-restore:run`;
    sfnMock.on(StartExecutionCommand).resolves({ executionArn, startDate: new Date('2026-12-01T10:00:00Z') });
    const at = (s: number) => new Date(Date.parse('2026-12-01T10:00:00Z') + s * 1000);
    const running = [
      { id: 1, type: 'TaskStateEntered' as const, timestamp: at(1), stateEnteredEventDetails: { name: 'Restore' } },
      taskSubmitted(2, at(2)),
    ];
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: running })
      .resolvesOnce({ events: running })
      .resolves({
        events: [
          ...running,
          { id: 3, type: 'TaskStateExited', timestamp: at(90), stateExitedEventDetails: { name: 'Restore', output: '{}' } },
        ],
      });
    sfnMock
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({ status: 'SUCCEEDED', stopDate: at(120), output: JSON.stringify({ audit: restoredAudit(executionArn) }) });
    const event = (fields: Record<string, unknown>) => ({
      timestamp: 1,
      message: JSON.stringify({ level: 'info', time: '2026-12-01T10:00:10.000Z', message: 'restore progress', ...fields }),
    });
    logsMock
      .on(GetLogEventsCommand)
      .rejectsOnce(
        Object.assign(new Error('The specified log stream does not exist.'), { name: 'ResourceNotFoundException', $metadata: {} }),
      )
      .resolvesOnce({
        events: [
          event({
            bytes: 9_500_000,
            mbPerSecond: 1.4,
            elapsedSeconds: 2.1,
            totalBytes: 15_200_000,
            percent: 62.6,
            parts: 1,
            totalParts: 2,
            etaSeconds: 1.3,
          }),
        ],
        nextForwardToken: 'f/1',
      })
      .resolvesOnce({ events: [], nextForwardToken: 'f/1' })
      .resolvesOnce({
        events: [
          event({
            bytes: 15_200_000,
            averageMbPerSecond: 4.5,
            elapsedSeconds: 3.4,
            totalBytes: 15_200_000,
            percent: 100,
            parts: 2,
            totalParts: 2,
            final: true,
          }),
        ],
        nextForwardToken: 'f/2',
      })
      .resolves({ events: [], nextForwardToken: 'f/2' });

    // Act
    const run = await cli(RESTORE_ARGS, { aws: awsWithLogs });

    // Assess
    expect(run.code).toBe(0);
    expect(run.out.split('\n').filter((l) => l.startsWith('  → ') || l.startsWith('  ✓ ') || l.startsWith('      task: '))).toEqual([
      '  → Restore',
      '      task: restore: 62.6% of 15.2 MB (9.5 MB, 1 of 2 parts), 1.4 MB/s, ETA 1.3 s, 2.1 s',
      '      task: restore: 100% of 15.2 MB (15,200,000 bytes in 2 parts), 4.5 MB/s on average over 3.4 s',
      '  ✓ Restore (1 min 29 s)',
    ]);
    expect(run.out).not.toContain('aws logs tail');
    const reads = logsMock.commandCalls(GetLogEventsCommand).map((c) => c.args[0].input);
    expect(reads).toHaveLength(5);
    expect(reads[0]).toEqual({
      logGroupName: '/strongbox/acme/dump/orders',
      logStreamName: 'orders/dump/0f1e2d3c4b5a69788796a5b4c3d2e1f0',
      startFromHead: true,
    });
    expect(reads.map((r) => r.nextToken)).toEqual([undefined, undefined, 'f/1', 'f/1', 'f/2']);
  });

  it('restore says once that AccessDenied hides the progress and still follows the execution to its end', async () => {
    // Prepare
    vaultHoldsBackup();
    const executionArn = `arn:aws:states:eu-west-1:${ACCOUNT}:execution:acme-restore:run`;
    sfnMock.on(StartExecutionCommand).resolves({ executionArn, startDate: new Date('2026-12-01T10:00:00Z') });
    const at = (s: number) => new Date(Date.parse('2026-12-01T10:00:00Z') + s * 1000);
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        { id: 1, type: 'TaskStateEntered', timestamp: at(1), stateEnteredEventDetails: { name: 'Restore' } },
        taskSubmitted(2, at(2)),
        { id: 3, type: 'TaskStateExited', timestamp: at(90), stateExitedEventDetails: { name: 'Restore', output: '{}' } },
      ],
    });
    sfnMock
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' })
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({ status: 'SUCCEEDED', stopDate: at(120), output: JSON.stringify({ audit: restoredAudit(executionArn) }) });
    logsMock
      .on(GetLogEventsCommand)
      .rejects(
        Object.assign(new Error('User is not authorized to perform: logs:GetLogEvents'), { name: 'AccessDeniedException', $metadata: {} }),
      );

    // Act
    const run = await cli(RESTORE_ARGS, { aws: awsWithLogs });

    // Assess
    expect(run.code).toBe(0);
    expect(run.out.split('\n').filter((l) => l.startsWith('      task: '))).toEqual([
      '      task: progress not shown: AccessDenied: these credentials may not call logs:GetLogEvents on log group /strongbox/acme/dump/orders (grant it, see README "The strongbox command (CLI)"); following the steps only',
    ]);
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(1);
    expect(run.out).toContain('restored: ');
  });

  it('Ctrl-C answered "s" calls StopExecution and exits 130 once the execution reports ABORTED', async () => {
    // Prepare
    vaultHoldsBackup();
    const executionArn = `arn:aws:states:eu-west-1:${ACCOUNT}:execution:acme-restore:stopped`;
    let stopped = false;
    sfnMock.on(StartExecutionCommand).resolves({ executionArn, startDate: new Date() });
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolves({ events: [{ id: 2, type: 'TaskStateEntered', timestamp: new Date(), stateEnteredEventDetails: { name: 'Restore' } }] });
    sfnMock.on(DescribeExecutionCommand).callsFake(() => (stopped ? { status: 'ABORTED', stopDate: new Date() } : { status: 'RUNNING' }));
    sfnMock.on(StopExecutionCommand).callsFake(() => {
      stopped = true;
      return { stopDate: new Date() };
    });
    let interrupt: (() => void) | undefined;
    const questions: string[] = [];
    const out: string[] = [];

    // Act
    const running = runCli(
      [
        'restore',
        'orders',
        '--backup-id',
        backup.backupId,
        '--target-host',
        'h',
        '--target-database',
        'd',
        '--target-secret-arn',
        `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:x-AbCdEf`,
        '--config',
        config,
      ],
      {
        out: (line) => {
          out.push(line);
          if (line === '  → Restore') {
            interrupt?.();
          }
        },
        err: (line) => out.push(line),
        ask: async (question) => {
          questions.push(question);
          return 's';
        },
        onInterrupt: (handler) => {
          interrupt = handler;
          return () => {
            interrupt = undefined;
          };
        },
      },
      { aws: { ...aws, clients: aws.clients } },
    );
    const code = await running;

    // Assess
    expect(code).toBe(130);
    expect(questions[0]).toMatch(/Stop execution strongbox-cli-.*\? \[s\]top it, \[d\]etach and leave it running, \[c\]ontinue following/);
    expect(sfnMock.commandCalls(StopExecutionCommand)[0].args[0].input).toEqual({
      executionArn,
      error: 'StoppedFromCli',
      cause: 'Stopped with Ctrl-C from the strongbox CLI',
    });
    expect(out).toContain(
      '  stopping execution ' + sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input.name + ' (StopExecution)...',
    );
    expect(out.some((l) => l.startsWith('ABORTED (stopped with Ctrl-C)'))).toBe(true);
  }, 60_000);
});
