import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetConfigYaml } from '../../../bench/fleet-config';
import { keys } from '../../../contracts/vault';
import { putJson } from '../../../contracts/vault-io';
import { type LocalS3, startS3rver } from '../../../dev/servers/s3rver';
import { loadConfig } from '../../../infra/config/load';
import { runEstimate } from '../../../infra/estimate/cli';
import { CUSTOMER_MANAGED_KEYS, estimateFleet, type FleetEstimate, loadUnitPrices } from '../../../infra/estimate/estimate';

const BUCKET = 'strongbox-vault-estimate';

async function run(args: string[], s3?: LocalS3) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runEstimate(args, { out: (l) => out.push(l), err: (l) => err.push(l), s3: s3?.client() });
  return { code, out, err };
}

describe('npm run estimate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strongbox-estimate-'));
  const fleetFile = join(dir, 'fleet.yaml');
  let s3: LocalS3;

  beforeAll(async () => {
    writeFileSync(fleetFile, fleetConfigYaml(500));
    s3 = await startS3rver([BUCKET]);
  });
  afterAll(async () => {
    await s3?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads one dated price file whose every price names its AWS pricing page', () => {
    // Act
    const prices = loadUnitPrices();

    // Assess
    expect(prices.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(prices.region).toBe('eu-west-1');
    for (const [name, price] of Object.entries(prices.prices)) {
      expect(price.source, name).toMatch(/^https:\/\/aws\.amazon\.com\/[a-z0-9-]+\/pricing\/ \(.+\)$/);
    }
  });

  it('prints a table per database and for the fleet, with AWS Backup beside the engines it supports', async () => {
    // Act
    const { code, out } = await run(['--config', 'strongbox.config.yaml']);

    // Assess
    expect(code).toBe(0);
    expect(out[0]).toContain('list prices of eu-west-1 on');
    const row = (name: string) => out.find((l) => l.startsWith(`${name} `)) ?? '';
    // DatabaseBreach and DrillOverdue, each a metric analyzed by a Metrics Insights tier alarm.
    expect(row('orders')).toMatch(/postgres\s+critical\s+10\*\s+2918\s+-\s+0\.200\s/);
    expect(row('sessions').trim().endsWith('n/a')).toBe(true);
    expect(out.some((l) => l.startsWith('fleet: 4 databases,'))).toBe(true);
    expect(out.some((l) => l.startsWith('  defaultSizeGiB = 10'))).toBe(true);
  });

  it('gives machines the same figures as JSON, adding up to the fleet total', async () => {
    // Act
    const { code, out } = await run(['--config', fleetFile, '--json']);
    const estimate = JSON.parse(out.join('\n')) as FleetEstimate;

    // Assess
    expect(code).toBe(0);
    expect(estimate.databases).toHaveLength(500);
    const sum = estimate.databases.reduce((s, d) => s + d.usd.total, 0) + estimate.fixedUsd + estimate.rehearsalUsd;
    expect(estimate.totalUsd).toBeCloseTo(sum, 6);
    // Two metrics analyzed by the tier alarms per database (every fleet database drills), plus the watchdog alarm shared out.
    expect(estimate.alarmUsdPerDatabase).toBeCloseTo(2 * 0.1 + 0.1 / 500, 6);
    expect(estimate.alarmUsdPerDatabase).toBeLessThan(0.25);
    expect(estimate.databases.every((d) => d.sizeFrom === 'config')).toBe(true);
    expect(estimate.databases[0].usd.fargate).toBeGreaterThan(0);
  });

  it('counts the four customer-managed keys (two vault keys, alerts, logs) once in the fixed cost', async () => {
    // Prepare
    const prices = loadUnitPrices();
    const watchdog = ((30.4 * 86_400) / 300) * (prices.prices.lambdaArmGbSecond.usd + prices.prices.lambdaRequest.usd);

    // Act
    const { out } = await run(['--config', fleetFile, '--json']);
    const estimate = JSON.parse(out.join('\n')) as FleetEstimate;

    // Assess
    expect(CUSTOMER_MANAGED_KEYS).toBe(4);
    expect(estimate.fixedUsd).toBeCloseTo(
      prices.prices.dashboardMonth.usd + 4 * prices.prices.kmsKeyMonth.usd + watchdog + prices.prices.alarmMetricMonth.usd,
      6,
    );
  });

  it('takes sizes from the vault when a database has a verified backup there', async () => {
    // Prepare
    await putJson(s3.client(), BUCKET, keys.latestVerified('orders'), {
      database: 'orders',
      backupId: 'orders-20261121T030405Z-full',
      takenAt: '2026-11-21T03:04:05Z',
      verifiedAt: '2026-11-21T03:10:00Z',
      bytes: 64 * 1024 ** 3,
    });

    // Act
    const { code, out } = await run(['--config', 'strongbox.config.yaml', '--json', '--vault', BUCKET], s3);
    const estimate = JSON.parse(out.join('\n')) as FleetEstimate;

    // Assess
    expect(code).toBe(0);
    const orders = estimate.databases.find((d) => d.database === 'orders');
    expect(orders).toMatchObject({ sizeGiB: 64, sizeFrom: 'vault' });
    expect(estimate.databases.find((d) => d.database === 'billing')?.sizeFrom).toBe('assumption');
  });

  it('prices every log archiving run of a database with a logs block: its task, states, calls, requests, alarms and segments', () => {
    // Prepare
    const prices = loadUnitPrices();
    const config = loadConfig('strongbox.config.yaml');
    const billing = config.databases.find((d) => d.name === 'billing')!;
    const withLogs = { ...config, databases: [{ ...billing, logs: { intervalMinutes: 5, windowDays: 7 } }] };
    const without = { ...config, databases: [billing] };
    const a = (name: string) => prices.assumptions[name].value;
    const p = (name: string) => prices.prices[name].usd;

    // Act
    const logs = estimateFleet(withLogs, prices).databases[0];
    const plain = estimateFleet(without, prices).databases[0];

    // Assess
    const runs = (30.4 * 86_400) / 300;
    expect(logs.logArchivesPerMonth).toBeCloseTo(runs, 6);
    expect(plain.logArchivesPerMonth).toBe(0);
    const taskUsdPerHour =
      (billing.task.cpu / 1024) * p('fargateVcpuHour') + (billing.task.memoryMiB / 1024) * p('fargateGbHour') + p('fargateEphemeralGbHour');
    const archiveHours = (a('taskOverheadMinutes') * 60 + a('logArchiveRunSeconds')) / 3600;
    expect(logs.usd.fargate - plain.usd.fargate).toBeCloseTo(runs * archiveHours * taskUsdPerHour, 6);
    expect(logs.usd.stepFunctions - plain.usd.stepFunctions).toBeCloseTo(runs * 5 * p('stepFunctionsTransition'), 6);
    expect(logs.usd.schedules - plain.usd.schedules).toBeCloseTo(runs * p('schedulerInvocation'), 9);
    // The per-database lag alarm and its share of log-chain-broken.
    expect(logs.usd.alarms - plain.usd.alarms).toBeCloseTo(p('alarmMetricMonth') + p('metricsInsightsAlarmMetricMonth'), 9);
    expect(logs.usd.requests).toBeGreaterThan(plain.usd.requests + runs * a('s3RequestsPerLogArchive') * p('s3PutRequest') - 1e-9);
    expect(logs.usd.storageStandard).toBeGreaterThan(plain.usd.storageStandard);
    // At a 5-minute interval the archiving runs cost more than a month of nightly dumps of a 10 GiB database.
    expect(logs.usd.fargate - plain.usd.fargate).toBeGreaterThan(plain.usd.fargate);
  });

  it('prices PostgreSQL base backups like full backups: task, Verify re-read, replica copy, and the window of bases in Standard', () => {
    // Prepare
    const prices = loadUnitPrices();
    const config = loadConfig('strongbox.config.yaml');
    const orders = config.databases.find((d) => d.name === 'orders')!;
    const wal = { intervalMinutes: 5, windowDays: 7 };
    const withoutBases = { ...config, databases: [{ ...orders, logs: wal }] };
    const withBases = {
      ...config,
      databases: [{ ...orders, logs: { ...wal, baseBackup: { expression: 'cron(0 2 * * ? *)', timezone: 'UTC' } } }],
    };
    const p = (name: string) => prices.prices[name].usd;

    // Act
    const based = estimateFleet(withBases, prices).databases[0];
    const unbased = estimateFleet(withoutBases, prices).databases[0];

    // Assess: one base a day, 7 days plus the one before the window kept in both regions.
    expect(based.basesPerMonth).toBeCloseTo(30.4, 6);
    expect(unbased.basesPerMonth).toBe(0);
    expect(based.usd.storageStandard - unbased.usd.storageStandard).toBeCloseTo(8 * based.sizeGiB * p('s3StandardGbMonth') * 2, 6);
    expect(based.usd.replicationTransfer - unbased.usd.replicationTransfer).toBeCloseTo(
      30.4 * based.sizeGiB * p('interRegionTransferGb'),
      6,
    );
    expect(based.usd.schedules - unbased.usd.schedules).toBeCloseTo(30.4 * p('schedulerInvocation'), 9);
    expect(based.usd.fargate).toBeGreaterThan(unbased.usd.fargate);
    expect(based.usd.verify).toBeGreaterThan(unbased.usd.verify);
  });

  it('prices logs.mode continuous as one task all month and a flush every flushSeconds, with no archiving runs', () => {
    // Prepare
    const prices = loadUnitPrices();
    const config = loadConfig('strongbox.config.yaml');
    const billing = config.databases.find((d) => d.name === 'billing')!;
    const streamed = { ...config, databases: [{ ...billing, logs: { mode: 'continuous' as const, flushSeconds: 30, windowDays: 7 } }] };
    const without = { ...config, databases: [billing] };
    const a = (name: string) => prices.assumptions[name].value;
    const p = (name: string) => prices.prices[name].usd;

    // Act
    const logs = estimateFleet(streamed, prices).databases[0];
    const plain = estimateFleet(without, prices).databases[0];

    // Assess
    const flushes = (30.4 * 86_400) / 30;
    expect(logs.logArchivesPerMonth).toBe(0);
    expect(logs.logFlushesPerMonth).toBeCloseTo(flushes, 6);
    expect(plain.logFlushesPerMonth).toBeUndefined();
    const taskUsdPerHour =
      (billing.task.cpu / 1024) * p('fargateVcpuHour') + (billing.task.memoryMiB / 1024) * p('fargateGbHour') + p('fargateEphemeralGbHour');
    expect(logs.usd.fargate - plain.usd.fargate).toBeCloseTo(30.4 * 24 * taskUsdPerHour, 6);
    expect(logs.usd.requests - plain.usd.requests).toBeCloseTo(flushes * a('s3RequestsPerLogArchive') * p('s3PutRequest'), 6);
    expect(logs.usd.schedules).toBeCloseTo(plain.usd.schedules, 9);
    expect(logs.usd.stepFunctions).toBeCloseTo(plain.usd.stepFunctions, 9);
  });

  it('prices each DR plan: its rehearsal alarm always, and per scheduled rehearsal a drill of every database of the plan', () => {
    // Prepare
    const prices = loadUnitPrices();
    const config = loadConfig('strongbox.config.yaml');
    const plan = config.drPlans[0];
    const unscheduled = { ...config, drPlans: [{ ...plan, rehearsal: undefined }] };
    const weekly = { ...config, drPlans: [{ ...plan, rehearsal: { expression: 'cron(0 4 ? * SUN *)', timezone: 'UTC' } }] };

    // Act
    const alarmOnly = estimateFleet(unscheduled, prices);
    const rehearsed = estimateFleet(weekly, prices);

    // Assess
    expect(alarmOnly.rehearsalUsd).toBeCloseTo(prices.prices.alarmMetricMonth.usd, 9);
    const members = plan.groups.flatMap((g) => g.databases);
    const drillRun = (name: string) => {
      const d = rehearsed.databases.find((x) => x.database === name)!;
      return d.usd.fargate / (d.backupsPerMonth + d.drillsPerMonth);
    };
    const runs = (30.4 * 86_400) / (7 * 86_400);
    expect(rehearsed.rehearsalUsd).toBeCloseTo(
      prices.prices.alarmMetricMonth.usd + runs * (prices.prices.schedulerInvocation.usd + members.reduce((s, n) => s + drillRun(n), 0)),
      6,
    );
    expect(rehearsed.totalUsd - alarmOnly.totalUsd).toBeCloseTo(rehearsed.rehearsalUsd - alarmOnly.rehearsalUsd, 6);
  });

  it('refuses an unknown option and a bad config with one line each, no stack trace', async () => {
    // Act
    const unknown = await run(['--confg', 'x.yaml']);
    const missing = await run(['--config', join(dir, 'missing.yaml')]);

    // Assess
    expect(unknown).toMatchObject({ code: 2 });
    expect(unknown.err[0]).toBe('unknown option "--confg"\nusage: npm run estimate -- [--config <file>] [--json] [--vault <bucket>]');
    expect(missing.code).toBe(1);
    expect(missing.err).toEqual([`${join(dir, 'missing.yaml')}: cannot read the file (ENOENT); expected a readable YAML file`]);
  });
});
