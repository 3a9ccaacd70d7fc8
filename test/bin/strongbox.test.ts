import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The real CDK CLI (the pinned devDependency) against bin/strongbox.ts. Every network call is pointed at a
 * closed local port and credentials are removed, so a pass proves synth needs neither the network nor AWS.
 */
function cdkSynth(args: string[], env: Record<string, string> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'strongbox-synth-'));
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_') && key !== 'STRONGBOX_CONFIG'));
  const result = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--output', outdir, ...args], {
    encoding: 'utf8',
    timeout: 240_000,
    env: {
      ...clean,
      NODE_OPTIONS: '',
      HTTPS_PROXY: 'http://127.0.0.1:9',
      HTTP_PROXY: 'http://127.0.0.1:9',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      CDK_DISABLE_VERSION_CHECK: '1',
      ...env,
    },
  });
  return { ...result, outdir };
}

function badConfig(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'strongbox-bad-')), 'bad.yaml');
  const text = readFileSync('strongbox.config.yaml', 'utf8')
    .replace('replicaRegion: eu-central-1', 'replicaRegion: eu-west-1')
    .replace('engine: mysql', 'engine: oracle');
  writeFileSync(file, text);
  return file;
}

describe('bin/strongbox.ts through `cdk synth`', () => {
  it('synthesizes the example config offline, without an AWS account', () => {
    // Prepare
    const args: string[] = [];

    // Act
    const result = cdkSynth(args);

    // Assess
    expect(result.stderr).not.toMatch(/ValidationFailed|AwsSolutions-/);
    expect(result.status).toBe(0);
    const manifest = JSON.parse(readFileSync(join(result.outdir, 'manifest.json'), 'utf8'));
    expect(manifest.artifacts['strongbox-primary'].environment).toBe('aws://unknown-account/eu-west-1');
    expect(manifest.artifacts['strongbox-replica'].environment).toBe('aws://unknown-account/eu-central-1');
    expect(manifest.missing ?? []).toEqual([]);
    const primary = JSON.parse(readFileSync(join(result.outdir, 'strongbox-primary.template.json'), 'utf8'));
    expect(Object.values(primary.Resources).some((r) => (r as { Type: string }).Type === 'AWS::ECS::Cluster')).toBe(true);
  }, 300_000); // the real CLI bundles all functions; cdkSynth itself gives up after 240 s

  it('fails a bad config given with -c config=<file>: exit 1, one line per problem, no stack trace', () => {
    // Prepare
    const file = badConfig();

    // Act
    const result = cdkSynth(['-c', `config=${file}`]);

    // Assess
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`${file}: 2 problems`);
    expect(result.stderr).toMatch(
      /line \d+: databases\[2\]\.engine: found "oracle"; expected one of postgres, mysql, mariadb, redis, mongodb/,
    );
    expect(result.stderr).toMatch(
      /line \d+: vault\.replicaRegion: found "eu-west-1"; expected a region different from vault\.primaryRegion/,
    );
    expect(result.stderr).not.toMatch(/\n\s+at .*\.(ts|js):\d+/);
    expect(result.stderr).not.toContain('ConfigError');
  });

  it('reads the config path from STRONGBOX_CONFIG', () => {
    // Prepare
    const file = badConfig();

    // Act
    const result = cdkSynth([], { STRONGBOX_CONFIG: file });

    // Assess
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`${file}: 2 problems`);
  });
});

describe('bin/strongbox.ts run directly', () => {
  it('exits 1 on a bad config and prints only the problems', () => {
    // Prepare
    const file = badConfig();

    // Act
    const result = spawnSync('node', ['--import', 'tsx', 'bin/strongbox.ts'], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '', STRONGBOX_CONFIG: file, CDK_OUTDIR: mkdtempSync(join(tmpdir(), 'strongbox-out-')) },
    });

    // Assess
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `${file}: 2 problems`,
      expect.stringMatching(/^ {2}line \d+: databases\[2\]\.engine: /),
      expect.stringMatching(/^ {2}line \d+: vault\.replicaRegion: /),
    ]);
  });
});
