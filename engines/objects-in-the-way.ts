import { isIncluded } from '../contracts/inventory';
import type { Connection } from './connection';
import type { EngineAdapter } from './engine';

/**
 * The target check of engines that count named objects (tables, views...): the objects among those being
 * restored that the target already has, as a phrase for the guard's refusal. An existing table is in the way
 * even when empty: the restore would fail on it or mix with it.
 */
export async function objectsInTheWay(
  adapter: Pick<EngineAdapter, 'name' | 'inventory'>,
  connection: Connection,
  include: readonly string[],
): Promise<string | undefined> {
  let inventory: Awaited<ReturnType<EngineAdapter['inventory']>>;
  try {
    inventory = await adapter.inventory(connection);
  } catch (error) {
    // A database that does not exist yet is the emptiest target there is; the adapter creates it.
    if (/does not exist|unknown database/i.test(error instanceof Error ? error.message : String(error))) {
      return undefined;
    }
    throw error;
  }
  const present = inventory.entries.filter((e) => isIncluded(e.name, include, adapter.name));
  if (present.length === 0) {
    return undefined;
  }
  const noun = present.length === 1 ? 'object' : 'objects';
  return `${present.length} existing ${noun}, such as ${present
    .slice(0, 3)
    .map((e) => e.name)
    .join(', ')}`;
}
