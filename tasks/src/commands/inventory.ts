import { sourceConnection, targetConnection } from '../../../engines/connection';
import { loadAdapter } from '../adapters';
import type { TaskSettings } from '../env';
import type { TaskDeps } from './backup';

/** inventory: counts of the target when STRONGBOX_TARGET_HOST is set (after a restore), else of the source. */
export async function runInventory(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  const target =
    env.STRONGBOX_TARGET_HOST !== undefined || env.STRONGBOX_TARGET_NAME !== undefined || env.STRONGBOX_TARGET_PORT !== undefined;
  const connection = target ? await targetConnection(env, deps.readSecret) : await sourceConnection(env, deps.readSecret);
  const adapter = await loadAdapter(env.STRONGBOX_ENGINE);
  const inventory = await adapter.inventory(connection);
  return {
    command: 'inventory',
    ok: true,
    database: env.STRONGBOX_DATABASE,
    serverVersion: await adapter.serverVersion(connection),
    inventory,
  };
}
