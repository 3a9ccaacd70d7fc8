import type { EngineAdapter } from './engine';
import { mongodbAdapter } from './mongodb';
import { mysqlAdapter } from './mysql';
import { postgres } from './postgres';
import { redisAdapter } from './redis';

export const ADAPTERS: Readonly<Record<'postgres' | 'mysql' | 'mariadb' | 'redis' | 'mongodb', EngineAdapter>> = {
  postgres,
  mysql: mysqlAdapter,
  mariadb: mysqlAdapter,
  redis: redisAdapter,
  mongodb: mongodbAdapter,
};
