import '../executor/polyfill';
import { relative, resolve } from 'node:path';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { Client as PgClient } from 'pg';
import { readableError } from '../../contracts/errors';
import { METRIC, METRICS_NAMESPACE } from '../../contracts/metrics';
import { DrReportSchema } from '../../contracts/payloads/dr-plan';
import {
  type DrillRecord,
  DrillRecordSchema,
  describeMismatch,
  keys,
  type Manifest,
  ManifestSchema,
  type Verification,
  VerificationSchema,
} from '../../contracts/vault';
import { getJson } from '../../contracts/vault-io';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../dev/servers/embedded-postgres';
import { ConfigError } from '../../infra/config/load';
import { runWatchdog } from '../../lambdas/watchdog/watchdog';
import type { TaskOutputLine } from '../bindings';
import type { StateTransition } from '../executor/runtime';
import { DEMO_CONFIG_FILE, type LocalConfig, loadLocalConfig } from '../local-config';
import { type LocalStrongbox, startLocalStrongbox } from '../local-strongbox';
import type { SynthesizedApp } from '../synth';
import { seedSampleDatabase } from './seed';

/**
 * `npm run demo`: the deployed state machines, run on this machine against a real PostgreSQL and an
 * S3-compatible vault: a backup, then a drill (the whole backup restored into a throwaway engine and compared
 * with the manifest), then a console-style restore of one table through the restore state machine. It ends by
 * rehearsing the config's first DR plan: every database drilled into a throwaway engine, group by group, no
 * target touched, and the plan RTO measured against drPlans[].rto.
 *
 *   npm run demo                          embedded PostgreSQL 15 with a ~200 MB sample database
 *   npm run demo -- --config <file>       your own local databases (a strongbox config plus `local:`, see
 *                                         local/local-config.ts and local/demo/demo.config.yaml)
 *   npm run demo -- --scale 0.1           a smaller sample database (embedded mode only)
 */

interface DemoArgs {
  readonly config?: string;
  readonly scale: number;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): DemoArgs {
  let config: string | undefined;
  let scale = 1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--config') {
      config = argv[++i];
      if (!config) {
        throw new UsageError('--config needs a file: npm run demo -- --config strongbox.local.yaml');
      }
    } else if (arg === '--scale') {
      scale = Number(argv[++i]);
      if (!(scale > 0 && scale <= 10)) {
        throw new UsageError(`--scale: found ${JSON.stringify(argv[i])}; expected a number above 0 and at most 10 (1 is about 200 MB)`);
      }
    } else if (arg === '--help' || arg === '-h') {
      throw new UsageError('usage: npm run demo [-- --config <local config file>] [-- --scale <0.01..10>]');
    } else {
      throw new UsageError(`unknown argument ${JSON.stringify(arg)}; expected --config <file> or --scale <n>`);
    }
  }
  return { config, scale };
}

const tty = process.stdout.isTTY === true;
const say = (line = '') => process.stdout.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
const mb = (bytes: number) => (bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`);
/** Relative to the working directory when inside it, absolute otherwise. */
const where = (path: string) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** One progress line while the task dumps: rewritten in place on a terminal, every update otherwise. */
function taskProgress(line: TaskOutputLine): void {
  const json = line.json;
  if (json && typeof json.message === 'string' && json.message.endsWith('progress') && typeof json.bytes === 'number') {
    const text = `      ${json.message.replace(/ progress$/, '')}: ${mb(json.bytes)} at ${Number(json.mbPerSecond ?? 0).toFixed(1)} MB/s (${Number(json.elapsedSeconds ?? 0).toFixed(0)} s)`;
    if (tty) {
      process.stdout.write(`\r\x1b[K${text}`);
    } else {
      say(text);
    }
    return;
  }
  if (json && (json.level === 'error' || json.level === 'warn')) {
    say(`      task ${json.level}: ${String(json.message)}${json.error ? ` (${String(json.error)})` : ''}`);
  } else if (line.stream === 'stderr' && line.line.trim() !== '') {
    say(`      task: ${line.line}`);
  }
}

/**
 * One line per transition, as a person reads it: a failed state shows its error type and message, never
 * Lambda's error JSON with its stack frames, nor ECS's task description (the frames stay in the logs).
 */
export function describeTransition(t: StateTransition, enteredAt?: number): string | undefined {
  if (t.type === 'entered') {
    return `  → ${t.state}`;
  }
  if (t.type === 'exited') {
    return `  ✓ ${t.state} (${secs(t.at - (enteredAt ?? t.at))})`;
  }
  if (t.type === 'failed') {
    const { error, cause } = readableError({ Error: t.error, Cause: typeof t.cause === 'string' ? t.cause : undefined });
    const first = cause.split('\n').filter((line) => line.trim() !== '' && !/^Invalid .*:$/.test(line))[0] ?? cause;
    return `  ✗ ${t.state}: ${error}: ${first.slice(0, 300)}`;
  }
  if (t.type === 'retried') {
    return `  ↻ ${t.state} retried`;
  }
  return undefined;
}

function transitionPrinter(): (t: StateTransition) => void {
  const enteredAt = new Map<string, number>();
  return (t) => {
    if (t.type === 'entered') {
      enteredAt.set(t.state, t.at);
    }
    const line = describeTransition(t, enteredAt.get(t.state));
    if (line !== undefined) {
      say(line);
    }
  };
}

interface DatabaseOutcome {
  readonly database: string;
  readonly status: string;
  readonly backupId?: string;
  readonly manifest?: Manifest;
  readonly verification?: Verification;
  readonly replicated: boolean;
  /** drill.json of the drill state machine's run, when it left one. */
  readonly drill?: DrillRecord;
  readonly drillNote?: string;
  /** The console-style restore of one table through the restore state machine. */
  readonly tableRestore?: { readonly table: string; readonly target: string; readonly seconds: number; readonly validated: number };
  readonly tableRestoreNote?: string;
  readonly seconds: number;
}

/** A fresh, empty database to restore into, on the same server (never the source). */
async function prepareRestoreTarget(local: LocalConfig, database: string): Promise<{ name?: string; note?: string }> {
  const db = local.config.databases.find((d) => d.name === database)!;
  const credentials = local.credentials[database];
  const source = db.connection.database ?? database;
  const target = `${source}_strongbox_restore`.slice(0, 63);
  if (db.engine === 'postgres') {
    const client = new PgClient({
      host: db.connection.host,
      port: db.connection.port ?? 5432,
      user: credentials?.username,
      password: credentials?.password,
      database: 'postgres',
    });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS "${target}" WITH (FORCE)`);
      await client.query(`CREATE DATABASE "${target}"`);
    } finally {
      await client.end();
    }
    return { name: target };
  }
  return { note: `skipped: the demo restores PostgreSQL tables only (a ${db.engine} restore would write into your server)` };
}

/** The table an on-call engineer would most likely want back: sales.orders in the sample, else the largest. */
function tableToRestore(manifest: Manifest): string | undefined {
  const tables = manifest.inventory.entries.filter((e) => e.kind === 'table');
  return tables.find((e) => e.name === 'sales.orders')?.name ?? [...tables].sort((a, b) => (b.count ?? 0) - (a.count ?? 0))[0]?.name;
}

async function drill(strongbox: LocalStrongbox, database: string, backupId: string): Promise<Pick<DatabaseOutcome, 'drill' | 'drillNote'>> {
  say(`\nDrill of "${database}": the ${strongbox.stateMachine('drill').name} state machine restores it into a throwaway engine`);
  const execution = await strongbox.drill(
    { database, trigger: 'demo' },
    { name: `demo-drill-${database}-${Date.now()}`, onTransition: transitionPrinter() },
  );
  const record = (await getJson(strongbox.vault.client(), strongbox.app.buckets.primary, keys.drill(backupId), DrillRecordSchema))?.value;
  if (execution.status !== 'SUCCEEDED' || !record?.passed) {
    say(`  ✗ drill ${execution.status}: ${execution.error ?? ''} ${execution.cause ?? ''}`);
    return { drill: record, drillNote: `drill ${execution.status}` };
  }
  say(
    `  ✓ drill passed: restored in ${record.restoreSeconds.toFixed(1)} s, inventory matches the manifest, ${record.checks.length} checks passed`,
  );
  return { drill: record };
}

async function restoreOneTable(
  strongbox: LocalStrongbox,
  local: LocalConfig,
  database: string,
  manifest: Manifest,
): Promise<Pick<DatabaseOutcome, 'tableRestore' | 'tableRestoreNote'>> {
  const table = tableToRestore(manifest);
  const target = await prepareRestoreTarget(local, database);
  if (!target.name || !table) {
    return { tableRestoreNote: target.note ?? 'skipped: the backup holds no table' };
  }
  const db = local.config.databases.find((d) => d.name === database)!;
  // What the on-call engineer's target secret would hold; the local Secrets Manager serves it to Guard, the task and Validate.
  const secretArn = `arn:aws:secretsmanager:${strongbox.app.region}:000000000000:secret:strongbox-local/${database}-restore-target-000000`;
  const credentials = local.credentials[database] ?? {};
  strongbox.secrets.put(secretArn, JSON.stringify({ username: credentials.username, password: credentials.password }));
  const input = {
    database,
    latest: true,
    target: { host: db.connection.host, port: db.connection.port ?? 5432, database: target.name, secretArn },
    include: [table],
    requestedBy: 'npm run demo',
  };
  say(
    `\nConsole restore of one table, ${table}, into the new database "${target.name}": the ${strongbox.stateMachine('restore').name} state machine`,
  );
  say(`  input: ${JSON.stringify(input)}`);
  const started = Date.now();
  const execution = await strongbox.restore(input, { name: `demo-restore-${database}-${Date.now()}`, onTransition: transitionPrinter() });
  const seconds = (Date.now() - started) / 1000;
  if (execution.status !== 'SUCCEEDED') {
    say(`  ✗ restore ${execution.status}: ${execution.error ?? ''} ${execution.cause ?? ''}`);
    return { tableRestoreNote: `restore ${execution.status}` };
  }
  const validated = (execution.output as { validate?: { compared?: number } }).validate?.compared ?? 0;
  const rows = manifest.inventory.entries.find((e) => e.name === table)?.count ?? 0;
  say(`  ✓ ${table} restored in ${seconds.toFixed(1)} s: ${rows.toLocaleString('en')} rows, the same count as in the backup's snapshot`);
  return { tableRestore: { table, target: target.name, seconds, validated } };
}

async function backupDrillRestore(strongbox: LocalStrongbox, local: LocalConfig, database: string): Promise<DatabaseOutcome> {
  const started = Date.now();
  say(`\nBackup of "${database}": the synthesized ${strongbox.stateMachine('backup').name} state machine`);
  const execution = await strongbox.backup(
    { database, kind: 'full', trigger: 'demo' },
    { name: `demo-${database}-${Date.now()}`, onTransition: transitionPrinter() },
  );
  if (execution.status !== 'SUCCEEDED') {
    say(`  ✗ execution ${execution.status}: ${execution.error}: ${execution.cause}`);
    return { database, status: execution.status, replicated: false, seconds: (Date.now() - started) / 1000 };
  }
  const output = execution.output as { prepare?: { status?: string; backupId?: string } };
  const backupId = output.prepare?.backupId;
  if (output.prepare?.status !== 'ready' || !backupId) {
    return { database, status: `skipped (${JSON.stringify(output.prepare)})`, replicated: false, seconds: (Date.now() - started) / 1000 };
  }
  const s3 = strongbox.vault.client();
  const manifest = (await getJson(s3, strongbox.app.buckets.primary, keys.manifest(backupId), ManifestSchema))?.value;
  const verification = (await getJson(s3, strongbox.app.buckets.primary, keys.verification(backupId), VerificationSchema))?.value;
  let replicated = false;
  if (manifest) {
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: strongbox.app.buckets.replica, Key: manifest.artifact.key }));
      replicated = head.ContentLength === manifest.artifact.bytes;
    } catch {
      replicated = false;
    }
  }
  const base = { database, status: 'SUCCEEDED', backupId, manifest, verification, replicated };
  if (!manifest) {
    return { ...base, seconds: (Date.now() - started) / 1000 };
  }
  const drilled = await drill(strongbox, database, backupId);
  const restored = await restoreOneTable(strongbox, local, database, manifest);
  return { ...base, ...drilled, ...restored, seconds: (Date.now() - started) / 1000 };
}

/** A small database beside the sample one: one table, so the rehearsal's second group has something to restore. */
async function seedSmallDatabase(postgres: EmbeddedPostgres, database: string): Promise<void> {
  await postgres.dropDatabase(database);
  await postgres.createDatabase(database);
  const client = postgres.client(database);
  await client.connect();
  try {
    await client.query(
      "CREATE TABLE entries (id int PRIMARY KEY, memo text NOT NULL); INSERT INTO entries SELECT i, 'entry ' || i FROM generate_series(1, 1000) i",
    );
  } finally {
    await client.end();
  }
}

/**
 * The end of the demo: a rehearsal of a DR plan through the DR plan state machine. The plan's databases that the
 * walk-through did not back up get a backup first (a rehearsal drills the newest verified backup of each).
 */
async function rehearse(strongbox: LocalStrongbox, plan: string, backedUp: readonly string[]): Promise<boolean> {
  const groups = strongbox.plan.drPlans?.[plan]?.groups ?? [];
  for (const database of groups.flat().filter((d) => !backedUp.includes(d))) {
    say(`\nBackup of "${database}" for the rehearsal`);
    const execution = await strongbox.backup({ database, kind: 'full', trigger: 'demo' }, { name: `demo-${database}-${Date.now()}` });
    say(`  ${execution.status === 'SUCCEEDED' ? '✓' : '✗'} backup ${execution.status}`);
  }
  say(
    `\nRehearsal of DR plan "${plan}" (${groups.map((g, i) => `group ${i + 1}: ${g.join(', ')}`).join('; ')}): the ${strongbox.stateMachine('dr-plan').name} state machine drills each database into a throwaway engine, group by group; no target is touched`,
  );
  const execution = await strongbox
    .stateMachine('dr-plan')
    .execute(
      { plan, rehearsal: true, requestedBy: 'npm run demo' },
      { name: `demo-rehearsal-${Date.now()}`, onTransition: transitionPrinter() },
    );
  const reported = [...execution.transitions].reverse().find((t) => t.state === 'Report' && t.type === 'exited');
  const parsed = DrReportSchema.safeParse((reported?.output as { report?: unknown } | undefined)?.report);
  if (!parsed.success || !parsed.data.groups || !parsed.data.rto) {
    say(`  ✗ rehearsal ${execution.status}: ${execution.error ?? ''} ${execution.cause ?? ''}`);
    return false;
  }
  const report = parsed.data;
  const rto = report.rto!;
  for (const group of report.groups!) {
    const databases = group.databases
      .map(
        (d) =>
          `${d.database} ${d.status}${d.seconds !== undefined ? ` in ${d.seconds} s` : ''}${d.restoreSeconds !== undefined ? ` (restore ${d.restoreSeconds.toFixed(1)} s)` : ''}`,
      )
      .join(', ');
    say(`  group ${group.group}: ${group.status}${group.seconds !== undefined ? ` in ${group.seconds} s` : ''}: ${databases}`);
  }
  const target = rto.targetSeconds !== undefined ? `the plan RTO of ${rto.targetSeconds} s (drPlans[].rto)` : 'no plan RTO';
  say(`  ${rto.met ? '✓' : '✗'} plan RTO ${rto.measuredSeconds} s against ${target}: ${rto.met ? 'met' : 'NOT met'}`);
  return report.status === 'succeeded' && rto.met;
}

function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

/**
 * The values the Notify Lambda and the watchdog emit for this run. The backup figures come from the manifest the
 * Notify Lambda reads; RecoveryPointAgeSeconds comes from running the real watchdog logic against the local vault
 * with a recorder in place of the EMF writer, so the demo shows exactly what the RPO alarm would see.
 */
async function metricValues(strongbox: LocalStrongbox, outcomes: readonly DatabaseOutcome[]): Promise<string> {
  const recorded: [string, string, number][] = [];
  let current = '';
  const recorder = {
    singleMetric: () => ({
      clearDefaultDimensions: () => undefined,
      addDimension: (name: string, value: string) => {
        if (name === 'Database') current = value;
      },
      addMetric: (name: string, _unit: string, value: number) => recorded.push([current, name, value]),
    }),
  } as unknown as Metrics;
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const points = await runWatchdog({
    s3: strongbox.vault.client(),
    bucket: strongbox.app.buckets.primary,
    plan: strongbox.plan,
    metrics: recorder,
    logger: quiet,
  });
  const rows: [string, string][] = [];
  for (const o of outcomes) {
    const m = o.manifest;
    const ok = o.status === 'SUCCEEDED' && m !== undefined;
    rows.push([`${o.database} ${ok ? METRIC.backupSucceeded : METRIC.backupFailed}`, '1']);
    if (o.drill) {
      rows.push(
        [`${o.database} ${METRIC.drillPassed}`, o.drill.passed ? '1' : '0'],
        [`${o.database} ${METRIC.measuredRtoSeconds}`, o.drill.restoreSeconds.toFixed(1)],
      );
    }
    if (m) {
      rows.push(
        [`${o.database} ${METRIC.backupBytes}`, String(m.artifact.bytes)],
        [`${o.database} ${METRIC.backupDurationSeconds}`, m.durationSeconds.toFixed(1)],
        [`${o.database} ${METRIC.backupThroughputMBps}`, m.throughputMBps.toFixed(1)],
        [`${o.database} ${METRIC.compressionRatio}`, (m.artifact.uncompressedBytes / Math.max(1, m.artifact.bytes)).toFixed(2)],
      );
    }
  }
  for (const [database, name, value] of recorded) {
    const point = points.find((p) => p.database === database);
    const note =
      name === METRIC.recoveryPointAgeSeconds && point ? ` (RPO ${point.rpoSeconds} s: ${point.withinRpo ? 'within' : 'BREACHED'})` : '';
    rows.push([`${database} ${name}`, `${value}${note}`]);
  }
  return table(rows);
}

function summary(strongbox: LocalStrongbox, outcomes: readonly DatabaseOutcome[], totalMs: number): string {
  const parts: string[] = [];
  for (const o of outcomes) {
    const m = o.manifest;
    const rows: [string, string][] = [
      ['database', o.database],
      ['execution', o.status],
      ['backupId', o.backupId ?? '-'],
    ];
    if (m) {
      rows.push(
        ['bytes', `${mb(m.artifact.bytes)} stored (${mb(m.artifact.uncompressedBytes)} dumped)`],
        [
          'compression ratio',
          `${(m.artifact.uncompressedBytes / Math.max(1, m.artifact.bytes)).toFixed(2)} : 1 (zstd -${m.artifact.compression.level})`,
        ],
        ['throughput', `${m.throughputMBps.toFixed(1)} MB/s over ${m.durationSeconds.toFixed(1)} s (${m.tool.name} ${m.tool.version})`],
      );
    }
    rows.push(
      [
        'verified',
        o.verification
          ? `${o.verification.verified ? 'yes' : 'NO'} (${o.verification.method}, sha256 ${o.verification.sha256.slice(0, 12)}…)`
          : 'no record',
      ],
      ['replicated', o.replicated ? `yes, s3://${strongbox.app.buckets.replica}` : 'no'],
      [
        'drill',
        o.drill
          ? o.drill.passed
            ? `passed: restored into a throwaway engine in ${o.drill.restoreSeconds.toFixed(1)} s, ${o.drill.checks.length} checks (drill.json beside the backup)`
            : `FAILED: ${o.drill.mismatches.map(describeMismatch).join('; ') || 'see drill.json'}`
          : (o.drillNote ?? '-'),
      ],
      [
        'table restore',
        o.tableRestore
          ? `${o.tableRestore.table} -> ${o.tableRestore.target} in ${o.tableRestore.seconds.toFixed(1)} s, validated against the manifest (audit record under restores/)`
          : (o.tableRestoreNote ?? '-'),
      ],
    );
    if (m) {
      rows.push(['artifact', `s3://${strongbox.app.buckets.primary}/${m.artifact.key}`]);
    }
    parts.push(table(rows));
  }
  const messages = strongbox.outbox.read();
  const outbox = messages.map(
    (msg) => `    ${msg.at.slice(11, 19)}  ${msg.topicArn.replace(/^.*:/, '')}  ${msg.subject ?? msg.message.slice(0, 80)}`,
  );
  parts.push(
    table([
      ['outbox messages', String(messages.length)],
      [
        'vault files',
        `${where(strongbox.vault.directory)}/ (s3rver; buckets ${strongbox.app.buckets.primary}, ${strongbox.app.buckets.replica})`,
      ],
      ['outbox', where(strongbox.outbox.file)],
      ['total time', secs(totalMs)],
    ]),
  );
  if (outbox.length > 0) {
    parts.push(outbox.join('\n'));
  }
  return parts.join('\n\n');
}

function succeeded(o: DatabaseOutcome): boolean {
  const tableRestored = o.tableRestore !== undefined || (o.tableRestoreNote?.startsWith('skipped') ?? false);
  return o.status === 'SUCCEEDED' && o.verification?.verified === true && o.replicated && o.drill?.passed === true && tableRestored;
}

export interface DemoOverrides {
  /**
   * Stands in for `synthesize(config)`, e.g. to run an app variant.
   * @default synthesize(local.config)
   */
  readonly synthesize?: (local: LocalConfig) => SynthesizedApp;
  /**
   * Where the vault, the outbox and the embedded PostgreSQL keep their files, e.g. a temp directory so that a
   * test does not share them with a developer's own demo run. As root it must be traversable by the `postgres`
   * user (see embedded-postgres.ts).
   * @default the config's `local.dataDir` (.strongbox for the demo's own config)
   */
  readonly dataDir?: string;
  /**
   * The embedded PostgreSQL's port (embedded mode only), e.g. a free one so that runs do not collide; the
   * backup, drill and restore connect to it.
   * @default the port in demo.config.yaml (54329)
   */
  readonly port?: number;
}

/** The loaded config with the overridden data directory and, in embedded mode, the embedded server's port. */
function withOverrides(local: LocalConfig, overrides: DemoOverrides, embedded: boolean): LocalConfig {
  const port = embedded ? overrides.port : undefined;
  return {
    ...local,
    dataDir: overrides.dataDir === undefined ? local.dataDir : resolve(overrides.dataDir),
    config:
      port === undefined
        ? local.config
        : {
            ...local.config,
            // Every database of the demo's own config lives on the embedded server.
            databases: local.config.databases.map((db) => ({ ...db, connection: { ...db.connection, port } })),
          },
  };
}

export async function main(argv: readonly string[], overrides: DemoOverrides = {}): Promise<number> {
  const startedAt = Date.now();
  const args = parseArgs(argv);
  const embedded = args.config === undefined;
  const local = withOverrides(loadLocalConfig(args.config ?? DEMO_CONFIG_FILE), overrides, embedded);
  say(
    `Strongbox demo: the deployed state machines, run locally (${embedded ? 'embedded PostgreSQL' : relative(process.cwd(), local.file)})`,
  );

  let postgres: EmbeddedPostgres | undefined;
  let strongbox: LocalStrongbox | undefined;
  try {
    if (embedded) {
      const db = local.config.databases[0];
      const credentials = local.credentials[db.name];
      let t = Date.now();
      postgres = await startEmbeddedPostgres({
        directory: `${local.dataDir}/postgres`,
        port: db.connection.port,
        username: credentials.username,
        password: credentials.password,
      });
      say(
        `  ✓ PostgreSQL 15 (embedded-postgres) on 127.0.0.1:${postgres.port}, data in ${where(postgres.directory)} (${secs(Date.now() - t)})`,
      );
      t = Date.now();
      await postgres.dropDatabase(db.connection.database!);
      await postgres.createDatabase(db.connection.database!);
      const pg = postgres;
      const seeded = await seedSampleDatabase(() => pg.client(db.connection.database), { scale: args.scale });
      say(
        `  ✓ seeded "${db.connection.database}": ${mb(seeded.databaseBytes)}, ${seeded.tables} tables in 4 schemas, ${seeded.rows.toLocaleString('en')} rows (${secs(Date.now() - t)})`,
      );
      for (const other of local.config.databases.slice(1)) {
        await seedSmallDatabase(pg, other.connection.database ?? other.name);
      }
    }
    let t = Date.now();
    strongbox = await startLocalStrongbox({ local, app: overrides.synthesize?.(local), onTaskOutput: taskProgress });
    say(
      `  ✓ synthesized ${strongbox.app.stackName}: ${strongbox.app.stateMachines.map((m) => m.name).join(', ')}; vault ${strongbox.vault.endpoint} (${secs(Date.now() - t)})`,
    );
    strongbox.outbox.clear();
    strongbox.outbox.onMessage((m) => say(`  ✉ outbox: ${m.subject ?? m.message.slice(0, 100)}`));
    const outcomes: DatabaseOutcome[] = [];
    // The demo's own config walks its sample database; the small second one is there only for the rehearsal.
    const walked = embedded ? local.config.databases.slice(0, 1) : local.config.databases;
    for (const db of walked) {
      t = Date.now();
      outcomes.push(await backupDrillRestore(strongbox, local, db.name));
    }
    say(`\nSummary\n${summary(strongbox, outcomes, Date.now() - startedAt)}`);
    say(
      `\nMetrics it would emit to CloudWatch (namespace ${METRICS_NAMESPACE}, dimensions Database, Engine)\n${await metricValues(strongbox, outcomes)}`,
    );
    const plan = local.config.drPlans[0];
    const rehearsed = plan
      ? await rehearse(
          strongbox,
          plan.name,
          outcomes.map((o) => o.database),
        )
      : true;
    say(`\nTotal time ${secs(Date.now() - startedAt)}`);
    return outcomes.every(succeeded) && rehearsed ? 0 : 1;
  } finally {
    await strongbox?.stop();
    await postgres?.stop();
  }
}

if (require.main === module) {
  // Powertools warns on every invocation that publishes no custom metric; on a terminal that is only noise.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).startsWith('No application metrics to publish')) {
      warn(...args);
    }
  };
  main(process.argv.slice(2)).then(
    (code) => process.stdout.write('', () => process.exit(code)),
    (error: Error) => {
      if (error instanceof ConfigError || error instanceof UsageError) {
        process.stderr.write(`strongbox demo: ${error.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`strongbox demo: ${error.name}: ${error.message}\n`);
      process.exit(1);
    },
  );
}
