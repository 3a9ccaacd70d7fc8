import { describe, expect, it } from 'vitest';
import { compareInventory } from '../../../contracts/inventory';
import { drPlanRequestedBy } from '../../../contracts/payloads/dr-plan';
import { hostProblem, RestoreInputSchema } from '../../../contracts/payloads/restore';
import { overwriteHint, refusalForDrPlan, sourceRefusal } from '../../../contracts/refusals';
import { describeMismatch, type Inventory } from '../../../contracts/vault';

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

describe('DR plan wording', () => {
  it("replaces the console hint with the DR plan's own, and nothing else", () => {
    // Prepare
    const refusal = sourceRefusal('orders', { host: 'orders.dr.internal', port: 5432, database: 'orders' });

    // Act
    const rewritten = refusalForDrPlan(refusal, 'orders', 'region-loss');

    // Assess
    expect(refusal).toContain(overwriteHint('orders'));
    expect(rewritten).toBe(
      'Refusing to restore "orders" onto its own source connection orders.dr.internal:5432/orders: that would replace live data. This restore was started by DR plan "region-loss": set "overwrite": true and "confirm": "region-loss" in the DR plan\'s input ({"plan": "region-loss", "overwrite": true, "confirm": "region-loss"}) to go ahead.',
    );
  });

  it('keeps the requestedBy of a nested restore within 200 characters', () => {
    // Act
    const requestedBy = drPlanRequestedBy('region-loss', 'a'.repeat(80), 'r'.repeat(200));

    // Assess
    expect(requestedBy).toHaveLength(200);
    expect(requestedBy.startsWith(`DR plan region-loss (${'a'.repeat(80)}): r`)).toBe(true);
  });
});

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

const inventory = (entries: Inventory['entries'], exact = true): Inventory => ({ exact, entries });

describe('compareInventory with listed entries (views, unpopulated materialized views)', () => {
  it('matches listed entries by presence and definition, counted ones by count', () => {
    // Prepare
    const manifest = inventory([
      { name: 'public.film', kind: 'table', count: 500 },
      { name: 'public.film_list', kind: 'view', definitionSha256: A },
      { name: 'public.rating_counts', kind: 'matview', populated: true, count: 5, definitionSha256: B },
      { name: 'public.rating_later', kind: 'matview', populated: false, definitionSha256: B },
    ]);

    // Act
    const mismatches = compareInventory(manifest, inventory([...manifest.entries]), { engine: 'postgres', extrasAreMismatches: true });

    // Assess
    expect(mismatches).toEqual([]);
  });

  it('reports a missing view, a changed definition and a matview populated by the restore, each in words', () => {
    // Prepare
    const manifest = inventory([
      { name: 'public.gone', kind: 'view', definitionSha256: A },
      { name: 'public.changed', kind: 'view', definitionSha256: A },
      { name: 'public.later', kind: 'matview', populated: false, definitionSha256: B },
    ]);
    const restored = inventory([
      { name: 'public.changed', kind: 'view', definitionSha256: B },
      { name: 'public.later', kind: 'matview', populated: true, count: 3, definitionSha256: B },
    ]);

    // Act
    const mismatches = compareInventory(manifest, restored, { engine: 'postgres' });

    // Assess
    expect(mismatches.map(describeMismatch)).toEqual([
      'public.gone: view missing',
      'public.changed: view definition differs (sha256 aaaaaaaaaaaa… expected, bbbbbbbbbbbb… found)',
      'public.later: materialized view was unpopulated in the backup but is populated',
    ]);
  });

  it('reports a populated matview that came back unpopulated as a count mismatch, and an extra view in a drill', () => {
    // Prepare
    const manifest = inventory([{ name: 'public.totals', kind: 'matview', populated: true, count: 4, definitionSha256: A }]);
    const restored = inventory([
      { name: 'public.totals', kind: 'matview', populated: false, definitionSha256: A },
      { name: 'public.extra', kind: 'view', definitionSha256: B },
    ]);

    // Act
    const mismatches = compareInventory(manifest, restored, { engine: 'postgres', extrasAreMismatches: true });

    // Assess
    expect(mismatches).toEqual([
      { name: 'public.totals', expected: 4, actual: null },
      { name: 'public.extra', expected: null, actual: null, detail: 'view not in the backup' },
    ]);
  });

  it('compares a view that an older manifest counted by presence, since views are no longer counted', () => {
    // Prepare
    const older = inventory([
      { name: 'public.film_list', kind: 'view', count: 500 },
      { name: 'public.dropped', kind: 'view', count: 3 },
    ]);
    const restored = inventory([{ name: 'public.film_list', kind: 'view', definitionSha256: A }]);

    // Act
    const mismatches = compareInventory(older, restored, { engine: 'postgres' });

    // Assess
    expect(mismatches).toEqual([{ name: 'public.dropped', expected: null, actual: null, detail: 'view missing' }]);
  });

  it('compares only included entries, listed ones too', () => {
    // Prepare
    const manifest = inventory([
      { name: 'public.film', kind: 'table', count: 2 },
      { name: 'public.film_list', kind: 'view', definitionSha256: A },
    ]);

    // Act
    const mismatches = compareInventory(manifest, inventory([{ name: 'public.film', kind: 'table', count: 2 }]), {
      engine: 'postgres',
      include: ['public.film'],
    });

    // Assess
    expect(mismatches).toEqual([]);
  });
});
