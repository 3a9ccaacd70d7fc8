import type { Engine } from '../../contracts/engines';
import type { EngineAdapter } from '../../engines/engine';

/**
 * Each engine's adapter, loaded when a command needs it: a PostgreSQL backup never evaluates the MySQL or
 * Redis adapters and their drivers (engines/index.ts loads all of them; the drill, which lists every
 * drillable engine, still uses it). The same objects as ADAPTERS, which a test checks.
 */
const LOADERS: Readonly<Record<Engine, () => Promise<EngineAdapter>>> = {
  postgres: async () => (await import('../../engines/postgres/adapter')).postgres,
  mysql: async () => (await import('../../engines/mysql/adapter')).mysqlAdapter,
  mariadb: async () => (await import('../../engines/mysql/adapter')).mysqlAdapter,
  redis: async () => (await import('../../engines/redis/adapter')).redisAdapter,
  mongodb: async () => (await import('../../engines/mongodb/adapter')).mongodbAdapter,
};

export function loadAdapter(engine: Engine): Promise<EngineAdapter> {
  return LOADERS[engine]();
}
