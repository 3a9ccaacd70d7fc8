import { RENAMABLE_ENGINES } from './engines';
import { type Inventory, type InventoryEntry, isCounted, type Mismatch } from './vault';

/**
 * Inventory comparison: how an inventory counted after a restore (Validate) or in a drill is held against the
 * manifest's, with `include` selections and databases restored under another name.
 */

/**
 * Whether an inventory entry is part of `include`. PostgreSQL entries are `schema.table`, MySQL ones
 * `database.table`: a bare `schema`/`database` selects all its tables. Redis inventories count keyspaces
 * (`db0`), which a key pattern cannot select, so for Redis every entry is kept and the caller compares loosely.
 */
export function isIncluded(entryName: string, include: readonly string[], engine: string): boolean {
  if (include.length === 0 || engine === 'redis') {
    return true;
  }
  return include.some((name) => entryName === name || entryName.startsWith(`${name}.`));
}

function renameDatabase(name: string, from: string, to: string): string {
  return name === from ? to : name.startsWith(`${from}.`) ? `${to}${name.slice(from.length)}` : name;
}

/**
 * `include` as the target spells it: a MySQL/MariaDB database restored under another name holds
 * `target.table` where the input (and the manifest) say `source.table`. Other engines keep their names.
 */
export function includeOnTarget(include: readonly string[], engine: string, sourceDatabase?: string, targetDatabase?: string): string[] {
  if (
    !(RENAMABLE_ENGINES as readonly string[]).includes(engine) ||
    !sourceDatabase ||
    !targetDatabase ||
    sourceDatabase === targetDatabase
  ) {
    return [...include];
  }
  return include.map((name) => renameDatabase(name, sourceDatabase, targetDatabase));
}

/** The target's inventory under the source's names, so it compares with the manifest (see includeOnTarget). */
export function inventoryAsSource<T extends Inventory>(inventory: T, engine: string, sourceDatabase?: string, targetDatabase?: string): T {
  if (
    !(RENAMABLE_ENGINES as readonly string[]).includes(engine) ||
    !sourceDatabase ||
    !targetDatabase ||
    sourceDatabase === targetDatabase
  ) {
    return inventory;
  }
  return { ...inventory, entries: inventory.entries.map((e) => ({ ...e, name: renameDatabase(e.name, targetDatabase, sourceDatabase) })) };
}

/**
 * How far a count may drift when the manifest says `exact: false` (counted outside the dump's snapshot, as for
 * Redis, where keys are written and expire between the count and the RDB): 2% of the expected count or 10,
 * whichever is larger. With `exact: true` the counts must be equal.
 */
export function countTolerance(expected: number): number {
  return Math.max(10, Math.ceil(expected * 0.02));
}

export interface CompareOptions {
  readonly include?: readonly string[];
  readonly engine: string;
  /** Report objects the manifest does not know (a throwaway engine holds nothing else; a shared target may). */
  readonly extrasAreMismatches?: boolean;
}

/** Compares an inventory taken after a restore with the manifest's. An empty result means they agree. */
export function compareInventory(expected: Inventory, actual: Inventory, options: CompareOptions): Mismatch[] {
  const include = options.include ?? [];
  const wanted = expected.entries.filter((e) => isIncluded(e.name, include, options.engine));
  const byName = new Map<string, InventoryEntry>(actual.entries.map((e) => [e.name, e]));
  const mismatches: Mismatch[] = [];
  for (const entry of wanted) {
    const found = byName.get(entry.name);
    // Manifests written before views were listed counted them; a view is no longer run, so it compares by presence.
    if (!isCounted(entry) || entry.kind === 'view') {
      const listed = compareListed(entry, found);
      if (listed) {
        mismatches.push(listed);
      }
      continue;
    }
    const ok =
      found !== undefined &&
      isCounted(found) &&
      (expected.exact ? found.count === entry.count : Math.abs(found.count - entry.count) <= countTolerance(entry.count));
    // Redis selective restores bring back a subset of a keyspace: only "more than was dumped" is wrong there.
    const subsetOk =
      options.engine === 'redis' &&
      include.length > 0 &&
      found !== undefined &&
      (found.count ?? 0) <= entry.count + countTolerance(entry.count);
    if (!ok && !subsetOk && !(entry.count === 0 && found === undefined && options.engine === 'redis')) {
      mismatches.push({ name: entry.name, expected: entry.count, actual: found?.count ?? null });
    }
  }
  if (options.extrasAreMismatches) {
    const known = new Set(expected.entries.map((e) => e.name));
    for (const entry of actual.entries) {
      if (!known.has(entry.name) && (entry.count ?? 1) > 0 && isIncluded(entry.name, include, options.engine)) {
        mismatches.push({
          name: entry.name,
          expected: null,
          actual: entry.count ?? null,
          ...(isCounted(entry) ? {} : { detail: `${entry.kind} not in the backup` }),
        });
      }
    }
  }
  return mismatches;
}

/** A listed entry (view, unpopulated materialized view) compares by presence, definition and populated state. */
function compareListed(entry: InventoryEntry, found: InventoryEntry | undefined): Mismatch | undefined {
  const mismatch = (detail: string): Mismatch => ({ name: entry.name, expected: null, actual: found?.count ?? null, detail });
  if (!found) {
    return mismatch(`${entry.kind} missing`);
  }
  if (entry.definitionSha256 && found.definitionSha256 && entry.definitionSha256 !== found.definitionSha256) {
    return mismatch(
      `${entry.kind} definition differs (sha256 ${entry.definitionSha256.slice(0, 12)}… expected, ${found.definitionSha256.slice(0, 12)}… found)`,
    );
  }
  if (entry.populated === false && found.populated === true) {
    return mismatch('materialized view was unpopulated in the backup but is populated');
  }
  return undefined;
}
