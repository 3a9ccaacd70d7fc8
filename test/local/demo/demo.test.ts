import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RestoreAuditSchema } from '../../../contracts/payloads/restore';
import { DrillRecordSchema, keys, type Manifest, ManifestSchema, VerificationSchema } from '../../../contracts/vault';
import { type EmbeddedPostgres, freePort, startEmbeddedPostgres } from '../../../dev/servers/embedded-postgres';
import { describeTransition, main } from '../../../local/demo/demo';
import type { StateTransition } from '../../../local/executor/runtime';
import { Outbox } from '../../../local/outbox';

/**
 * `npm run demo` end to end, in-process: embedded PostgreSQL seeded at a small scale, then the backup, drill and
 * restore state machines, with the data directory in a temp directory and the server on a free port, so it
 * shares nothing with a developer's own `.strongbox` run. The assertions read what the run left behind: the
 * vault's files (s3rver keeps each object as `<bucket>/<key>._S3rver_object`), the outbox, and the restored
 * table in the server's data directory, started again after the demo stopped it.
 */

const S3RVER_OBJECT = '._S3rver_object';

let directory: string;
let port: number;
let exitCode: number;
let output: string;
let restartedPostgres: EmbeddedPostgres | undefined;

/** The keys of every object s3rver stores in `bucket`, relative to the bucket. */
function objectKeys(bucketDir: string): string[] {
  return (readdirSync(bucketDir, { recursive: true }) as string[])
    .filter((path) => path.endsWith(S3RVER_OBJECT))
    .map((path) => path.slice(0, -S3RVER_OBJECT.length));
}

function readObject(bucketDir: string, key: string): unknown {
  return JSON.parse(readFileSync(join(bucketDir, `${key}${S3RVER_OBJECT}`), 'utf8'));
}

/** The vault's two buckets on disk: the primary region's and the replica region's. */
function buckets(): { primary: string; replica: string } {
  const vault = join(directory, 'vault');
  const names = readdirSync(vault);
  const replica = names.filter((name) => name.includes('-replica-'));
  const primary = names.filter((name) => !name.includes('-replica-'));
  expect(replica).toHaveLength(1);
  expect(primary).toHaveLength(1);
  return { primary: join(vault, primary[0]), replica: join(vault, replica[0]) };
}

/** The one backup the run made: its manifest, read from the primary bucket. */
function theManifest(): Manifest {
  const { primary } = buckets();
  const manifests = objectKeys(primary).filter((key) => key.startsWith('backups/demo/') && key.endsWith('/manifest.json'));
  expect(manifests).toHaveLength(1);
  return ManifestSchema.parse(readObject(primary, manifests[0]));
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'strongbox-demo-'));
  // mkdtemp makes the directory private; as root the embedded server runs as the postgres user, which must reach it.
  chmodSync(directory, 0o755);
  port = await freePort();
  const written: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  // As in the CLI: Powertools warns on every handler invocation that publishes no custom metric.
  const warn = console.warn;
  const quiet = vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    if (!String(args[0]).startsWith('No application metrics to publish')) {
      warn(...args);
    }
  });
  try {
    exitCode = await main(['--scale', '0.01'], { dataDir: directory, port });
  } finally {
    quiet.mockRestore();
    write.mockRestore();
    // On a terminal each line starts by clearing the line it overwrites.
    output = written.join('').replaceAll('\r\x1b[K', '');
  }
}, 600_000);

afterAll(async () => {
  await restartedPostgres?.stop();
  rmSync(directory, { recursive: true, force: true });
});

describe('npm run demo, end to end on a small sample database', () => {
  it('exits 0 and prints a summary of a verified, replicated, drilled and restored backup', () => {
    // Prepare
    const lines = output.split('\n');

    // Act
    const line = (label: string) => lines.find((l) => new RegExp(`^  ${label}\\s{2,}`).test(l));

    // Assess
    expect(exitCode, output).toBe(0);
    expect(output).toContain(`PostgreSQL 15 (embedded-postgres) on 127.0.0.1:${port}, data in ${join(directory, 'postgres')}`);
    expect(output).toMatch(/✓ seeded "demo": .*, 8 tables in 4 schemas, /);
    expect(line('execution')).toMatch(/\s{2}SUCCEEDED$/);
    expect(line('verified')).toMatch(/\s{2}yes \(/);
    expect(line('replicated')).toMatch(/\s{2}yes, s3:\/\/strongbox-vault-replica-/);
    expect(line('drill')).toMatch(/\s{2}passed: restored into a throwaway engine in /);
    expect(line('table restore')).toMatch(/\s{2}sales\.orders -> demo_strongbox_restore in /);
    expect(line('outbox messages')).toMatch(/\s{2}3$/);
    expect(line('vault files')).toContain(`${join(directory, 'vault')}/ (s3rver; buckets `);
    expect(line('outbox')).toMatch(new RegExp(`\\s{2}${join(directory, 'outbox.jsonl').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    expect(line('demo BackupSucceeded')).toMatch(/\s{2}1$/);
    expect(line('demo DrillPassed')).toMatch(/\s{2}1$/);
    expect(line('demo RecoveryPointAgeSeconds')).toMatch(/\(RPO \d+ s: within\)$/);
  });

  it('leaves the manifest, verification and a passed drill record in the vault, and the artifact in the replica', () => {
    // Prepare
    const { primary, replica } = buckets();
    const manifest = theManifest();

    // Act
    const verification = VerificationSchema.parse(readObject(primary, keys.verification(manifest.backupId)));
    const drill = DrillRecordSchema.parse(readObject(primary, keys.drill(manifest.backupId)));
    const replicaArtifact = statSync(join(replica, `${manifest.artifact.key}${S3RVER_OBJECT}`));

    // Assess
    expect(manifest.database).toBe('demo');
    expect(verification.verified).toBe(true);
    expect(verification.sha256).toBe(manifest.artifact.sha256);
    expect(drill.passed).toBe(true);
    expect(drill.backupId).toBe(manifest.backupId);
    expect(drill.mismatches).toEqual([]);
    expect(replicaArtifact.size).toBe(manifest.artifact.bytes);
  });

  it('records the console restore of sales.orders under restores/demo/', () => {
    // Prepare
    const { primary } = buckets();
    const manifest = theManifest();

    // Act
    const audits = objectKeys(primary)
      .filter((key) => key.startsWith('restores/demo/'))
      .map((key) => RestoreAuditSchema.parse(readObject(primary, key)));

    // Assess
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({
      database: 'demo',
      outcome: 'restored',
      backupId: manifest.backupId,
      include: ['sales.orders'],
      overwrite: false,
      target: { host: '127.0.0.1', port, database: 'demo_strongbox_restore' },
      startedBy: { requestedBy: 'npm run demo' },
    });
  });

  it('publishes the three chat messages of the walk-through, then those of the closing rehearsal, to the outbox', () => {
    // Prepare
    const file = join(directory, 'outbox.jsonl');

    // Act
    const messages = new Outbox(file).read();

    // Assess
    expect(existsSync(file)).toBe(true);
    expect(messages.map((m) => m.subject)).toEqual([
      'Backup verified and replicated: demo',
      'Strongbox drill passed: demo',
      'Strongbox restore restored: demo',
      'Backup verified and replicated: ledger',
      'Strongbox drill passed: ledger',
      'Strongbox drill passed: demo',
      'Strongbox DR plan rehearsal passed: demo-dr',
    ]);
  });

  it('ends by rehearsing the two-group plan: each group, then the plan RTO against its target', () => {
    // Prepare
    const start = output.indexOf('\nRehearsal of DR plan "demo-dr"');

    // Act
    const rehearsal = output.slice(start);

    // Assess
    expect(start).toBeGreaterThan(output.indexOf('\nSummary\n'));
    expect(rehearsal).toContain('(group 1: ledger; group 2: demo)');
    expect(rehearsal).toMatch(/\n {2}group 1: passed in [\d.]+ s: ledger passed in [\d.]+ s \(restore [\d.]+ s\)\n/);
    expect(rehearsal).toMatch(/\n {2}group 2: passed in [\d.]+ s: demo passed in [\d.]+ s \(restore [\d.]+ s\)\n/);
    expect(rehearsal).toMatch(/\n {2}✓ plan RTO [\d.]+ s against the plan RTO of 120 s \(drPlans\[\]\.rto\): met\n/);
    expect(rehearsal).not.toContain('RestoreDatabase');
  });

  it('restores sales.orders, and only it, into demo_strongbox_restore with the row count of the manifest', async () => {
    // Prepare
    const manifest = theManifest();
    const expected = manifest.inventory.entries.find((e) => e.name === 'sales.orders');
    restartedPostgres = await startEmbeddedPostgres({ directory: join(directory, 'postgres'), port });
    const client = restartedPostgres.client('demo_strongbox_restore');
    await client.connect();

    // Act
    let tables: string[];
    let rows: number;
    try {
      tables = (
        await client.query<{ name: string }>(
          "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
        )
      ).rows.map((r) => r.name);
      rows = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM sales.orders')).rows[0].n;
    } finally {
      await client.end();
    }

    // Assess
    expect(expected?.kind).toBe('table');
    expect(expected?.count).toBeGreaterThan(0);
    expect(tables).toEqual(['sales.orders']);
    expect(rows).toBe(expected?.count);
  });
});

describe('npm run demo, bad arguments', () => {
  it('rejects a --scale that is not a number with the usage message, before starting anything', async () => {
    // Prepare
    const empty = mkdtempSync(join(tmpdir(), 'strongbox-demo-args-'));

    // Act
    const run = main(['--scale', 'x'], { dataDir: empty, port: await freePort() });

    // Assess
    try {
      await expect(run).rejects.toThrow(/^--scale: found "x"; expected a number above 0 and at most 10/);
      expect(readdirSync(empty)).toEqual([]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('npm run demo, a failing state on the terminal', () => {
  it('prints the error type and message of a failed Report, not its error JSON with stack frames', () => {
    // Prepare: ReportFailure failing as the local runtime reports a Lambda error (Lambda's own format)
    const transition: StateTransition = {
      state: 'ReportFailure',
      type: 'failed',
      at: Date.now(),
      error: 'DrillFailedError',
      cause: JSON.stringify({
        errorType: 'DrillFailedError',
        errorMessage: 'Drill of demo FAILED: demo-20260101T000000Z-full restored in 1.2 s but sales.orders: expected 3, found 2',
        trace: ['DrillFailedError: Drill of demo FAILED', '    at reportDrill (/work/lambdas/drill-report/drill-report.ts:54:11)'],
      }),
    };

    // Act
    const line = describeTransition(transition);

    // Assess
    expect(line).toBe(
      '  ✗ ReportFailure: DrillFailedError: Drill of demo FAILED: demo-20260101T000000Z-full restored in 1.2 s but sales.orders: expected 3, found 2',
    );
    expect(line).not.toMatch(/\bat |\.ts:|"trace"/);
  });

  it('prints a failed task state as its stop, not as ECS task JSON', () => {
    // Prepare
    const transition: StateTransition = {
      state: 'Drill',
      type: 'failed',
      at: Date.now(),
      error: 'States.TaskFailed',
      cause: JSON.stringify({
        Containers: [{ Name: 'dump', ExitCode: 1 }],
        StoppedReason: 'Essential container in task exited',
        TaskArn: 't',
      }),
    };

    // Act
    const line = describeTransition(transition);

    // Assess
    expect(line).toBe('  ✗ Drill: States.TaskFailed: The task stopped: Essential container in task exited; exit code 1');
  });
});
