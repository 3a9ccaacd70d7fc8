import * as z from 'zod';
import { NAME_SOURCE } from './engines';
import type { FullPoint, LogCoordinates } from './logs';
import { compactTimestamp, DatabaseNameSchema, folderKeyMatcher, parseBackupId } from './vault';

/**
 * PostgreSQL's physical chain in the vault: base backups (`pg_basebackup -Ft -X none`) and WAL segments, the
 * WAL archived with the engine-neutral log contracts of contracts/logs.ts (kind `wal`). A recovery reads a base,
 * then the WAL from the base's start LSN on.
 *
 *   bases/<database>/<yyyy>/<mm>/<dd>/<baseId>/base.tar.zst       the main tablespace as pg_basebackup's tar (incl. backup_label)
 *   bases/<database>/<yyyy>/<mm>/<dd>/<baseId>/backup_manifest    PostgreSQL's own manifest, uncompressed, for pg_verifybackup
 *   bases/<database>/<yyyy>/<mm>/<dd>/<baseId>/manifest.json      written last: the base exists once this does
 *   logs/<database>/wal/<yyyy>/<mm>/<dd>/<segmentId>/data.wal.zst   one WAL segment file (SegmentManifest, kind `wal`)
 *   logs/<database>/wal/<yyyy>/<mm>/<dd>/<segmentId>/manifest.json
 *   index/<database>/log-cursor.json                               the archiver's cursor (LogCursor, kind `wal`)
 *
 * WAL segments in the log contracts: log coordinates are (WAL file name, byte offset in that file), so an LSN
 * maps to `{ file: 000000010000000A000000FF, position: lsn % walSegmentBytes }` (walCoordinates). Every WAL
 * segment object is a whole server WAL file from offset 0 (`startPosition` 0), zstd-compressed, exactly the
 * bytes `restore_command` must hand PostgreSQL under the file's own name:
 * - a completed file: `closed` true, `endPosition` = walSegmentBytes, `next` = the following file at 0;
 * - the tail (`pg_receivewal`'s `.partial`): `closed` false, `endPosition` = the offset archiving stopped at
 *   (bytes after it are zeros or unflushed), `next` = { same file, endPosition }. The zero padding stays in the
 *   object, so the decompressed tail is a full-size file, as recovery requires.
 * The next run archives that file again, from 0 and further: of segments with one start, the one reaching
 * furthest wins (contracts/logs.ts runsOf), so a reader picks, per WAL file, the manifest with the largest
 * `endPosition` (a closed one when there is one). WAL carries no event times here (`firstEventAt`/`lastEventAt`
 * absent): recovery itself stops at `recovery_target_time`. Timeline history files are not archived: one timeline.
 */

/** PostgreSQL's default WAL segment size; a server's own (`SHOW wal_segment_size`) is recorded in every manifest. */
export const DEFAULT_WAL_SEGMENT_BYTES = 16 * 1024 * 1024;

/** A WAL file name: timeline, then the segment number as two 8-digit hex halves. */
export const WAL_FILE_NAME = /^[0-9A-F]{24}$/;

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** `16/B374D848` -> its 64-bit position. */
export function parseLsn(text: string): bigint {
  const match = LSN_TEXT.exec(text);
  if (!match) {
    throw new Error(`"${text}" is not an LSN; expected PostgreSQL's "<hex>/<hex>", e.g. 0/3000028`);
  }
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Its 64-bit position -> `16/B374D848`, as PostgreSQL prints it. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The WAL file holding `lsn` on `timeline` (PostgreSQL's XLogFileName). */
export function walFileName(timeline: number, lsn: bigint, segmentBytes = DEFAULT_WAL_SEGMENT_BYTES): string {
  const segment = lsn / BigInt(segmentBytes);
  const perId = 0x100000000n / BigInt(segmentBytes);
  const hex = (n: bigint) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(BigInt(timeline))}${hex(segment / perId)}${hex(segment % perId)}`;
}

/** An LSN as log coordinates: its WAL file and the offset in it. */
export function walCoordinates(timeline: number, lsn: bigint, segmentBytes = DEFAULT_WAL_SEGMENT_BYTES): LogCoordinates {
  return { file: walFileName(timeline, lsn, segmentBytes), position: Number(lsn % BigInt(segmentBytes)) };
}

/** Log coordinates of a WAL file back to the LSN and timeline. */
export function lsnOfCoordinates(coordinates: LogCoordinates, segmentBytes = DEFAULT_WAL_SEGMENT_BYTES): { timeline: number; lsn: bigint } {
  if (!WAL_FILE_NAME.test(coordinates.file)) {
    throw new Error(`"${coordinates.file}" is not a WAL file name; expected 24 uppercase hex digits`);
  }
  const perId = 0x100000000n / BigInt(segmentBytes);
  const segment = BigInt(`0x${coordinates.file.slice(8, 16)}`) * perId + BigInt(`0x${coordinates.file.slice(16, 24)}`);
  return {
    timeline: Number.parseInt(coordinates.file.slice(0, 8), 16),
    lsn: segment * BigInt(segmentBytes) + BigInt(coordinates.position),
  };
}

/** The file after `file` on the same timeline. */
export function nextWalFile(file: string, segmentBytes = DEFAULT_WAL_SEGMENT_BYTES): string {
  const { timeline, lsn } = lsnOfCoordinates({ file, position: 0 }, segmentBytes);
  return walFileName(timeline, lsn + BigInt(segmentBytes), segmentBytes);
}

/** The physical replication slot Strongbox creates on the source and keeps WAL with: `strongbox_<database>`. */
export function walSlotName(database: string): string {
  return `strongbox_${database.replace(/-/g, '_')}`;
}

const BASE_ID = new RegExp(`^(${NAME_SOURCE})-(\\d{8}T\\d{6}Z)-base$`);
export const BaseIdSchema = z.string().regex(BASE_ID, { error: 'expected a baseId "<database>-<yyyymmddThhmmssZ>-base"' });

export function mintBaseId(database: string, at: Date): string {
  return `${database}-${compactTimestamp(at)}-base`;
}

export function basesPrefix(database: string): string {
  return `bases/${database}/`;
}

/** The folder of one base backup; the date folders come from the id. */
export function basePrefix(baseId: string): string {
  BaseIdSchema.parse(baseId);
  const { database, takenAt } = parseBackupId(baseId);
  return `${basesPrefix(database)}${takenAt.toISOString().slice(0, 10).replace(/-/g, '/')}/${baseId}/`;
}

export const baseKeys = {
  artifact: (baseId: string) => `${basePrefix(baseId)}base.tar.zst`,
  backupManifest: (baseId: string) => `${basePrefix(baseId)}backup_manifest`,
  manifest: (baseId: string) => `${basePrefix(baseId)}manifest.json`,
  /**
   * Verify's read-back of the base (BaseVerificationSchema). A base whose record says `passed: false` is not a
   * chain start; one without a record (not verified yet) still is, exactly like a segment without one.
   */
  verification: (baseId: string) => `${basePrefix(baseId)}verification.json`,
};

const baseKey = folderKeyMatcher('bases');

/** Which record of which base a key under `bases/` is, or undefined for anything else. */
export function classifyBaseKey(key: string): { baseId: string; file: string } | undefined {
  const found = baseKey(key);
  return found && { baseId: found.id, file: found.file };
}

const isoDate = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, { error: 'expected a lowercase hex SHA-256' });
const lsnText = z.string().regex(LSN_TEXT, { error: 'expected an LSN "<hex>/<hex>"' });
const walCoordinatesSchema = z.strictObject({ file: z.string().regex(WAL_FILE_NAME), position: z.number().int().min(0) });

/**
 * `manifest.json` of one base backup. Restorable from `stop` on: recovery replays the WAL from `start` (the
 * archive's segments, the tar holds none: `-X none`) at least to `stop`, where the copy becomes consistent.
 */
export const BaseBackupManifestSchema = z.strictObject({
  schemaVersion: z.literal(1),
  baseId: BaseIdSchema,
  database: DatabaseNameSchema,
  kind: z.literal('base'),
  trigger: z.string().min(1),
  engine: z.strictObject({ name: z.literal('postgres'), serverVersion: z.string().min(1), majorVersion: z.number().int().min(10) }),
  timeline: z.number().int().min(1),
  walSegmentBytes: z
    .number()
    .int()
    .min(1024 * 1024),
  /** From PostgreSQL's backup_manifest `WAL-Ranges`: where recovery starts and the first consistent point. */
  startLsn: lsnText,
  stopLsn: lsnText,
  /** The same as log coordinates (contracts/logs.ts): `start` is this base's position in the WAL chain. */
  start: walCoordinatesSchema,
  stop: walCoordinatesSchema,
  /** The slot that kept the WAL this base needs. */
  slot: z.string().min(1),
  artifact: z.strictObject({
    key: z.string().min(1),
    format: z.literal('tar'),
    bytes: z.number().int().min(0),
    sha256: sha256Hex,
    uncompressedBytes: z.number().int().min(0),
    compression: z.strictObject({ algorithm: z.literal('zstd'), level: z.number().int() }),
    parts: z.number().int().min(1),
    partSizeBytes: z.number().int().min(1),
  }),
  /** PostgreSQL's own backup_manifest (not inside the tar): `pg_verifybackup -m` checks the extracted tar with it. */
  backupManifest: z.strictObject({ key: z.string().min(1), bytes: z.number().int().min(0), sha256: sha256Hex }),
  tool: z.strictObject({ name: z.string().min(1), version: z.string().min(1), args: z.array(z.string()) }),
  startedAt: isoDate,
  /** When pg_basebackup finished: `stop` was written by then, so this is the base's own restorable instant. */
  finishedAt: isoDate,
  durationSeconds: z.number().min(0),
});
export type BaseBackupManifest = z.infer<typeof BaseBackupManifestSchema>;

/** `verification.json` beside a base's manifest: the stored tar against the manifest's size and SHA-256. */
export const BaseVerificationSchema = z.strictObject({
  schemaVersion: z.literal(1),
  baseId: BaseIdSchema,
  passed: z.boolean(),
  verifiedAt: isoDate,
  checks: z.strictObject({ bytes: z.boolean(), sha256: z.boolean(), backupManifest: z.boolean() }),
  /** The first check that failed, in words; absent when all passed. */
  reason: z.string().min(1).optional(),
});
export type BaseVerification = z.infer<typeof BaseVerificationSchema>;

/**
 * A base as the log chain sees it (contracts/logs.ts FullPoint): restorable from `finishedAt` (its stop was
 * written by then), and replay starts at its `start`, so the run of WAL segments holding `start` is its chain.
 */
export function basePointOf(base: Pick<BaseBackupManifest, 'baseId' | 'finishedAt' | 'start'>): FullPoint {
  return { backupId: base.baseId, at: new Date(base.finishedAt), position: base.start };
}

/** What a PostgreSQL server needs for base backups and WAL archiving, in the words of every message that mentions it. */
export const WAL_SERVER_NEEDS =
  'the server needs wal_level=replica (or logical), a login role with REPLICATION (or a superuser), max_wal_senders with 2 free senders and max_replication_slots with 1 free slot (Strongbox creates the physical slot strongbox_<database>), and pg_hba.conf allowing that role replication connections from the task; set max_slot_wal_keep_size (e.g. 2x the RetainedWalBytes alarm) so a stalled archiver cannot fill the disk';

/** RetainedWalBytes alarm threshold when `logs.retainedWalAlarmGiB` is not set. */
export const DEFAULT_RETAINED_WAL_ALARM_GIB = 8;

// --- Scheduled base backups (pg-base): the Verify pointer the watchdog reads ---

/** `index/<database>/latest-base.json`: the newest verified base, kept by the base Verify, read by the watchdog. */
export function latestBaseKey(database: string): string {
  return `index/${database}/latest-base.json`;
}

export const LatestBaseSchema = z.strictObject({
  database: DatabaseNameSchema,
  baseId: BaseIdSchema,
  /** The base's own restorable instant (its manifest's `finishedAt`), what newestRestorable starts from. */
  finishedAt: isoDate,
  verifiedAt: isoDate,
  bytes: z.number().int().min(0),
});
export type LatestBase = z.infer<typeof LatestBaseSchema>;
