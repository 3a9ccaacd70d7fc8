import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import type { LogCoordinates } from '../../contracts/logs';
import { formatLsn, parseLsn, WAL_FILE_NAME, WAL_SERVER_NEEDS } from '../../contracts/wal';
import { type Connection, requireUsername } from '../connection';
import { type RunningTool, startTool } from '../tools';
import { toolEnv } from './adapter';

/**
 * The PostgreSQL side of the physical chain: what the server offers (settings, the slot), reading WAL with the
 * stock `pg_receivewal`, and base backups with the stock `pg_basebackup`. Credentials go through libpq's
 * environment (PGPASSWORD), never argv.
 */

export interface WalServer {
  readonly serverVersion: string;
  readonly majorVersion: number;
  readonly walLevel: string;
  readonly maxWalSenders: number;
  readonly maxReplicationSlots: number;
  /** `-1` (unlimited, PostgreSQL's default) or a size such as `10GB`. */
  readonly maxSlotWalKeepSize: string;
  /** The connecting role may open replication connections (REPLICATION or superuser). */
  readonly replication: boolean;
  readonly inRecovery: boolean;
  readonly segmentBytes: number;
  /** The current timeline, from the name of the WAL file being written. */
  readonly timeline: number;
}

export async function readWalServer(client: Client): Promise<WalServer> {
  const row = (
    await client.query<{
      version: string;
      num: string;
      wal_level: string;
      senders: string;
      slots: string;
      keep: string;
      replication: boolean;
      recovery: boolean;
      segment: string;
      timeline: string | null;
    }>(
      `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
         current_setting('wal_level') AS wal_level, current_setting('max_wal_senders') AS senders,
         current_setting('max_replication_slots') AS slots, current_setting('max_slot_wal_keep_size') AS keep,
         (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS replication,
         pg_is_in_recovery() AS recovery,
         (SELECT setting::bigint * CASE unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576 ELSE 1 END
            FROM pg_settings WHERE name = 'wal_segment_size')::text AS segment,
         CASE WHEN pg_is_in_recovery() THEN NULL ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END AS timeline`,
    )
  ).rows[0];
  return {
    serverVersion: row.version,
    majorVersion: Math.floor(Number(row.num) / 10000),
    walLevel: row.wal_level,
    maxWalSenders: Number(row.senders),
    maxReplicationSlots: Number(row.slots),
    maxSlotWalKeepSize: row.keep,
    replication: row.replication,
    inRecovery: row.recovery,
    segmentBytes: Number(row.segment),
    timeline: row.timeline ? Number.parseInt(row.timeline, 16) : 0,
  };
}

/** Every setting that stops archiving, each with its fix; empty when the server is ready. */
export function walServerProblems(server: WalServer): string[] {
  const problems: string[] = [];
  if (server.walLevel === 'minimal') {
    problems.push('wal_level is minimal: set wal_level=replica and restart the server');
  }
  if (!server.replication) {
    problems.push('the role has no REPLICATION attribute: ALTER ROLE <user> REPLICATION');
  }
  if (server.maxWalSenders < 2) {
    problems.push(`max_wal_senders is ${server.maxWalSenders}: set it to at least 2 and restart the server`);
  }
  if (server.maxReplicationSlots < 1) {
    problems.push(`max_replication_slots is ${server.maxReplicationSlots}: set it to at least 1 and restart the server`);
  }
  if (server.inRecovery) {
    problems.push('the server is a standby: point the database at the primary');
  }
  return problems.length > 0 ? [...problems, WAL_SERVER_NEEDS] : [];
}

/** Strongbox's slot as pg_replication_slots shows it, with the WAL it holds back on the server's disk. */
export interface SlotState {
  readonly exists: boolean;
  readonly restartLsn?: bigint;
  /** `reserved`, `extended`, `unreserved` (about to be lost) or `lost` (invalidated: its WAL is gone). */
  readonly walStatus?: string;
  readonly active: boolean;
  /** Bytes from the slot's restart_lsn to the current WAL position: what the server keeps for Strongbox. */
  readonly retainedBytes: number;
  readonly currentLsn: bigint;
  /** Where the server has flushed WAL to: what a replication connection can read right now. */
  readonly flushLsn: bigint;
}

export async function readSlot(client: Client, slot: string): Promise<SlotState> {
  const row = (
    await client.query<{
      current: string;
      flush: string;
      restart: string | null;
      status: string | null;
      active: boolean | null;
      retained: string | null;
      found: boolean;
    }>(
      `SELECT pg_current_wal_lsn()::text AS current, pg_current_wal_flush_lsn()::text AS flush,
         s.restart_lsn::text AS restart, s.wal_status AS status, s.active,
         pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint::text AS retained, s.slot_name IS NOT NULL AS found
       FROM (SELECT 1) AS one LEFT JOIN pg_replication_slots s ON s.slot_name = $1 AND s.slot_type = 'physical'`,
      [slot],
    )
  ).rows[0];
  return {
    exists: row.found,
    ...(row.restart && { restartLsn: parseLsn(row.restart) }),
    ...(row.status && { walStatus: row.status }),
    active: row.active ?? false,
    retainedBytes: Number(row.retained ?? 0),
    currentLsn: parseLsn(row.current),
    flushLsn: parseLsn(row.flush),
  };
}

/** Creates the physical slot reserving WAL from now on; returns its restart LSN. */
export async function createSlot(client: Client, slot: string): Promise<bigint> {
  const row = (await client.query<{ lsn: string }>('SELECT lsn::text AS lsn FROM pg_create_physical_replication_slot($1, true)', [slot]))
    .rows[0];
  return parseLsn(row.lsn);
}

export async function dropSlot(client: Client, slot: string): Promise<void> {
  await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]);
}

/** The slot's state, created first when it does not exist (a base backup or the first archiving run). */
export async function ensureSlot(client: Client, slot: string): Promise<SlotState> {
  const state = await readSlot(client, slot);
  if (state.exists) {
    return state;
  }
  await createSlot(client, slot);
  return readSlot(client, slot);
}

/**
 * Lets the server recycle WAL before `lsn`: called only once everything before it is in the vault (manifest and
 * cursor written), so a killed run never loses WAL the archive does not have.
 */
export async function advanceSlot(client: Client, slot: string, lsn: bigint): Promise<void> {
  await client.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [slot, formatLsn(lsn)]);
}

/** One WAL file `pg_receivewal` left in its directory. */
export interface ReceivedWal {
  readonly file: string;
  readonly path: string;
  /** A completed file; false for the `.partial` tail. */
  readonly closed: boolean;
}

export interface WalReceive {
  /** The WAL file to start with; streaming always starts at its offset 0, as pg_receivewal does. */
  readonly from: LogCoordinates;
  /** Where to stop: pg_receivewal exits once it has received WAL up to here (at most the server's flush LSN). */
  readonly endLsn: bigint;
  readonly directory: string;
  readonly segmentBytes: number;
}

/** The argv of one run; no secret in it. */
export function receiveArgs(connection: Connection, receive: WalReceive): string[] {
  return [
    '-D',
    receive.directory,
    // pg_receivewal stops once it has received WAL *past* --endpos; one byte before the end stops it at the end
    // itself, instead of waiting for the server's next record (seconds to minutes on a quiet server).
    `--endpos=${formatLsn(receive.endLsn - 1n)}`,
    '--no-loop',
    '--no-sync',
    '-h',
    connection.host,
    '-p',
    String(connection.port),
    '-U',
    requireUsername(connection, 'postgres'),
    '--no-password',
  ];
}

/**
 * Streams WAL from `from` to `endLsn` into `directory` with the stock pg_receivewal. It is started without
 * `--slot`: with one it reports what it flushed to local disk and the server would recycle that WAL before it is
 * in the vault, so a run killed before its upload would lose it. Instead it resumes the way it resumes itself,
 * from a `.partial` file of the start segment (full size, zeros) in its directory, and the caller advances the
 * slot once the vault holds the WAL.
 */
export async function receiveWal(connection: Connection, receive: WalReceive): Promise<{ files: ReceivedWal[]; args: string[] }> {
  const seed = join(receive.directory, `${receive.from.file}.partial`);
  writeFileSync(seed, '');
  truncateSync(seed, receive.segmentBytes);
  const args = receiveArgs(connection, receive);
  await startTool('pg_receivewal', args, { env: toolEnv(connection) }).succeeded();
  const files = readdirSync(receive.directory)
    .flatMap((name): ReceivedWal[] => {
      if (WAL_FILE_NAME.test(name)) {
        return [{ file: name, path: join(receive.directory, name), closed: true }];
      }
      const partial = /^([0-9A-F]{24})\.partial$/.exec(name);
      return partial ? [{ file: partial[1], path: join(receive.directory, name), closed: false }] : [];
    })
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { files, args };
}

/**
 * `pg_basebackup` of the whole cluster as one tar on stdout (the main tablespace; `-D -` refuses others), with
 * a fast checkpoint so it starts at once, and without WAL (`-X none`): the WAL from its start to its stop LSN is
 * archived from the slot like all other WAL, so the chain has one source of WAL and the tar stays the data only.
 * PostgreSQL adds its backup_manifest to the tar's end.
 */
export interface BaseBackupOptions {
  /** Where pg_basebackup writes base.tar.zst and backup_manifest; it must not exist yet (pg_basebackup creates it). */
  readonly directory: string;
  /** zstd level, as for dumps. */
  readonly level: number;
  /** zstd worker threads: the task's cores, as `zstd -T0` takes. */
  readonly workers: number;
}

/**
 * Tar format compressed by pg_basebackup itself (client-side zstd, the library zstd -T0 runs on), into a directory:
 * the uncompressed tar then crosses no pipe at all, and backup_manifest comes as a file of its own. Measured on a
 * 1.46 GB cluster, 2 cores: 6.4 s against 9.1-9.4 s for `pg_basebackup -D - | zstd -T0`; picking the manifest out
 * of that stream as it passed cost another 2.7 s (the tar copied once more through tee or Node, and read by tar).
 * `--no-sync`: the files live until they are uploaded, so syncing them to the task's disk would only cost time.
 */
export function baseBackupArgs(connection: Connection, options: BaseBackupOptions): string[] {
  return [
    '-D',
    options.directory,
    '-Ft',
    '-X',
    'none',
    '--checkpoint=fast',
    '--label=strongbox',
    '--no-sync',
    `--compress=client-zstd:level=${options.level},workers=${options.workers}`,
    '-h',
    connection.host,
    '-p',
    String(connection.port),
    '-U',
    requireUsername(connection, 'postgres'),
    '--no-password',
  ];
}

/** pg_basebackup finished but wrote no backup_manifest (a pre-13 server, or `--no-manifest` in the way). */
export class BaseBackupManifestMissingError extends Error {
  public constructor() {
    super('pg_basebackup wrote no backup_manifest; PostgreSQL 13 or later writes one, so check the server version');
    this.name = 'BaseBackupManifestMissingError';
  }
}

/** A running base backup: `archive` grows while `tool` runs; `manifest` exists once it succeeded. */
export interface BaseBackupRun {
  readonly tool: RunningTool;
  /** The compressed tar, written as the backup goes (followFile reads it meanwhile). */
  readonly archive: string;
  readonly manifest: string;
}

export function startBaseBackup(connection: Connection, options: BaseBackupOptions): BaseBackupRun {
  return {
    tool: startTool('pg_basebackup', baseBackupArgs(connection, options), { env: toolEnv(connection) }),
    archive: join(options.directory, 'base.tar.zst'),
    manifest: join(options.directory, 'backup_manifest'),
  };
}

/** backup_manifest's bytes, once pg_basebackup succeeded. */
export function readBackupManifest(run: BaseBackupRun): Buffer {
  try {
    return readFileSync(run.manifest);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BaseBackupManifestMissingError();
    }
    throw error;
  }
}

/** What the base's files hold (backup_manifest's sizes): the disk a recovery writes, the manifest's `uncompressedBytes`. */
export function backupFileBytes(backupManifest: string): number {
  const parsed = JSON.parse(backupManifest) as { Files?: { Size: number }[] };
  return (parsed.Files ?? []).reduce((sum, file) => sum + file.Size, 0);
}

/** The WAL range PostgreSQL's backup_manifest records: recovery starts at `start`, is consistent from `stop`. */
export interface BackupWalRange {
  readonly timeline: number;
  readonly startLsn: bigint;
  readonly stopLsn: bigint;
}

export function backupWalRange(backupManifest: string): BackupWalRange {
  const parsed = JSON.parse(backupManifest) as { 'WAL-Ranges'?: { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[] };
  const ranges = parsed['WAL-Ranges'] ?? [];
  const first = ranges[0];
  const last = ranges.at(-1);
  if (!first || !last) {
    throw new Error('backup_manifest has no WAL-Ranges; pg_basebackup of PostgreSQL 13 or later writes them');
  }
  return { timeline: last.Timeline, startLsn: parseLsn(first['Start-LSN']), stopLsn: parseLsn(last['End-LSN']) };
}
