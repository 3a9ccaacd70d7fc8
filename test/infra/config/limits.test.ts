import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fleetConfigYaml } from '../../../bench/fleet-config';
import { buildApp } from '../../../infra/app';
import { runCli } from '../../../infra/config/cli';
import { checkFleetLimits, fleetFigures } from '../../../infra/config/limits';
import { ConfigError, parseConfig } from '../../../infra/config/load';

describe('fleet limits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strongbox-limits-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts shards, primary-stack resources and IAM roles from the number of databases', () => {
    // Act
    const small = fleetFigures(4);
    const fleet = fleetFigures(500);

    // Assess
    expect(small).toEqual({ databases: 4, shards: 1, primaryResources: 151, iamRoles: 41 });
    expect(fleet).toEqual({ databases: 500, shards: 32, primaryResources: 182, iamRoles: 1126 });
  });

  it('fails validate and synth for a fleet past the IAM maximum, naming the limit, the count and the fix', () => {
    // Prepare
    const file = join(dir, 'huge.yaml');
    writeFileSync(file, fleetConfigYaml(2600));
    const err: string[] = [];

    // Act
    const code = runCli(['validate', '--config', file], { out: () => {}, err: (l) => err.push(l) });
    const synth = () => buildApp(parseConfig(fleetConfigYaml(2600), 'huge.yaml'), { bundling: false, nag: false });

    // Assess
    expect(code).toBe(1);
    expect(err).toContain(
      `${file}: databases: 2600 databases need 5719 IAM roles (a dump and a restore role each); IAM allows at most 5000 roles per account even with a raised quota: split the fleet across accounts (one config per account)`,
    );
    // Its three tiers of 866-867 databases are each past the tier alarm's 500 series as well.
    expect(err.filter((line) => line.includes('one Metrics Insights alarm evaluates at most 500'))).toHaveLength(3);
    expect(err.at(-1)).toBe(`${file}: 4 problems`);
    expect(synth).toThrow(ConfigError);
    expect(synth).toThrow('databases: 2600 databases need 5719 IAM roles');
  });

  it('fails validate for a tier of more databases than one Metrics Insights alarm evaluates, naming the tier and the fix', () => {
    // Prepare
    const file = join(dir, 'tier.yaml');
    writeFileSync(file, fleetConfigYaml(1600));
    const err: string[] = [];

    // Act
    const code = runCli(['validate', '--config', file], { out: () => {}, err: (l) => err.push(l) });
    const report = checkFleetLimits(parseConfig(fleetConfigYaml(1501), 'tiers.yaml'));

    // Assess
    expect(code).toBe(1);
    expect(err.filter((line) => line.includes('Metrics Insights')).length).toBeGreaterThan(0);
    expect(err.at(-1)).toMatch(/: \d+ problems?$/);
    expect(report.problems).toEqual([
      'databases: 501 databases of tier "critical"; one Metrics Insights alarm evaluates at most 500 time series, so the tier alarm would miss some: keep at most 500 databases per tier, splitting the rest into a second config with another app.name',
    ]);
  });

  it('warns, and still passes, when only the default roles quota is exceeded', () => {
    // Act
    const report = checkFleetLimits({ databases: Array.from({ length: 600 }, () => ({}) as never) });

    // Assess
    expect(report.problems).toEqual([]);
    expect(report.warnings).toEqual([
      'databases: 600 databases need 1344 IAM roles (a dump and a restore role each), plus the account\'s other roles; the default quota is 1000 roles per account: request "Roles per account" of at least 1444 in Service Quotas (IAM, us-east-1) before deploying',
    ]);
  });
});
