import type { Engine } from '../../contracts/engines';

/**
 * Fargate ephemeral storage of a database's task definition when DumpTask is given none. PostgreSQL gets room for
 * pg_restore's local archive (`--jobs`, a selection) and for a point-in-time recovery, which extracts the base backup
 * and replays WAL on this disk; Resolve reads the same figure (STRONGBOX_POSTGRES_TASK_STORAGE_GIB) to refuse a
 * recovery that cannot fit.
 */
export function defaultTaskStorageGiB(engine: Engine): number {
  return engine === 'postgres' ? 100 : 21;
}
