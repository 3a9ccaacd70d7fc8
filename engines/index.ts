import type { EngineAdapter } from './engine';
import { mongodbAdapter } from './mongodb/adapter';
import { mysqlAdapter } from './mysql/adapter';
import { postgres } from './postgres/adapter';
import { redisAdapter } from './redis/adapter';

export const ADAPTERS: Readonly<Record<'postgres' | 'mysql' | 'mariadb' | 'redis' | 'mongodb', EngineAdapter>> = {
  postgres,
  mysql: mysqlAdapter,
  mariadb: mysqlAdapter,
  redis: redisAdapter,
  mongodb: mongodbAdapter,
};
