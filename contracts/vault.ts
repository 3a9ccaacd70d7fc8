import * as z from 'zod';
import { DATABASE_NAME, ENGINES, NAME_SOURCE } from './engines';

/**
 * The vault contract: where every object lives and what its JSON records look like. The dump task, every
 * Lambda, the local runtime and the tests import these; nobody builds a key or parses a record by hand.
 *
 *   backups/<database>/<yyyy>/<mm>/<dd>/<backupId>/data.<format>.zst
 *   backups/<database>/<yyyy>/<mm>/<dd>/<backupId>/roles.sql.zst        PostgreSQL: the cluster's roles (pg_dumpall --roles-only)
 *   backups/<database>/<yyyy>/<mm>/<dd>/<backupId>/manifest.json      written last: the backup exists once this does
 *   backups/<database>/<yyyy>/<mm>/<dd>/<backupId>/verification.json
 *   backups/<database>/<yyyy>/<mm>/<dd>/<backupId>/drill.json
 *   backups/<database>/<yyyy>/<mm>/<dd>/<backupId>/failure.json       a failed dump's report (no manifest beside it)
 *   locks/<database>.json
 *   index/<database>/latest-verified.json                              pointer kept by Verify, read by the watchdog
 *   logs/<database>/<kind>/<yyyy>/<mm>/<dd>/<segmentId>/data.<kind>.zst  a log segment (contracts/logs.ts)
 *   logs/<database>/<kind>/<yyyy>/<mm>/<dd>/<segmentId>/manifest.json    written last: the segment exists once this does
 *   logs/<database>/<kind>/<yyyy>/<mm>/<dd>/<segmentId>/verification.json  the task's read-back and stock-tool parse
 *   index/<database>/log-cursor.json                                   where the next archiving run starts
 *   bases/<database>/<yyyy>/<mm>/<dd>/<baseId>/{base.tar.zst,backup_manifest,manifest.json}  PostgreSQL base backups (contracts/wal.ts)
 *   restores/<database>/<time>.json                                    audit trail of console restores
 *   restores/<database>/task-errors/<execution name>.json              a failed restore task's own error line
 */

export { DATABASE_NAME };
export const BACKUP_KINDS = ['full'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];
export const ARTIFACT_FORMATS = ['pgdump', 'sql', 'rdb', 'redis-logical', 'mongo-archive'] as const;
export type ArtifactFormat = (typeof ARTIFACT_FORMATS)[number];

const BACKUP_ID = new RegExp(`^(${NAME_SOURCE})-(\\d{8}T\\d{6}Z)-([a-z]+)$`);

export const DatabaseNameSchema = z
  .string()
  .regex(DATABASE_NAME, { error: 'expected a database name of lowercase letters, digits and "-", starting with a letter' });
export const BackupIdSchema = z.string().regex(BACKUP_ID, { error: 'expected a backupId "<database>-<yyyymmddThhmmssZ>-<kind>"' });

/** `2026-11-21T03:04:05.678Z` -> `20261121T030405Z`. Seconds resolution: one backup per database per second. */
export function compactTimestamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

export function mintBackupId(database: string, kind: BackupKind, at: Date): string {
  return `${database}-${compactTimestamp(at)}-${kind}`;
}

export interface ParsedBackupId {
  readonly database: string;
  readonly kind: string;
  readonly takenAt: Date;
}

export function parseBackupId(backupId: string): ParsedBackupId {
  const match = BACKUP_ID.exec(backupId);
  if (!match) {
    throw new Error(`"${backupId}" is not a backupId; expected "<database>-<yyyymmddThhmmssZ>-<kind>"`);
  }
  const t = match[2];
  // Built from numbers rather than an ISO string: retention parses every backupId in the vault, and string
  // date parsing dominated its run time.
  const n = (from: number, to: number) => Number(t.slice(from, to));
  const takenAt = new Date(Date.UTC(n(0, 4), n(4, 6) - 1, n(6, 8), n(9, 11), n(11, 13), n(13, 15)));
  return { database: match[1], kind: match[3], takenAt };
}

export function databasePrefix(database: string): string {
  return `backups/${database}/`;
}

/** The folder of one backup; the date folders come from the backupId, so the id alone locates it. */
export function backupPrefix(backupId: string): string {
  const { database, takenAt } = parseBackupId(backupId);
  const yyyy = takenAt.getUTCFullYear().toString();
  const mm = String(takenAt.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(takenAt.getUTCDate()).padStart(2, '0');
  return `${databasePrefix(database)}${yyyy}/${mm}/${dd}/${backupId}/`;
}

/** Log kinds by how the engine names its change log: MySQL/MariaDB binary logs, PostgreSQL WAL. */
export const LOG_KINDS = ['binlog', 'wal'] as const;
export type LogKind = (typeof LOG_KINDS)[number];

/** Server log file names as the engines write them (`binlog.000042`, `000000010000000000000003`). */
export const LOG_FILE_NAME = /^[A-Za-z0-9._-]{1,200}$/;
/** A point in the server's log: the file and the byte offset in it (re-exported by contracts/logs.ts). */
export const LogCoordinatesSchema = z.strictObject({
  file: z.string().regex(LOG_FILE_NAME, { error: 'expected a log file name' }),
  position: z.number().int().min(0),
});

const SEGMENT_ID = new RegExp(`^(${NAME_SOURCE})-(\\d{8}T\\d{6}Z)-(${LOG_KINDS.join('|')})-([A-Za-z0-9._-]{1,200})-(\\d+)$`);

export const SegmentIdSchema = z
  .string()
  .regex(SEGMENT_ID, { error: 'expected a segmentId "<database>-<yyyymmddThhmmssZ>-<kind>-<server file>-<start position>"' });

/**
 * A segment is named by the archiving run's start and the server coordinates it starts at, so ids sort by
 * time within a run's date folder and two segments of one run (a closed file and the next file's tail) differ.
 */
export function mintSegmentId(database: string, kind: LogKind, at: Date, serverFile: string, startPosition: number): string {
  if (!LOG_FILE_NAME.test(serverFile)) {
    throw new Error(`"${serverFile}" is not a log file name; expected letters, digits, ".", "_" or "-"`);
  }
  return `${database}-${compactTimestamp(at)}-${kind}-${serverFile}-${startPosition}`;
}

export interface ParsedSegmentId {
  readonly database: string;
  readonly kind: LogKind;
  readonly archivedAt: Date;
  readonly serverFile: string;
  readonly startPosition: number;
}

export function parseSegmentId(segmentId: string): ParsedSegmentId {
  const match = SEGMENT_ID.exec(segmentId);
  if (!match) {
    throw new Error(`"${segmentId}" is not a segmentId; expected "<database>-<yyyymmddThhmmssZ>-<kind>-<server file>-<start position>"`);
  }
  const { takenAt } = parseBackupId(`${match[1]}-${match[2]}-full`);
  return { database: match[1], kind: match[3] as LogKind, archivedAt: takenAt, serverFile: match[4], startPosition: Number(match[5]) };
}

export function logsPrefix(database: string, kind?: LogKind): string {
  return kind ? `logs/${database}/${kind}/` : `logs/${database}/`;
}

/** The folder of one segment; like a backup's, the date folders come from the id. */
export function segmentPrefix(segmentId: string): string {
  const { database, kind, archivedAt } = parseSegmentId(segmentId);
  const day = archivedAt.toISOString().slice(0, 10).replace(/-/g, '/');
  return `${logsPrefix(database, kind)}${day}/${segmentId}/`;
}

/**
 * The key layout every vault folder kind shares, `<root>/<database>/[<kind>/]YYYY/MM/DD/<id>/<file>`: a matcher
 * that yields the folder id and the file, or undefined for any other key. `kinds` adds the kind level (logs/).
 */
export function folderKeyMatcher(root: string, kinds?: readonly string[]): (key: string) => { id: string; file: string } | undefined {
  const kind = kinds ? `(?:${kinds.join('|')})/` : '';
  const pattern = new RegExp(`^${root}/${NAME_SOURCE}/${kind}\\d{4}/\\d{2}/\\d{2}/([^/]+)/([^/]+)$`);
  return (key) => {
    const match = pattern.exec(key);
    return match ? { id: match[1], file: match[2] } : undefined;
  };
}

const segmentKey = folderKeyMatcher('logs', LOG_KINDS);

/** Which record a key under `logs/` is, or undefined for anything else. */
export function classifySegmentKey(key: string): { segmentId: string; file: string } | undefined {
  const found = segmentKey(key);
  return found && { segmentId: found.id, file: found.file };
}

export const keys = {
  artifact: (backupId: string, format: ArtifactFormat) => `${backupPrefix(backupId)}data.${format}.zst`,
  /** PostgreSQL only: `pg_dumpall --roles-only` output (see ManifestSchema.roles). */
  roles: (backupId: string) => `${backupPrefix(backupId)}roles.sql.zst`,
  manifest: (backupId: string) => `${backupPrefix(backupId)}manifest.json`,
  verification: (backupId: string) => `${backupPrefix(backupId)}verification.json`,
  drill: (backupId: string) => `${backupPrefix(backupId)}drill.json`,
  failure: (backupId: string) => `${backupPrefix(backupId)}failure.json`,
  lock: (database: string) => `locks/${database}.json`,
  /** The log-archiving runs' own lock: a backup never waits for an archiving run, two archiving runs never overlap. */
  logLock: (database: string) => `locks/logs/${database}.json`,
  latestVerified: (database: string) => `index/${database}/latest-verified.json`,
  latestDrill: (database: string) => `index/${database}/latest-drill.json`,
  /** A log segment's data: the server's own log bytes, zstd-compressed (see contracts/logs.ts). */
  segmentData: (segmentId: string) => `${segmentPrefix(segmentId)}data.${parseSegmentId(segmentId).kind}.zst`,
  segmentManifest: (segmentId: string) => `${segmentPrefix(segmentId)}manifest.json`,
  /** The archiving task's read-back of a segment (contracts/logs.ts SegmentVerificationSchema). */
  segmentVerification: (segmentId: string) => `${segmentPrefix(segmentId)}verification.json`,
  /** The log archiver's cursor (LogCursorSchema): where the next run starts, and whether the chain is intact. */
  logCursor: (database: string) => `index/${database}/log-cursor.json`,
  restoreAudit: (database: string, at: Date) => `restores/${database}/${at.toISOString()}.json`,
  /** Written by a failed restore task, read by the restore's NotifyFailure (see RestoreTaskErrorSchema). */
  restoreTaskErrorPrefix: (database: string) => `restores/${database}/task-errors/`,
  restoreTaskError: (database: string, executionName: string) => `restores/${database}/task-errors/${executionName}.json`,
} as const;

/**
 * The object tag that names a backup's highest GFS slot (weekly, monthly, yearly). Retention sets it; the
 * vault's lifecycle rules move objects to colder storage classes by it.
 */
export const TIER_TAG = 'strongbox:tier';

const backupKey = folderKeyMatcher('backups');

/** Which record a key under `backups/` is, or undefined for anything else. */
export function classifyKey(key: string): { backupId: string; file: string } | undefined {
  const found = backupKey(key);
  return found && { backupId: found.id, file: found.file };
}

const isoDate = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, { error: 'expected a lowercase hex SHA-256' });

export const INVENTORY_KINDS = ['table', 'view', 'matview', 'keyspace', 'collection'] as const;

/**
 * One object of a backup. Entries are either *counted* (`count` set: base tables, populated materialized views,
 * keyspaces, collections) or *listed* (`count` absent: views and unpopulated materialized views). A backup reads
 * data and never runs the application's queries, so a view is recorded by name and by a hash of its definition,
 * and is compared that way after a restore, never executed.
 */
export const InventoryEntrySchema = z.strictObject({
  /** `schema.table` (PostgreSQL), `database.table` (MySQL), `db<N>` (Redis), `database.collection` (MongoDB). */
  name: z.string().min(1),
  kind: z.enum(INVENTORY_KINDS),
  /** Rows or keys; absent for listed entries (views, unpopulated materialized views). */
  count: z.number().int().min(0).optional(),
  /** Materialized views only: false for one created WITH NO DATA (it cannot be counted, and restores unpopulated). */
  populated: z.boolean().optional(),
  /** Views and materialized views: SHA-256 of the definition as the engine prints it. */
  definitionSha256: z
    .string()
    .regex(/^[a-f0-9]{64}$/)
    .optional(),
});
export type InventoryEntry = z.infer<typeof InventoryEntrySchema>;

/** Whether an entry carries a count to compare (see InventoryEntrySchema). */
export function isCounted(entry: InventoryEntry): entry is InventoryEntry & { count: number } {
  return entry.count !== undefined;
}

export const InventorySchema = z.strictObject({
  /** True when the counts were taken in the dump's own snapshot, so a restore must match them exactly. */
  exact: z.boolean(),
  entries: z.array(InventoryEntrySchema),
});
export type Inventory = z.infer<typeof InventorySchema>;

export const LogPositionSchema = z
  .strictObject({
    lsn: z.string().optional(),
    binlogFile: z.string().optional(),
    binlogPosition: z.number().int().optional(),
    gtid: z.string().optional(),
  })
  .describe('Where the engine exposes one: PostgreSQL LSN, MySQL/MariaDB binlog coordinates or GTID.');

export const ManifestSchema = z.strictObject({
  schemaVersion: z.literal(1),
  backupId: BackupIdSchema,
  database: DatabaseNameSchema,
  kind: z.enum(BACKUP_KINDS),
  trigger: z.string().min(1),
  engine: z.strictObject({
    name: z.enum(ENGINES),
    serverVersion: z.string().min(1),
  }),
  tool: z.strictObject({
    name: z.string().min(1),
    version: z.string().min(1),
    /** The exact argv, which never holds a secret: credentials travel by environment or option files. */
    args: z.array(z.string()),
  }),
  artifact: z.strictObject({
    key: z.string().min(1),
    format: z.enum(ARTIFACT_FORMATS),
    bytes: z.number().int().min(0),
    sha256: sha256Hex,
    uncompressedBytes: z.number().int().min(0),
    compression: z.strictObject({ algorithm: z.literal('zstd'), level: z.number().int() }),
    parts: z.number().int().min(1),
    partSizeBytes: z.number().int().min(1),
  }),
  startedAt: isoDate,
  finishedAt: isoDate,
  durationSeconds: z.number().min(0),
  throughputMBps: z.number().min(0),
  position: LogPositionSchema.optional(),
  inventory: InventorySchema,
  /**
   * Accounts the backup's objects name and a target must have before a restore writes anything: PostgreSQL
   * owners and ACL grantees (`roles`), MySQL/MariaDB DEFINER accounts of views, triggers, routines and events
   * (`definers`, as `'user'@'host'`). Absent in manifests written before these were recorded.
   */
  requires: z
    .strictObject({
      roles: z.array(z.string()).optional(),
      definers: z.array(z.string()).optional(),
    })
    .optional(),
  /**
   * PostgreSQL: the cluster's role definitions (`pg_dumpall --roles-only`), a second artifact with its own
   * checksum, because roles are global objects that pg_dump never carries.
   */
  roles: z
    .strictObject({
      key: z.string().min(1),
      bytes: z.number().int().min(0),
      sha256: sha256Hex,
      uncompressedBytes: z.number().int().min(0),
      /** Whether the role passwords were left out (`--no-role-passwords`, where the server does not let them be read). */
      passwordsOmitted: z.boolean(),
    })
    .optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** One difference between a manifest's inventory and a restored one; `detail` explains listed entries (views). */
export const MismatchSchema = z.strictObject({
  name: z.string(),
  expected: z.number().nullable(),
  actual: z.number().nullable(),
  detail: z.string().optional(),
});
export type Mismatch = z.infer<typeof MismatchSchema>;

/** One line per mismatch, for drill and restore reports. */
export function describeMismatch(m: Mismatch): string {
  return m.detail ? `${m.name}: ${m.detail}` : `${m.name}: expected ${m.expected ?? 'nothing'}, found ${m.actual ?? 'nothing'}`;
}

export const VerificationSchema = z.strictObject({
  schemaVersion: z.literal(1),
  backupId: BackupIdSchema,
  verified: z.boolean(),
  verifiedAt: isoDate,
  /** How the checksum was established: S3's stored full-object checksum, or a streamed re-read. */
  method: z.enum(['s3-checksum', 'reread']),
  bytes: z.number().int().min(0),
  sha256: sha256Hex,
  problems: z.array(z.string()),
});
export type Verification = z.infer<typeof VerificationSchema>;

export const DrillRecordSchema = z.strictObject({
  schemaVersion: z.literal(1),
  backupId: BackupIdSchema,
  passed: z.boolean(),
  drilledAt: isoDate,
  restoreSeconds: z.number().min(0),
  mismatches: z.array(MismatchSchema),
  checks: z.array(z.strictObject({ name: z.string(), passed: z.boolean(), detail: z.string().optional() })),
  // --- Chain drill (issue 12 step 6) ---
  /**
   * A chain drill: after restoring `backupId` the log was replayed up to the coordinates of the next full dump,
   * and the result compared with that dump's exact inventory. `restoreSeconds` includes the replay. Absent for a
   * single-dump drill, and in every record written before chain drills.
   */
  replay: z
    .strictObject({
      /** The next full dump: its coordinates end the replay, its inventory is the expected one. */
      toBackupId: BackupIdSchema,
      from: LogCoordinatesSchema,
      to: LogCoordinatesSchema,
      segmentIds: z.array(SegmentIdSchema),
      /** Compressed bytes of the segments downloaded. */
      bytes: z.number().int().min(0),
      /** The replay phase alone (download, checksum, decompress, replay), part of restoreSeconds. */
      replaySeconds: z.number().min(0),
    })
    .optional(),
  // --- PostgreSQL chain drill (issue 13 step 6) ---
  /**
   * A PostgreSQL chain drill: after restoring `backupId`, the base `baseId` was recovered with the archived WAL to the
   * LSN `backupId` recorded, counted exactly and compared with `backupId`'s exact inventory. `restoreSeconds` includes
   * `recoverySeconds`. Absent for other drills, and in every record written before PostgreSQL chain drills.
   */
  recovery: z
    .strictObject({
      /** The base backup (contracts/wal.ts BaseIdSchema, `<database>-<yyyymmddThhmmssZ>-base`; wal.ts imports this module). */
      baseId: BackupIdSchema,
      /** The dump's LSN, `recovery_target_lsn`. */
      targetLsn: z.string().min(1),
      /** The promoted server's first LSN: replay ended just before it. Absent when recovery failed. */
      reachedLsn: z.string().min(1).optional(),
      /** WAL files restore_command delivered, in order (each checked against its segment's SHA-256). */
      walFiles: z.array(z.string()),
      /** `pg_verifybackup -n` of the extracted base against PostgreSQL's own backup_manifest; absent when it did not run. */
      verifybackup: z.strictObject({ passed: z.boolean(), detail: z.string().optional() }).optional(),
      /** `pg_amcheck --heapallindexed` of the recovered cluster; absent when it did not run. */
      amcheck: z.strictObject({ passed: z.boolean(), detail: z.string().optional() }).optional(),
      /** The recovered cluster's counts against the dump's exact inventory. */
      mismatches: z.array(MismatchSchema),
      /** The recovery phase (download, extract, replay, promote; pg_verifybackup excluded), part of restoreSeconds. */
      recoverySeconds: z.number().min(0),
    })
    .optional(),
});
export type DrillRecord = z.infer<typeof DrillRecordSchema>;

export const FailureRecordSchema = z.strictObject({
  schemaVersion: z.literal(1),
  backupId: BackupIdSchema,
  failedAt: isoDate,
  phase: z.enum(['connect', 'dump', 'upload', 'manifest']),
  message: z.string(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  stderrTail: z.string(),
});
export type FailureRecord = z.infer<typeof FailureRecordSchema>;

/**
 * A failed restore task's own error, keyed by the execution that ran it. ECS reports a failed RunTask .sync to
 * Step Functions as DescribeTasks output (exit code, stop reason), which the container cannot put its words
 * into; so the task writes them here and the restore's NotifyFailure reads them back for the execution's
 * cause, the audit record and chat. The restore role may write nothing else in the vault but drill.json.
 */
export const RestoreTaskErrorSchema = z.strictObject({
  schemaVersion: z.literal(1),
  database: DatabaseNameSchema,
  executionName: z.string().min(1),
  backupId: BackupIdSchema.optional(),
  failedAt: isoDate,
  /** The task's error class, such as ChecksumMismatchError or TargetNotEmptyError. */
  errorType: z.string().min(1),
  /** The task's error line (its message), never a stack trace. */
  message: z.string(),
  /** The engine tool's last stderr lines, when a tool failed. */
  stderrTail: z.string().optional(),
});
export type RestoreTaskError = z.infer<typeof RestoreTaskErrorSchema>;

export const LockSchema = z.strictObject({
  database: DatabaseNameSchema,
  backupId: BackupIdSchema,
  owner: z.string().min(1).describe('The execution that holds the lock.'),
  acquiredAt: isoDate,
  expiresAt: isoDate,
});
export type Lock = z.infer<typeof LockSchema>;

export const LatestVerifiedSchema = z.strictObject({
  database: DatabaseNameSchema,
  backupId: BackupIdSchema,
  takenAt: isoDate,
  verifiedAt: isoDate,
  bytes: z.number().int().min(0),
});
export type LatestVerified = z.infer<typeof LatestVerifiedSchema>;

/** `index/<db>/latest-drill.json`: the newest completed drill, kept by the drill Report, read by the watchdog. */
export const LatestDrillSchema = z.strictObject({
  database: DatabaseNameSchema,
  backupId: BackupIdSchema,
  drilledAt: isoDate,
  passed: z.boolean(),
});
export type LatestDrill = z.infer<typeof LatestDrillSchema>;
