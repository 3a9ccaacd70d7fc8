/**
 * What a PostgreSQL point-in-time restore needs of the task's disk (issue #13). The task recovers inside itself:
 * the base backup is extracted into a data directory as large as the cluster was when the base was taken, WAL is
 * replayed into it (PostgreSQL recycles its segments as it goes, within the max_wal_size the recovered server
 * runs with), and only then is the recovered database delivered logically into the target. A selective or
 * parallel delivery (`include`, pg_restore --jobs) also writes pg_dump's archive to disk first, about as large as
 * the database again. All of that is Fargate ephemeral storage, which has a hard ceiling: a database whose
 * recorded size cannot fit is refused at Resolve, before any byte is fetched, instead of failing hours into a
 * restore with "No space left on device".
 */

const GIB = 1024 ** 3;

/** pg_create_restore_point takes names of up to 63 bytes (MAXFNAMELEN - 1). */
export const RESTORE_POINT_NAME_BYTES = 63;

/**
 * Fargate ephemeral storage (ECS `ephemeralStorage.sizeInGiB`, Linux platform 1.4.0 or later): 20 GiB when the task
 * definition sets none, 21 to 200 GiB when it does (AWS ECS API reference, EphemeralStorage).
 */
export const FARGATE_EPHEMERAL_STORAGE_GIB = { default: 20, min: 21, max: 200 } as const;

/** The recovered server's max_wal_size (engines/postgres/recovery.ts): pg_wal can hold about this much during replay. */
export const RECOVERY_WAL_GIB = 4;

/** Room for the container image's own writes, the restore_command's partial file and filesystem overhead. */
export const RECOVERY_HEADROOM = 0.1;

/**
 * Bytes of local disk a recovery of a cluster of `clusterBytes` needs: the data directory, pg_wal during replay,
 * pg_dump's archive when the delivery needs a file (`databaseBytes`, the restored database's own size), and headroom.
 */
export function recoveryDiskBytes(clusterBytes: number, delivery: { readonly file: boolean; readonly databaseBytes?: number }): number {
  const archive = delivery.file ? (delivery.databaseBytes ?? clusterBytes) : 0;
  return Math.ceil((clusterBytes + archive + RECOVERY_WAL_GIB * GIB) * (1 + RECOVERY_HEADROOM));
}

const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;

/**
 * Why a recovery of this size cannot run in a task with `ephemeralGiB` of storage, or undefined when it fits.
 * One sentence naming the sizes and the way out (a smaller selection cannot shrink the cluster: only a restore of a
 * logical backup or raising the task's storage can).
 */
export function recoveryDiskRefusal(input: {
  readonly database: string;
  readonly clusterBytes: number;
  readonly databaseBytes?: number;
  readonly file: boolean;
  readonly ephemeralGiB: number;
}): string | undefined {
  const needed = recoveryDiskBytes(input.clusterBytes, { file: input.file, databaseBytes: input.databaseBytes });
  if (needed <= input.ephemeralGiB * GIB) {
    return undefined;
  }
  const ceiling = FARGATE_EPHEMERAL_STORAGE_GIB.max;
  const way =
    input.ephemeralGiB < ceiling && needed <= ceiling * GIB
      ? `raise the restore task's ephemeral storage to at least ${Math.ceil(needed / GIB)} GiB (Fargate allows up to ${ceiling} GiB)`
      : `it exceeds Fargate's ${ceiling} GiB ephemeral-storage ceiling, so restore a logical backup (backupId or pointInTime without replay) instead`;
  return `a point-in-time recovery of "${input.database}" needs about ${gib(needed)} of task disk (cluster ${gib(input.clusterBytes)} at its base backup${input.file ? ', plus the pg_dump archive a selective or parallel delivery writes' : ''}, ${RECOVERY_WAL_GIB} GiB of WAL and ${RECOVERY_HEADROOM * 100}% headroom) but the restore task has ${input.ephemeralGiB} GiB; ${way}`;
}
