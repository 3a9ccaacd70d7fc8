import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../../cli/format';
import { RestoreAuditSchema } from '../../../contracts/payloads/restore';
import { keys, type Manifest, ManifestSchema } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';
import { type EngineServer, startPostgres } from '../../../dev/servers/engines';
import { backedUp, type E2e, e2eConfigYaml, listKeys, startE2e, targetSecretArn } from '../../e2e/harness';
import { cli } from '../run-cli';
import { spawnCli } from '../spawn-cli';

/**
 * restore, drill and dr-plan through the local runtime, run as an operator runs them: the `strongbox` bin in its
 * own process (each run synthesizes the app and starts the local runtime, as `npm run demo` does), against a real
 * PostgreSQL. Includes Ctrl-C: SIGINT to the CLI, the question answered on stdin, the execution stopped.
 */

let pg: EngineServer;
let e2e: E2e;
let dataDir: string;
let configFile: string;
let backupId: string;
const ROWS = 400_000;

async function query<T>(database: string, sql: string): Promise<T[]> {
  const c = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

const tableRows = async (database: string) =>
  Number(
    (
      await query<{ n: string }>(
        database,
        "SELECT CASE WHEN to_regclass('public.orders') IS NULL THEN -1 ELSE (SELECT count(*) FROM orders) END AS n",
      )
    )[0].n,
  );

const local = () => ['--local', dataDir, '--config', configFile];
const target = (database: string) => [
  '--target-host',
  pg.host,
  '--target-port',
  String(pg.port),
  '--target-database',
  database,
  '--target-secret-arn',
  targetSecretArn('scratch'),
];

async function audits(): Promise<{ outcome: string; executionName: string; database?: string }[]> {
  const s3 = e2e.strongbox.vault.client();
  const bucket = e2e.strongbox.app.buckets.primary;
  const found = [];
  for (const key of await listKeys(s3, bucket, 'restores/shop/')) {
    const audit = (await getJson(s3, bucket, key, RestoreAuditSchema))!.value;
    found.push({ outcome: audit.outcome, executionName: audit.startedBy.executionName, database: audit.target?.database });
  }
  return found;
}

async function manifest(): Promise<Manifest> {
  return (await getJson(e2e.strongbox.vault.client(), e2e.strongbox.app.buckets.primary, keys.manifest(backupId), ManifestSchema))!.value;
}

/**
 * The task's progress lines as the CLI printed them (`      task: restore: 42.0% of 12.3 MB (...)`), each with
 * its percent and the total it counts against; the closing line also carries the exact bytes and parts.
 */
function progressLines(stdout: string, what: 'restore' | 'drill') {
  const prefix = `      task: ${what}: `;
  return stdout
    .split('\n')
    .filter((l) => l.startsWith(prefix) && /% of /.test(l))
    .map((l) => {
      const [, percent, total] = /^([\d.]+)% of ([\d.]+ [kMG]?B) /.exec(l.slice(prefix.length)) ?? [];
      const exact = / \(([\d,]+) bytes in (\d+) parts?\), /.exec(l);
      return {
        percent: Number(percent),
        total,
        ...(exact && { exactBytes: Number(exact[1].replaceAll(',', '')), parts: Number(exact[2]) }),
      };
    });
}

/** Percent never goes back, the last line is the closing 100 % one, and every line counts against the manifest. */
async function expectProgressToManifest(stdout: string, what: 'restore' | 'drill'): Promise<void> {
  const { artifact } = await manifest();
  const lines = progressLines(stdout, what);
  expect(lines.length).toBeGreaterThanOrEqual(1);
  expect(lines.map((l) => l.total)).toEqual(lines.map(() => formatBytes(artifact.bytes)));
  expect(lines.map((l) => l.percent)).toEqual([...lines.map((l) => l.percent)].sort((a, b) => a - b));
  expect(lines.at(-1)).toEqual({ percent: 100, total: formatBytes(artifact.bytes), exactBytes: artifact.bytes, parts: artifact.parts });
  expect(lines.filter((l) => l.exactBytes !== undefined)).toHaveLength(1);
}

beforeAll(async () => {
  pg = await startPostgres();
  await query('postgres', 'CREATE DATABASE shop');
  await query(
    'shop',
    `CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT i, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, ${ROWS}) i`,
  );
  const databases = [{ name: 'shop', server: pg, database: 'shop' }];
  const drPlans = `drPlans:
  - name: region-loss
    groups:
      - databases: [shop]
    targets:
      shop: { host: 127.0.0.1, port: ${pg.port}, database: shop_dr, secretArn: "${targetSecretArn('scratch')}" }`;
  e2e = await startE2e(databases, {}, drPlans);
  dataDir = join(e2e.directory, '.strongbox');
  configFile = join(e2e.directory, 'strongbox.yaml');
  // The restore target's secret, as the local runtime reads it: local.secrets keyed by the ARN.
  writeFileSync(
    configFile,
    `${e2eConfigYaml(databases, drPlans)}  secrets:\n    "${targetSecretArn('scratch')}": { username: "${pg.username}", password: "${pg.password}" }\n`,
  );
  backupId = await backedUp(e2e.strongbox, 'shop');
}, 300_000);

afterAll(async () => {
  await e2e?.stop();
  await pg?.stop();
});

describe('strongbox restore', () => {
  it('restores through the local runtime, following every step and the task, and prints the audit record', async () => {
    // Act
    const run = spawnCli(['restore', 'shop', '--latest', ...target('shop_cli'), '--requested-by', 'dave, INC-7', ...local()]);
    const { code, stdout } = await run.exited;

    // Assess
    expect(code).toBe(0);
    const steps = stdout.split('\n').filter((l) => /^ {2}[→✓] /.test(l));
    expect(steps.filter((l) => l.startsWith('  → ')).map((l) => l.slice(4))).toEqual([
      'Resolve',
      'KeepResolved',
      'DryRun?',
      'Guard',
      'Restore',
      'Validate',
      'Notify',
      'Restored',
    ]);
    expect(stdout).toContain(`Restoring ${backupId} (latest`);
    expect(stdout).toMatch(/ {6}task: restore started/);
    expect(stdout).toMatch(/^SUCCEEDED after /m);
    expect(stdout).toMatch(
      new RegExp(
        `Audit record restores/shop/.*\\.json: restored: ${backupId} to 127\\.0\\.0\\.1:${pg.port}/shop_cli in .*; validation: 1 objects compared, all match the manifest`,
      ),
    );
    expect(await tableRows('shop_cli')).toBe(ROWS);
    expect((await audits()).find((a) => a.database === 'shop_cli')).toMatchObject({ outcome: 'restored' });
    await expectProgressToManifest(stdout, 'restore');
  });

  it('--json prints one document with the steps and the audit record, progress going to stderr', async () => {
    // Act
    const { code, stdout, stderr } = await spawnCli([
      'restore',
      'shop',
      '--backup-id',
      backupId,
      ...target('shop_json'),
      ...local(),
      '--json',
    ]).exited;

    // Assess
    expect(code).toBe(0);
    const doc = JSON.parse(stdout) as {
      status: string;
      steps: { state: string; type: string }[];
      record: { outcome: string; backupId: string };
    };
    expect(doc.status).toBe('SUCCEEDED');
    expect(doc.record).toMatchObject({ outcome: 'restored', backupId });
    expect(doc.steps.filter((s) => s.type === 'exited').map((s) => s.state)).toContain('Validate');
    expect(stderr).toContain('→ Restore');
  });

  it("refuses bad input with the schema's and Resolve's own messages, exit 2, before anything starts", async () => {
    // Prepare
    const before = (await audits()).length;

    // Act
    const port = await cli(['restore', 'shop', '--latest', '--target-host', pg.host, '--target-port', 'abc', ...local()]);
    const both = await cli(['restore', 'shop', '--latest', '--backup-id', backupId, ...target('x'), ...local()]);
    const noDatabase = await cli([
      'restore',
      'shop',
      '--latest',
      '--target-host',
      pg.host,
      '--target-secret-arn',
      targetSecretArn('scratch'),
      ...local(),
    ]);
    const missing = await cli(['restore', 'shop', '--backup-id', 'shop-20200101T000000Z-full', ...target('x'), ...local()]);

    // Assess
    expect(port.code).toBe(2);
    expect(port.err).toBe(
      'strongbox: Invalid restore input:\ntarget.port (--target-port): found "abc"; expected a TCP port number 1-65535 (a number, not a string)',
    );
    expect(both.code).toBe(2);
    expect(both.err).toContain(
      'latest (--latest): found true; expected exactly one recovery point, but "backupId" and "latest" are both set; keep one',
    );
    expect(noDatabase.code).toBe(2);
    expect(noDatabase.err).toBe(
      'strongbox: Invalid restore input:\ntarget.database (--target-database): found nothing; expected the name of an existing database to restore into (pg_restore --dbname)',
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(
      `Recovery point backupId "shop-20200101T000000Z-full" does not exist in the vault. Nearest verified recovery points of "shop": ${backupId}`,
    );
    expect((await audits()).length).toBe(before);
  });

  it('Ctrl-C asks whether to stop; answering "s" stops the execution and the task, and the run is audited as aborted', async () => {
    // Prepare
    const run = spawnCli(['restore', 'shop', '--latest', ...target('shop_stopped'), ...local()]);
    await run.waitFor('  → Restore', 'stdout');

    // Act
    run.child.kill('SIGINT');
    await run.waitFor('Stop execution', 'stderr');
    run.child.stdin.write('s\n');
    const { code, stdout } = await run.exited;

    // Assess
    expect(code).toBe(130);
    expect(stdout).toContain('stopping execution strongbox-cli-');
    expect(stdout).toMatch(/^ABORTED \(stopped with Ctrl-C\) after /m);
    expect(stdout).toMatch(/Audit record restores\/shop\/.*\.json: aborted: .*Execution aborted from the console/);
    expect(stdout).not.toContain('→ Validate');
    const stopped = (await audits()).filter((a) => a.database === 'shop_stopped');
    expect(stopped).toEqual([expect.objectContaining({ outcome: 'aborted' })]);
    expect(stopped[0].executionName).toMatch(/^strongbox-cli-\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    // The task's pg_restore ran in one transaction and was stopped with it: nothing of orders was committed.
    expect(await tableRows('shop_stopped').catch(() => -1)).toBeLessThanOrEqual(0);
  });

  it('Ctrl-C answered "c" keeps following, and the restore completes', async () => {
    // Prepare
    const run = spawnCli(['restore', 'shop', '--latest', ...target('shop_kept'), ...local()]);
    await run.waitFor('  → Restore', 'stdout');

    // Act
    run.child.kill('SIGINT');
    await run.waitFor('Stop execution', 'stderr');
    run.child.stdin.write('c\n');
    const { code, stdout } = await run.exited;

    // Assess
    expect(code).toBe(0);
    expect(stdout).toContain('following again');
    expect(await tableRows('shop_kept')).toBe(ROWS);
  });
});

describe('strongbox drill and dr-plan', () => {
  it('drill runs the drill state machine and prints drill.json with the measured RTO against the target', async () => {
    // Act
    const { code, stdout } = await spawnCli(['drill', 'shop', ...local()]).exited;

    // Assess
    expect(code).toBe(0);
    expect(stdout).toContain('  → Drill');
    expect(stdout).toMatch(
      new RegExp(`drill\\.json of ${backupId}: passed; measured RTO .* against a target of 4 h 0 min; \\d+ of \\d+ checks passed`),
    );
    await expectProgressToManifest(stdout, 'drill');
  });

  it('dr-plan restores the plan group by group and prints what was restored; an unknown plan is exit 2', async () => {
    // Act
    const { code, stdout } = await spawnCli(['dr-plan', 'region-loss', ...local()]).exited;
    const unknown = await cli(['dr-plan', 'flood', ...local()]);

    // Assess
    expect(code).toBe(0);
    expect(stdout).toContain('  → RestoreGroup');
    expect(stdout).toContain('      → Resolve');
    expect(stdout).toMatch(/DR plan region-loss .*shop/);
    expect(await tableRows('shop_dr')).toBe(ROWS);
    await expectProgressToManifest(stdout, 'restore');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toBe('strongbox: plan: found "flood"; expected one of the drPlans in the config: region-loss');
  });

  it('dr-plan --rehearse drills the plan group by group, prints each group and the plan RTO; with --overwrite it is exit 2', async () => {
    // Prepare
    const rowsBefore = await tableRows('shop_dr');

    // Act
    const { code, stdout } = await spawnCli(['dr-plan', 'region-loss', '--rehearse', ...local()]).exited;
    const refused = await cli(['dr-plan', 'region-loss', '--rehearse', '--overwrite', '--confirm', 'region-loss', ...local()]);

    // Assess
    expect(code).toBe(0);
    expect(stdout).toContain('  → RehearseDatabase');
    expect(stdout).not.toContain('  → RestoreDatabase');
    expect(stdout).toContain('Rehearsal of region-loss (no target touched):');
    expect(stdout).toMatch(
      new RegExp(`\\n {2}group 1: passed in [\\d.]+ s\\n {4}shop: passed in [\\d.]+ s, restore [\\d.]+ s of ${backupId}\\n`),
    );
    expect(stdout).toMatch(/\n {2}plan RTO: [\d.]+ s against no target \(drPlans\[\]\.rto not set\): met\n/);
    expect(await tableRows('shop_dr')).toBe(rowsBefore);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(
      'overwrite (--overwrite): found true; expected no "overwrite" or "confirm" with "rehearsal": true; a rehearsal restores into throwaway engines and touches no target',
    );
  });
});
