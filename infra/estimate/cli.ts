import type { S3Client } from '@aws-sdk/client-s3';
import { FUNCTION_ENV } from '../../contracts/function-env';
import { keys, LatestVerifiedSchema } from '../../contracts/vault';
import { getJson, s3ClientFor } from '../../contracts/vault-io';
import { ConfigError, loadConfig } from '../config/load';
import type { StrongboxConfig } from '../config/schema';
import { estimateFleet, type FleetEstimate, type KnownSizes, loadUnitPrices } from './estimate';

/**
 * `npm run estimate -- --config <file> [--json] [--vault <bucket>]`: the monthly cost of each database and of
 * the fleet at the list prices of infra/estimate/unit-prices.json. With `--vault`, the size of each database's
 * newest verified backup comes from the vault (its latest-verified pointer); otherwise `estimate.sizeGiB` or
 * the file's default size. It lives beside the infrastructure because it prices exactly what the config
 * deploys, and needs no CLI framework: one command, a table for a person, JSON for machines.
 */
export const USAGE = 'usage: npm run estimate -- [--config <file>] [--json] [--vault <bucket>]';

export interface EstimateIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** S3 client for `--vault` (tests pass one for s3rver). */
  readonly s3?: S3Client;
}

interface Options {
  config: string;
  json: boolean;
  vault?: string;
}

function parseOptions(args: readonly string[]): Options | string {
  const options: Options = { config: process.env.STRONGBOX_CONFIG ?? 'strongbox.config.yaml', json: false };
  for (let i = 0; i < args.length; i++) {
    const [name, inline] = args[i].split('=', 2);
    if (name === '--json') {
      options.json = true;
      continue;
    }
    if (name !== '--config' && name !== '--vault') {
      return `unknown option ${JSON.stringify(args[i])}`;
    }
    const value = inline ?? args[++i];
    if (!value) {
      return `option ${name} needs a value`;
    }
    options[name === '--config' ? 'config' : 'vault'] = value;
  }
  return options;
}

/** The stored size (GiB) of each database's newest verified backup, for those the vault has one of. */
export async function sizesFromVault(s3: S3Client, bucket: string, config: StrongboxConfig): Promise<KnownSizes> {
  const sizes: Record<string, number> = {};
  for (const db of config.databases) {
    const pointer = await getJson(s3, bucket, keys.latestVerified(db.name), LatestVerifiedSchema);
    if (pointer) {
      sizes[db.name] = pointer.value.bytes / 1024 ** 3;
    }
  }
  return sizes;
}

const usd = (value: number) => (value >= 100 ? value.toFixed(0) : value >= 1 ? value.toFixed(2) : value.toFixed(3));

export function formatTable(estimate: FleetEstimate): string[] {
  const header = [
    'database',
    'engine',
    'tier',
    'GiB',
    'backups/mo',
    'logs/mo',
    'alarms',
    'control',
    'compute',
    'storage',
    'transfer',
    'total',
    'AWS Backup',
  ];
  const rows = estimate.databases.map((d) => [
    d.database,
    d.engine,
    d.tier,
    `${d.sizeGiB.toFixed(d.sizeGiB < 10 ? 1 : 0)}${d.sizeFrom === 'assumption' ? '*' : ''}`,
    d.backupsPerMonth.toFixed(0),
    d.logArchivesPerMonth > 0 ? d.logArchivesPerMonth.toFixed(0) : '-',
    usd(d.usd.alarms),
    usd(d.usd.metrics + d.usd.schedules + d.usd.stepFunctions + d.usd.lambda + d.usd.kms),
    usd(d.usd.fargate + d.usd.verify),
    usd(d.usd.storageStandard + d.usd.storageGlacierInstant + d.usd.storageDeepArchive + d.usd.requests),
    usd(d.usd.replicationTransfer),
    usd(d.usd.total),
    d.awsBackupUsd === undefined ? 'n/a' : usd(d.awsBackupUsd),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [
    `Strongbox monthly estimate, USD, list prices of ${estimate.region} on ${estimate.pricesDate} (infra/estimate/unit-prices.json)`,
    line(header),
    ...rows.map(line),
    `fleet: ${estimate.databases.length} databases, ${usd(estimate.totalUsd)} USD/month (${usd(estimate.perDatabaseUsd)} per database; fixed ${usd(estimate.fixedUsd)}; DR plans ${usd(estimate.rehearsalUsd)})`,
    `alarms: ${usd(estimate.alarmUsdPerDatabase)} USD per database-month; control plane: ${usd(estimate.controlPlaneUsdPerDatabase)} USD per database-month`,
    'logs/mo = log archiving runs (logs.intervalMinutes); DR plans = their rehearsal alarms and scheduled rehearsals',
    'control = metrics, schedules, Step Functions, Lambda and KMS; compute = Fargate tasks and Verify; AWS Backup = RDS/Aurora snapshots with the same retention (n/a: engine not supported)',
    ...(estimate.databases.some((d) => d.sizeFrom === 'assumption')
      ? ['* size assumed (no estimate.sizeGiB in the config, none in the vault)']
      : []),
    'assumptions:',
    ...Object.entries(estimate.assumptions).map(([name, text]) => `  ${name} = ${text}`),
  ];
}

/** Returns the exit code, so tests call it in-process. */
export async function runEstimate(argv: readonly string[], io: EstimateIo): Promise<number> {
  const options = parseOptions(argv);
  if (typeof options === 'string') {
    io.err(`${options}\n${USAGE}`);
    return 2;
  }
  let config: StrongboxConfig;
  try {
    config = loadConfig(options.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) {
        io.err(`${options.config}: ${problem}`);
      }
      return 1;
    }
    throw error;
  }
  let sizes: KnownSizes = {};
  if (options.vault) {
    try {
      sizes = await sizesFromVault(
        io.s3 ?? s3ClientFor({ region: config.vault.primaryRegion, endpoint: process.env[FUNCTION_ENV.s3Endpoint] }),
        options.vault,
        config,
      );
    } catch (error) {
      io.err(
        `--vault ${options.vault}: cannot read the latest-verified pointers (${(error as Error).message}); expected a readable Strongbox vault bucket`,
      );
      return 1;
    }
  }
  const estimate = estimateFleet(config, loadUnitPrices(), sizes);
  if (options.json) {
    io.out(JSON.stringify(estimate, null, 2));
  } else {
    for (const line of formatTable(estimate)) {
      io.out(line);
    }
  }
  return 0;
}

if (require.main === module) {
  void runEstimate(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }).then((code) => {
    process.exitCode = code;
  });
}
