import { describe, expect, it } from 'vitest';
import { compareInventory } from '../../contracts/inventory';
import { describeMismatch, type Inventory } from '../../contracts/vault';

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
