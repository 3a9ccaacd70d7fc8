import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, parseBackupId } from '../../../contracts/vault';
import { type EngineServer, startPostgres } from '../../../dev/servers/engines';
import { mapLimit } from '../../../util/map-limit';
import { backedUp, type E2e, e2eConfigYaml, startE2e } from '../../e2e/harness';
import { plantBackup, plantFailure, plantRestoreAudit } from '../plant';
import { cli } from '../run-cli';

/**
 * points, --at, show, stats and report against a local vault: `shop` has a real backup and a real drill made by
 * the synthesized state machines on a real PostgreSQL (plus two planted neighbours), `ledger` a planted month of
 * history written with the contract schemas, so every expected number below is worked out from the plan.
 * One file for the four read commands: they share the one expensive setup (engine, backup, drill).
 */

const HOUR = 3_600_000;
// biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON documents, checked field by field below
type JsonDoc = Record<string, any>;

let pg: EngineServer;
let e2e: E2e;
let dataDir: string;
let configFile: string;
let scratch: string;
let primary: string;
let replica: string;
let s3: S3Client;
let real: string;
let older: string;
let unverified: string;

// The planted month: two months before today (UTC), so it is complete whenever the test runs.
const today = new Date();
const monthStart = Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 2, 1);
const monthEnd = Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1);
const month = new Date(monthStart).toISOString().slice(0, 7);
const DAYS = Math.round((monthEnd - monthStart) / (24 * HOUR));
const GAP_DAY = 9; // no backup on the 10th
const FAILED_VERIFICATION = { day: 4, hour: 12 };
const NOT_REPLICATED = [1, 3, 7].map((day) => ({ day, hour: 6 }));
const DRILLS = [
  { day: 2, passed: true, restoreSeconds: 600 },
  { day: 15, passed: true, restoreSeconds: 20_000 },
  { day: 20, passed: false, restoreSeconds: 300 },
];
/** Verified backups taken in the month: four a day, less the gap day and the one that failed verification. */
const VERIFIED_IN_MONTH = 4 * DAYS - 4 - 1;

const local = () => ['--local', dataDir, '--config', configFile];

async function pgQuery(database: string, sql: string): Promise<void> {
  const c = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function bytesUnder(bucket: string, prefix: string): Promise<number> {
  let total = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    total += (page.Contents ?? []).reduce((sum, o) => sum + (o.Size ?? 0), 0);
    token = page.NextContinuationToken;
  } while (token);
  return total;
}

async function plantLedgerMonth(): Promise<void> {
  const slots: { day: number; hour: number }[] = [];
  for (let day = 0; day < DAYS; day++) {
    if (day !== GAP_DAY) {
      slots.push(...[0, 6, 12, 18].map((hour) => ({ day, hour })));
    }
  }
  const is = (a: { day: number; hour: number }, b: { day: number; hour: number }) => a.day === b.day && a.hour === b.hour;
  // The recovery point the month starts with: the evening before, six hours old at midnight.
  await plantBackup(s3, primary, {
    database: 'ledger',
    takenAt: new Date(monthStart - 6 * HOUR),
    bytes: 2000,
    uncompressedBytes: 100_000_000,
    durationSeconds: 60,
    throughputMBps: 50,
    verifiedAfterMinutes: 10,
    replicaBucket: replica,
  });
  await mapLimit(slots, 8, async (slot, index) => {
    const recent = index >= slots.length - 5;
    const drill = slot.hour === 0 ? DRILLS.find((d) => d.day === slot.day) : undefined;
    await plantBackup(s3, primary, {
      database: 'ledger',
      takenAt: new Date(monthStart + slot.day * 24 * HOUR + slot.hour * HOUR),
      bytes: 2000 + index * 20,
      uncompressedBytes: 100_000_000 + index * 100_000,
      durationSeconds: recent ? 300 : 60,
      throughputMBps: recent ? 2 : 50,
      verifiedAfterMinutes: 10,
      verified: !is(slot, FAILED_VERIFICATION),
      ...(drill && { drill: { afterHours: 2, passed: drill.passed, restoreSeconds: drill.restoreSeconds } }),
      ...(!NOT_REPLICATED.some((n) => is(n, slot)) && { replicaBucket: replica }),
    });
  });
  await plantFailure(s3, primary, 'ledger', new Date(monthStart + 11 * 24 * HOUR + 3 * HOUR));
  await plantFailure(s3, primary, 'ledger', new Date(monthStart + 12 * 24 * HOUR + 3 * HOUR));
  const someBackup = `ledger-${new Date(monthStart).toISOString().slice(0, 10).replace(/-/g, '')}T000000Z-full`;
  await plantRestoreAudit(s3, primary, 'ledger', new Date(monthStart + 14 * 24 * HOUR + 10 * HOUR), 'restored', someBackup);
  await plantRestoreAudit(s3, primary, 'ledger', new Date(monthStart + 16 * 24 * HOUR + 10 * HOUR), 'failed', someBackup);
  await plantRestoreAudit(s3, primary, 'ledger', new Date(monthEnd + 10 * HOUR), 'restored', someBackup);
}

beforeAll(async () => {
  pg = await startPostgres();
  await pgQuery('postgres', 'CREATE DATABASE shop');
  await pgQuery('postgres', 'CREATE DATABASE ledger');
  await pgQuery(
    'shop',
    'CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT i, md5(i::text) FROM generate_series(1, 2000) i',
  );
  const databases = [
    { name: 'shop', server: pg, database: 'shop' },
    { name: 'ledger', server: pg, database: 'ledger' },
  ];
  e2e = await startE2e(databases);
  dataDir = join(e2e.directory, '.strongbox');
  configFile = join(e2e.directory, 'strongbox.yaml');
  writeFileSync(configFile, e2eConfigYaml(databases));
  scratch = mkdtempSync(join(tmpdir(), 'strongbox-cli-reads-'));
  s3 = e2e.strongbox.vault.client();
  primary = e2e.strongbox.app.buckets.primary;
  replica = e2e.strongbox.app.buckets.replica;
  real = await backedUp(e2e.strongbox, 'shop');
  const drill = await e2e.strongbox.drill({ database: 'shop', trigger: 'manual' });
  if (drill.status !== 'SUCCEEDED') {
    throw new Error(`drill of shop did not succeed: ${drill.error} ${drill.cause}`);
  }
  const realAt = parseBackupId(real).takenAt.getTime();
  const shopBackup = { database: 'shop', bytes: 3000, uncompressedBytes: 9000, durationSeconds: 2, throughputMBps: 1 };
  older = await plantBackup(s3, primary, {
    ...shopBackup,
    takenAt: new Date(realAt - 24 * HOUR),
    verifiedAfterMinutes: 5,
    replicaBucket: replica,
  });
  unverified = await plantBackup(s3, primary, { ...shopBackup, takenAt: new Date(realAt + 30_000) });
  await plantLedgerMonth();
  // The CLI starts an s3rver of its own on the same data directory; the harness's keeps serving this file's checks.
}, 300_000);

afterAll(async () => {
  await e2e?.stop();
  rmSync(scratch ?? '/nonexistent', { recursive: true, force: true });
  await pg?.stop();
});

describe('strongbox points', () => {
  it('lists every backup with a manifest, verified or not, drilled or not, with its storage class and an unknown lock', async () => {
    // Act
    const run = await cli(['points', 'shop', ...local(), '--json']);
    const human = await cli(['points', 'shop', ...local()]);

    // Assess
    expect(run.code).toBe(0);
    const doc = run.json<{ points: Record<string, unknown>[]; ranges: unknown[]; rangesNote: string }>();
    expect(doc.points.map((p) => [p.backupId, p.restorable, p.status])).toEqual([
      [older, true, 'verified'],
      [real, true, 'verified'],
      [unverified, false, 'unverified'],
    ]);
    const drilled = doc.points[1].drill as { passed: boolean; restoreSeconds: number };
    expect(drilled.passed).toBe(true);
    expect(drilled.restoreSeconds).toBeGreaterThan(0);
    expect(doc.points[0].drill).toBeNull();
    expect(doc.points.map((p) => p.storageClass)).toEqual(['STANDARD', 'STANDARD', 'STANDARD']);
    expect(doc.points[1].lock).toEqual({ supported: false });
    const head = await s3.send(new HeadObjectCommand({ Bucket: primary, Key: keys.artifact(real, 'pgdump') }));
    expect(doc.points[1].bytes).toBe(head.ContentLength);
    expect(doc.ranges).toEqual([]);
    expect(doc.rangesNote).toMatch(/^none: Strongbox archives no logs yet/);
    expect(human.code).toBe(0);
    expect(human.out).toContain('2 restorable of 3 backups with a manifest');
    expect(human.out).toContain('unknown (not supported by this vault)');
  });

  it('--at names the point a pointInTime restore would use, and the newer backups Resolve passes over', async () => {
    // Prepare
    const afterUnverified = new Date(parseBackupId(unverified).takenAt.getTime() + 10_000).toISOString();
    const beforeReal = new Date(parseBackupId(real).takenAt.getTime() - HOUR).toISOString();

    // Act
    const latest = await cli(['points', 'shop', '--at', afterUnverified, ...local(), '--json']);
    const earlier = await cli(['points', 'shop', '--at', beforeReal, ...local(), '--json']);

    // Assess
    expect(latest.code).toBe(0);
    expect(latest.json()).toMatchObject({
      point: { backupId: real },
      gapSeconds: 40,
      passedOver: [{ backupId: unverified, reason: 'is not verified yet (no verification.json)' }],
    });
    expect(earlier.code).toBe(0);
    expect(earlier.json()).toMatchObject({ point: { backupId: older }, gapSeconds: 23 * 3600, passedOver: [] });
  });

  it('--at before every backup fails with exit 1 and the nearest verified points; a bad instant is exit 2 naming the flag', async () => {
    // Act
    const none = await cli([
      'points',
      'shop',
      '--at',
      new Date(parseBackupId(older).takenAt.getTime() - 24 * HOUR).toISOString(),
      ...local(),
    ]);
    const bad = await cli(['points', 'shop', '--at', 'yesterday', ...local()]);
    const unknown = await cli(['points', 'orders', ...local()]);

    // Assess
    expect(none.code).toBe(1);
    expect(none.err).toContain(`Nearest verified recovery points of "shop": ${older} (taken`);
    expect(none.err).toContain(real);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(
      'strongbox: pointInTime (--at): found "yesterday"; expected an ISO 8601 date-time with a zone, such as "2026-11-21T03:30:00Z"',
    );
    expect(unknown.code).toBe(2);
    expect(unknown.err).toBe('strongbox: database: found "orders"; expected one of the configured databases: shop, ledger');
  });
});

describe('strongbox show', () => {
  it('shows the manifest, verification, drill and the replica copy of a real backup', async () => {
    // Act
    const run = await cli(['show', real, ...local(), '--json']);
    const human = await cli(['show', real, ...local()]);

    // Assess
    expect(run.code).toBe(0);
    const doc = run.json<JsonDoc>();
    const head = await s3.send(new HeadObjectCommand({ Bucket: primary, Key: keys.artifact(real, 'pgdump') }));
    expect(doc.manifest.artifact.bytes).toBe(head.ContentLength);
    expect(doc.manifest.inventory.entries).toContainEqual({ name: 'public.orders', kind: 'table', count: 2000 });
    expect(doc.verification.verified).toBe(true);
    expect(doc.drill.passed).toBe(true);
    expect(doc.replica).toMatchObject({ bucket: replica, present: true, bytes: head.ContentLength, sizeMatches: true });
    expect(doc.lock).toEqual({ supported: false });
    expect(human.out).toMatch(/public\.orders\s+table\s+2000/);
    expect(human.out).toContain(`present in ${replica}`);
  });

  it('reports a backup that is not in the vault with exit 1, and a malformed backupId with exit 2', async () => {
    // Act
    const missing = await cli(['show', 'shop-20200101T000000Z-full', ...local()]);
    const malformed = await cli(['show', 'shop-yesterday', ...local()]);

    // Assess
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('backupId "shop-20200101T000000Z-full" does not exist in local vault');
    expect(missing.err).toContain(older);
    expect(malformed.code).toBe(2);
    expect(malformed.err).toBe('strongbox: backupId: found "shop-yesterday"; expected a backupId "<database>-<yyyymmddThhmmssZ>-<kind>"');
  });
});

describe('strongbox stats', () => {
  it('computes counts, bytes, success rate, run spread and the trend flags of a planted month', async () => {
    // Act
    const run = await cli(['stats', 'ledger', ...local(), '--json'], { now: new Date(monthEnd) });

    // Assess
    expect(run.code).toBe(0);
    const s = run.json<{ databases: JsonDoc[] }>().databases[0];
    expect(s.backups).toEqual({
      folders: 4 * DAYS - 1,
      verified: VERIFIED_IN_MONTH + 1,
      failedVerification: 1,
      unverified: 0,
      incomplete: 2,
    });
    expect(s.slots).toMatchObject({ daily: 7, weekly: 4, monthly: 2, newest: 1 });
    expect(s.storageClasses).toEqual({ STANDARD: 4 * DAYS - 3 });
    expect(s.bytes).toEqual({
      primary: await bytesUnder(primary, 'backups/ledger/'),
      replica: await bytesUnder(replica, 'backups/ledger/'),
    });
    expect(s.success).toEqual({
      runs: 4 * DAYS - 1,
      succeeded: 4 * DAYS - 3,
      failed: 2,
      rate: Math.round(((4 * DAYS - 3) / (4 * DAYS - 1)) * 1e4) / 1e4,
    });
    expect(s.runs).toEqual({ count: 50, durationSeconds: { mean: 84, p95: 300 }, throughputMBps: { mean: 45.2, p95: 50 } });
    const last = 4 * DAYS - 4 - 1; // index of the newest planted slot
    expect(s.compression.latest).toBe(Math.round(((100_000_000 + last * 100_000) / (2000 + last * 20)) * 100) / 100);
    expect(s.drill.last).toMatchObject({ passed: false, restoreSeconds: 300 });
    expect(s.drill.withinRto).toBe(false);
    expect(s.oldestRestorable.takenAt).toBe(new Date(monthStart - 6 * HOUR).toISOString());
    expect(s.flags.map((f: { kind: string }) => f.kind)).toEqual(['slower', 'throughput', 'storage', 'storage']);
    expect(s.flags[0].message).toContain('the last 5 took 300 s on average against 60 s');
  });

  it('covers every configured database and the fleet in one table', async () => {
    // Act
    const run = await cli(['stats', ...local(), '--json']);
    const human = await cli(['stats', ...local()]);

    // Assess
    expect(run.code).toBe(0);
    const doc = run.json<{ databases: { database: string; backups: { verified: number } }[]; fleet: JsonDoc }>();
    expect(doc.databases.map((d) => d.database)).toEqual(['ledger', 'shop']);
    expect(doc.fleet.databases).toBe(2);
    expect(doc.fleet.verified).toBe(VERIFIED_IN_MONTH + 1 + 2);
    expect(doc.fleet.bytes.primary).toBe((await bytesUnder(primary, 'backups/ledger/')) + (await bytesUnder(primary, 'backups/shop/')));
    expect(human.out).toContain('fleet: 2 databases');
    expect(human.out).toContain('! backups are slower than before');
  });
});

describe('strongbox report', () => {
  it('computes the share of the month within the RPO, drills, replica coverage and restores from the planted history', async () => {
    // Prepare
    const out = join(scratch, 'report.html');

    // Act
    const run = await cli(['report', '--month', month, '--out', out, ...local(), '--json'], { now: new Date(monthEnd + 24 * HOUR) });

    // Assess
    expect(run.code).toBe(0);
    const doc = run.json<{ databases: JsonDoc[]; partial: boolean }>();
    expect(doc.partial).toBe(false);
    const ledger = doc.databases.find((d) => d.database === 'ledger')!;
    // Each verified backup is within the 1 h RPO from its verification (10 min after it was taken) to 60 min.
    expect(ledger.rpo.share).toBeCloseTo((VERIFIED_IN_MONTH * 50 * 60) / (DAYS * 86_400), 6);
    expect(ledger.rpo.withinSeconds).toBe(VERIFIED_IN_MONTH * 50 * 60);
    expect(ledger.rpo.worstAgeSeconds).toBe(30 * 3600 + 10 * 60); // the gap day: 18:00 the day before to 00:10 after
    expect(ledger.backups).toEqual({ taken: 4 * DAYS - 4 + 2, withManifest: 4 * DAYS - 4, verified: VERIFIED_IN_MONTH, failedDumps: 2 });
    expect(ledger.drills.map((d: { passed: boolean; withinRto: boolean }) => [d.passed, d.withinRto])).toEqual([
      [true, true],
      [true, false],
      [false, false],
    ]);
    expect(ledger.replica).toMatchObject({ verified: VERIFIED_IN_MONTH, copied: VERIFIED_IN_MONTH - 3 });
    expect(ledger.restores.map((r: { outcome: string }) => r.outcome)).toEqual(['restored', 'failed']);
    expect(ledger.immutability).toEqual({ supported: false });
    const shop = doc.databases.find((d) => d.database === 'shop')!;
    expect(shop.rpo.share).toBe(0);
    expect(shop.backups.taken).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  it('opens in headless Chromium without console errors, with one rendered path per database in each chart', async () => {
    // Prepare
    const out = join(scratch, 'chromium.html');
    const run = await cli(['report', '--month', month, '--out', out, ...local()], { now: new Date(monthEnd + 24 * HOUR) });
    expect(run.code).toBe(0);
    const profile = mkdtempSync(join(tmpdir(), 'strongbox-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/lib/chromium/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const problems: string[] = [];
    try {
      const page = await browser.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warning') {
          problems.push(message.text());
        }
      });
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));

      // Act
      await page.goto(`file://${out}`);
      // A string, evaluated in the page: this project's TypeScript has no DOM types.
      const charts = (await page.evaluate(`['rpo-chart', 'size-chart', 'rto-chart'].map((id) =>
        [...document.querySelectorAll('#' + id + ' path.series')].map((p) => ({
          database: p.dataset.database,
          length: p.getTotalLength(),
          width: p.getBBox().width,
        })))`)) as { database: string; length: number; width: number }[][];
      const screenshot = await page.locator('#rpo-chart').screenshot({ path: join(scratch, 'rpo-chart.png') });
      const title = await page.title();

      // Assess
      expect(problems).toEqual([]);
      expect(title).toBe(`Strongbox evidence report ${month}: strongbox`);
      for (const chart of charts) {
        expect(chart.map((c) => c.database)).toEqual(['ledger', 'shop']);
      }
      const [rpo, size, rto] = charts;
      expect(rpo[0].length).toBeGreaterThan(1000);
      expect(rpo[0].width).toBeGreaterThan(700);
      expect(size[0].width).toBeGreaterThan(700);
      expect(rto[0].width).toBeGreaterThan(300);
      expect(screenshot.length).toBeGreaterThan(5000);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
