import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../cli/main';
import { cli } from './run-cli';

/**
 * Bad arguments: one clear line naming the flag or field and the fix, exit 2, nothing started and no stack
 * trace; and --help on every command, with an example.
 */

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at /);

describe('strongbox arguments', () => {
  it.each([
    [[], /^strongbox <command> \[options\]/],
    [
      ['frobnicate'],
      /^strongbox: "frobnicate": unknown command; expected one of points, show, stats, report, restore, drill, dr-plan \(strongbox --help\)$/,
    ],
    [
      ['points'],
      /^strongbox: <database>: found nothing; expected it as an argument\nusage: strongbox points <database> \[--at <instant>\]/,
    ],
    [['points', 'a', 'b'], /^strongbox: found an extra argument "b"; expected points <database> \[--at <instant>\]/],
    [
      ['points', 'orders', '--bogus'],
      /^strongbox: --bogus: unknown option for "strongbox points"; expected one of --local, --config, --account, --json, --help, --at\n/,
    ],
    [['points', 'orders', '--at'], /^strongbox: --at: found nothing; expected a value after it\n/],
    [['points', 'orders', '--json=yes'], /^strongbox: --json: found a value; expected the flag alone\n/],
    [
      ['points', 'orders', '--at', '2026-11-21 03:30'],
      /^strongbox: pointInTime \(--at\): found "2026-11-21 03:30"; expected an ISO 8601 date-time with a zone/,
    ],
    [['show', 'orders-latest'], /^strongbox: backupId: found "orders-latest"; expected a backupId "<database>-<yyyymmddThhmmssZ>-<kind>"$/],
    [['report'], /^strongbox: --month: found nothing; expected a month as YYYY-MM, such as 2026-11$/],
    [['report', '--month', '2026-13'], /^strongbox: --month: found "2026-13"; expected a month as YYYY-MM, such as 2026-11$/],
    [['report', '--month', '2999-01'], /^strongbox: --month: found "2999-01"; expected a month that has begun/],
    [['stats', '--throughput-floor', 'fast'], /^strongbox: --throughput-floor: found "fast"; expected a number of MB\/s, such as 20$/],
    [['points', 'orders', '--local='], /^strongbox: --local=: found an empty data directory; expected --local <dataDir> or --local alone$/],
    [['restore'], /^strongbox: <database>: found nothing; expected the database to restore, or the whole input as --input$/],
    [
      ['restore', 'orders', '--input', '{"database": "orders"}'],
      /^strongbox: --input: found it together with "orders"; expected either the whole input as --input or the database and flags$/,
    ],
    [['restore', '--input', '{not json'], /^strongbox: --input: found text that is not JSON/],
    [
      ['restore', 'orders', '--target-host', 'h', '--target-database', 'd', '--target-secret-arn', 'arn:nope'],
      /^strongbox: Invalid restore input:\ntarget\.secretArn \(--target-secret-arn\): found "arn:nope"; expected a Secrets Manager ARN: .*\n\(input\): found .*; expected a recovery point: exactly one of "backupId", "pointInTime" or "latest": true$/,
    ],
    [
      ['restore', 'orders', '--latest', '--target-host', 'h', '--overwrite', '--confirm', 'orders', '--privileges', 'all'],
      /privileges \(--privileges\): found "all"; expected "restore" \(the default\) or "skip"/,
    ],
    [['drill', 'Orders!'], /^strongbox: Invalid drill input:\ndatabase: found "Orders!"; expected a database name of lowercase letters/],
    [['dr-plan', ''], /^strongbox: Invalid DR plan input:\nplan \(<plan>\): found ""; expected the name of a plan in drPlans/],
    [
      ['points', 'orders', '--config', '/nonexistent/strongbox.yaml'],
      /^strongbox: \/nonexistent\/strongbox\.yaml: 1 problem\n {2}cannot read the file \(ENOENT\); expected a readable YAML file$/,
    ],
  ])('%j exits 2 with a one-line reason', async (args, message) => {
    // Act
    const run = await cli(args);

    // Assess
    expect(run.code).toBe(2);
    expect(run.err).toMatch(message);
    expect(run.out).toBe('');
    noStack(run.err);
  });

  it('says what is missing when --local points at a directory without a vault, with exit 3', async () => {
    // Act
    const run = await cli(['points', 'demo', '--local', '/nonexistent-strongbox-data']);

    // Assess
    expect(run.code).toBe(3);
    expect(run.err).toBe(
      'strongbox: no local vault in /nonexistent-strongbox-data/vault: run `npm run demo` first, or name the data directory that holds vault/ with --local <dataDir>',
    );
  });

  it.each(COMMANDS.map((c) => [c.spec.name]))('%s --help prints its usage, options, an example and the exit codes', async (name) => {
    // Act
    const run = await cli([name, '--help']);

    // Assess
    expect(run.code).toBe(0);
    expect(run.out).toMatch(new RegExp(`^strongbox ${name}`));
    expect(run.out).toMatch(/\nExamples:\n {2}strongbox /);
    expect(run.out).toContain('--local [dataDir]');
    expect(run.out).toContain('Exit codes: 0 ok, 1 the operation failed or was refused, 2 bad arguments');
  });

  it('strongbox --help lists every command', async () => {
    // Act
    const run = await cli(['--help']);

    // Assess
    expect(run.code).toBe(0);
    for (const command of COMMANDS) {
      expect(run.out).toMatch(new RegExp(`\n {2}${command.spec.name} +\\S`));
    }
  });
});
