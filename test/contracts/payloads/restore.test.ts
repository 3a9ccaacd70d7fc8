import { describe, expect, it } from 'vitest';
import { hostProblem, RestoreInputSchema } from '../../../contracts/payloads/restore';

describe('hostProblem', () => {
  it.each([
    'orders-copy.internal',
    'orders-copy.internal.',
    'db_1.corp',
    'localhost',
    '10.0.1.17',
    '::1',
    'fe80::1',
    '2001:db8::8a2e:370:7334',
    `${'a'.repeat(63)}.example`,
  ])('accepts %s', (host) => {
    // Act
    const problem = hostProblem(host, 'target.port');

    // Assess
    expect(problem).toBeUndefined();
  });

  it.each([
    ['', 'found an empty string'],
    ['   ', 'found only spaces'],
    [' db.internal', 'without spaces around it'],
    ['db.internal:5432', 'put "db.internal" here and 5432 in "target.port"'],
    ['10.0.1.17:3306', 'put "10.0.1.17" here and 3306 in "target.port"'],
    ['[::1]:5432', 'put "::1" here and 5432 in "target.port"'],
    ['[::1]', 'without brackets: "::1"'],
    ['postgres://db.internal/orders', 'not a URL'],
    ['999.1.1.1', 'IPv4 address of four numbers 0-255'],
    ['10.0.1', 'IPv4 address of four numbers 0-255'],
    ['db host.internal', 'dot-separated labels'],
    ['-db.internal', 'dot-separated labels'],
    ['db..internal', 'dot-separated labels'],
    ['db.internal;rm', 'dot-separated labels'],
    [`${'a'.repeat(64)}.example`, 'at most 63 characters'],
    [`${'a.'.repeat(127)}ab`, 'at most 253 characters'],
    ['fe80::1::2', 'IPv4/IPv6 address'],
  ])('refuses %j, saying %s', (host, problem) => {
    // Act
    const found = hostProblem(host, 'target.port');

    // Assess
    expect(found).toContain(problem);
  });
});

describe('the restore input schema', () => {
  it('refuses include names that would not fit the RunTask overrides together', () => {
    // Prepare: 100 valid patterns of 61 characters
    const include = Array.from({ length: 100 }, (_, i) => `${'k'.repeat(59)}${String(i).padStart(2, '0')}`);

    // Act
    const result = RestoreInputSchema.safeParse({ database: 'sessions', latest: true, target: { host: 'x' }, include });

    // Assess
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      [
        'include',
        'expected at most 4096 characters of names in all (found 6401): the restore task receives them through ECS RunTask overrides, limited to 8 KiB; select whole schemas or databases instead',
      ],
    ]);
  });
});

describe('the recovery points replayed from the log', () => {
  const base = { database: 'orders', target: { host: 'orders-copy.internal' } };

  it('accepts a position, a GTID and a dry run', () => {
    // Prepare
    const position = { ...base, position: { file: 'binlog.000042', position: 1234 }, dryRun: true };
    const gtid = { ...base, gtid: '0-1-4711' };

    // Act
    const parsedPosition = RestoreInputSchema.safeParse(position);
    const parsedGtid = RestoreInputSchema.safeParse(gtid);

    // Assess
    expect(parsedPosition.success && parsedPosition.data.position).toEqual({ file: 'binlog.000042', position: 1234 });
    expect(parsedPosition.success && parsedPosition.data.dryRun).toBe(true);
    expect(parsedGtid.success && parsedGtid.data.gtid).toBe('0-1-4711');
  });

  it('refuses a second recovery point and malformed values, each at its field', () => {
    // Prepare
    const both = { ...base, pointInTime: '2026-11-21T03:30:00Z', gtid: '0-1-4711' };
    const malformed = { ...base, position: { file: 'binlog.000042', position: '1234' } };
    const notGtid = { ...base, gtid: 'last one' };
    const dryRunFalse = { ...base, latest: true, dryRun: false };

    // Act
    const issues = (input: unknown) => {
      const result = RestoreInputSchema.safeParse(input);
      return result.success ? [] : result.error.issues.map((i) => [i.path.join('.'), i.message]);
    };

    // Assess
    expect(issues(both)).toEqual([['gtid', 'expected exactly one recovery point, but "pointInTime" and "gtid" are both set; keep one']]);
    expect(issues(malformed)).toEqual([
      ['position.position', 'expected the byte position in that file, a number such as 1234 (SHOW BINLOG EVENTS, column Pos)'],
    ]);
    expect(issues(notGtid)).toEqual([
      ['gtid', 'expected a GTID such as "0-1-4711" (MariaDB) or "3e11fa47-71ca-11e1-9e33-c80aa9429562:23" (MySQL)'],
    ]);
    expect(issues(dryRunFalse)).toEqual([['dryRun', 'expected true (or leave the field out)']]);
  });
});
