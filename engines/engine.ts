import type { Readable } from 'node:stream';
import type { ArtifactFormat, Inventory, Manifest } from '../contracts/vault';
import type { Connection } from './connection';
import type { RunningTool } from './tools';

export type LogPosition = NonNullable<Manifest['position']>;

export interface DumpOptions {
  readonly redisMode: 'auto' | 'rdb' | 'logical';
}

/** A dump in progress: the producer's output plus what was learned while starting it. */
export interface DumpSession {
  readonly format: ArtifactFormat;
  readonly serverVersion: string;
  readonly tool: { readonly name: string; readonly version: string; readonly args: readonly string[] };
  /**
   * The uncompressed dump. `tool` is a child process whose stdout zstd takes over as its stdin fd; `stream` is
   * produced in Node (Redis logical mode) and piped into zstd.
   */
  readonly output: { readonly kind: 'tool'; readonly process: RunningTool } | { readonly kind: 'stream'; readonly stream: Readable };
  readonly inventory: Inventory;
  readonly position?: LogPosition;
  /** Engine's own size of the data, for the multipart part size. */
  readonly expectedBytes: number;
  /**
   * Accounts a restore target must have (PostgreSQL roles, MySQL/MariaDB DEFINER accounts), taken in the dump's
   * snapshot; goes to the manifest's `requires`, read after done().
   */
  readonly requires?: NonNullable<Manifest['requires']>;
  /**
   * A second artifact made once the dump has finished (PostgreSQL: the cluster's role definitions, which
   * pg_dump never carries), stored beside the dump through the same compression, checksum and upload.
   */
  readonly roles?: { readonly passwordsOmitted: boolean; start(): RunningTool };
  /** Reads the log position from the dump's first bytes (MySQL writes it as a comment at the top). */
  positionFromHead?(head: string): LogPosition | undefined;
  /** Resolves once the producer finished successfully; rejects with its error (ToolFailedError for tools). */
  done(): Promise<void>;
  /** Releases the snapshot and connections; called after success and after failure. */
  close(): Promise<void>;
}

export interface RestoreOptions {
  readonly format: ArtifactFormat;
  /** Schemas/tables (PostgreSQL), databases/tables (MySQL), key glob patterns (Redis logical); empty = all. */
  readonly include: readonly string[];
  readonly jobs: number;
  /** Write into a target that already holds data (STRONGBOX_RESTORE_OVERWRITE). */
  readonly overwrite: boolean;
  /** Redis RDB only: file the RDB is written to, for a fresh redis-server to load. */
  readonly restorePath?: string;
  /** When the backup started (the manifest's startedAt): Redis counts a version-1 logical artifact's TTLs from it. */
  readonly backupStartedAt?: Date;
  /** PostgreSQL: "skip" restores without owners and privileges (--no-owner --no-privileges). @default 'restore' */
  readonly privileges?: 'restore' | 'skip';
  /** PostgreSQL: roles to create right before the first write, and to drop again if the restore fails. */
  readonly createRoles?: RoleCreation;
}

/** Roles a restore creates on the target from the backup's stored definitions, and the statements that do it. */
export interface RoleCreation {
  readonly roles: readonly string[];
  readonly statements: readonly string[];
}

/** Counts an engine reports about a finished restore (Redis: keys restored, keys left out as expired); the task's result carries them. */
export type RestoreDetails = Readonly<Record<string, number>>;

/**
 * Where the restore pipeline delivers decompressed bytes. `file`: the engine needs a seekable file (pg_restore
 * --jobs, selection), so the pipeline writes it and verifies the checksum before `fromFile` runs. `stream`:
 * the engine consumes decompressed bytes as they come; the pipeline withholds the final bytes until the
 * checksum matched, so a corrupt artifact never reaches the end of the restore.
 */
export type RestorePlan = (
  | { readonly kind: 'file'; fromFile(path: string): RestoreDone }
  | { readonly kind: 'stream'; consume(input: Readable): RestoreDone }
) & {
  /**
   * Run by the pipeline after any failure, once the engine tool has stopped: takes back what the restore made or
   * wrote on the target where the engine cannot roll back (a database it created, roles it created, MySQL DDL,
   * which commits at once), and returns a sentence for the failure message saying what it took back, or what it
   * could not.
   */
  undo?(): Promise<string | undefined>;
};

/** A plan's outcome: counts to report, or nothing (an adapter without counts resolves its tool's promise as is). */
// biome-ignore lint/suspicious/noConfusingVoidType: the PostgreSQL and MySQL plans resolve the tool's Promise<void> unchanged
export type RestoreDone = Promise<RestoreDetails | void>;

export interface EngineAdapter {
  readonly name: string;
  serverVersion(connection: Connection): Promise<string>;
  inventory(connection: Connection): Promise<Inventory>;
  dump(connection: Connection, options: DumpOptions): Promise<DumpSession>;
  restore(connection: Connection, options: RestoreOptions): Promise<RestorePlan>;
}

/** A connection or login failure, reported before any tool runs. */
export class ConnectError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'ConnectError';
  }
}

/** The restore target already holds data and the input did not ask to overwrite it. */
export class TargetNotEmptyError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'TargetNotEmptyError';
  }
}

/**
 * A restore that failed after it had written to the target, and took back what it could: `undo` says what it
 * removed and what it could not put back. The message is the cause's, followed by `undo`.
 */
export class RestoreUndoneError extends Error {
  public constructor(
    cause: unknown,
    public readonly undo: string,
  ) {
    super(`${cause instanceof Error ? cause.message : String(cause)}; ${undo}`, { cause });
    this.name = 'RestoreUndoneError';
  }
}

/** Wraps a driver error so the message names the host but never a password. */
export function connectError(engine: string, connection: Connection, error: unknown): ConnectError {
  const reason = error instanceof Error ? error.message : String(error);
  const safe = connection.password ? reason.split(connection.password).join('***') : reason;
  return new ConnectError(
    `cannot connect to ${engine} at ${connection.host}:${connection.port} as ${connection.username ?? '(no user)'}: ${safe}`,
  );
}

export const CONNECT_TIMEOUT_SECONDS = 15;
