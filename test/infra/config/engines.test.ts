import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENGINES } from '../../../contracts/engines';
import { REFUSED_ENGINES } from '../../../infra/config/engines';
import { ConfigError, parseConfig } from '../../../infra/config/load';

/** The example config with its third database (inventory, mysql) turned into MongoDB. */
function mongoConfig(): { text: string; file: string } {
  const example = readFileSync('strongbox.config.yaml', 'utf8');
  const text = example.replace('engine: mysql', 'engine: mongodb');
  const file = join(mkdtempSync(join(tmpdir(), 'strongbox-mongodb-')), 'mongodb.yaml');
  writeFileSync(file, text);
  return { text, file };
}

/** The one refusal line, after the `<file>: line N: ` prefix. */
const REFUSAL =
  /^databases\[2\]\.engine: found "mongodb"; expected postgres, mysql, mariadb or redis: Strongbox refuses mongodb because its adapter has not been tested against a real MongoDB server .*; meanwhile back MongoDB up outside Strongbox \(mongodump --archive --oplog on a schedule of your own, or AWS Backup for Amazon DocumentDB\) and leave it out of databases$/;

const NO_STACK_FRAME = /\bat .*\.(ts|js):\d+/;

describe('refused engines', () => {
  it('refuses only mongodb, an engine the schema still names', () => {
    // Prepare / Act
    const refused = Object.keys(REFUSED_ENGINES);

    // Assess
    expect(refused).toEqual(['mongodb']);
    expect(ENGINES).toContain('mongodb');
  });

  it('refuses engine: mongodb while parsing with one line naming databases[i].engine, why, and what to use meanwhile', () => {
    // Prepare
    const { text } = mongoConfig();

    // Act
    let problems: readonly string[] = [];
    try {
      parseConfig(text, 'mongodb.yaml');
    } catch (error) {
      if (!(error instanceof ConfigError)) {
        throw error;
      }
      problems = error.problems;
    }

    // Assess: the refusal is the config's only problem (connection and secret are fine).
    expect(problems).toHaveLength(1);
    expect(problems[0].replace(/^line \d+: /, '')).toMatch(REFUSAL);
  });

  it('fails npm run validate with exit 1 and the refusal line, no stack trace', () => {
    // Prepare
    const { file } = mongoConfig();

    // Act
    const result = spawnSync('npm', ['run', '--silent', 'validate', '--', '--config', file], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });

    // Assess
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0].replace(/^.*?: line \d+: /, '')).toMatch(REFUSAL);
    expect(lines[1]).toBe(`${file}: 1 problem`);
    expect(result.stderr).not.toMatch(NO_STACK_FRAME);
    expect(result.stdout).toBe('');
  });

  it('fails cdk synth with exit 1 and the refusal line, before any template is written', () => {
    // Prepare
    const { file } = mongoConfig();
    const outdir = mkdtempSync(join(tmpdir(), 'strongbox-mongodb-synth-'));
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_') && key !== 'STRONGBOX_CONFIG'));

    // Act
    const result = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--output', outdir, '-c', `config=${file}`], {
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...env, NODE_OPTIONS: '', CDK_DISABLE_VERSION_CHECK: '1', AWS_EC2_METADATA_DISABLED: 'true' },
    });

    // Assess
    expect(result.status).not.toBe(0);
    const refusal = result.stderr.split('\n').find((line) => line.includes('databases[2].engine'));
    expect(refusal?.replace(/^.*?line \d+: /, '')).toMatch(REFUSAL);
    expect(result.stderr).not.toMatch(NO_STACK_FRAME);
    expect(readdirSync(outdir).filter((f) => f.endsWith('.template.json'))).toEqual([]);
  });
});
