/**
 * The lock lives in contracts/lock.ts since the long-running log streamer (tasks/src/commands/stream-logs.ts)
 * holds the archiving lock as a lease too; the functions keep importing it from here.
 */
export * from '../../contracts/lock';
