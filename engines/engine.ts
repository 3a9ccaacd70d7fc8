import type { Readable, Writable } from 'node:stream';
import type { ArtifactFormat, DrillRecord, Inventory, Manifest } from '../contracts/vault';
import type { Connection, Credentials } from './connection';
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
   * The uncompressed dump. `tool` is a child process whose stdout zstd takes over as its stdin fd, unless
   * `stdout` is set: then the tool writes elsewhere, and `stdout` is the read end of a pipe that carries its
   * output on, after the engine looked at it (MySQL counts its rows in a worker thread so). zstd takes that fd
   * over, and the backup closes its own copy once zstd is spawned. `stream` is produced in Node (Redis logical
   * mode) and piped into zstd.
   */
  readonly output:
    | { readonly kind: 'tool'; readonly process: RunningTool; readonly stdout?: number }
    | { readonly kind: 'stream'; readonly stream: Readable };
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
  /** Where an engine reports what a restore did (Redis: its key counts); the task passes its JSON log line. */
  readonly log?: LogLine;
}

/** One structured log line; the task's is tasks/src/log.ts, which engines/ does not import. */
export type LogLine = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

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
  /**
   * What the target already holds among the objects a restore with `include` would write, as a short phrase
   * for the guard's refusal ("2 existing objects, such as ..."), or undefined when nothing is in the way.
   */
  targetHoldsData(connection: Connection, include: readonly string[]): Promise<string | undefined>;
  /** How a drill restores this engine's backups into a throwaway server; absent: no drills for this engine. */
  readonly drill?: DrillSupport;
}

/** A drill check, as drill.json records it. */
export type Check = DrillRecord['checks'][number];

/** What a drill asks of an engine: the throwaway server, the target's shape, and the engine's own health checks. */
export interface DrillSupport {
  readonly throwaway: ThrowawaySpec;
  /** The database the drill restores into, given STRONGBOX_DB_NAME (undefined: the engine has none, or the dump names its own). */
  database(configured: string | undefined): string | undefined;
  /** Whether the restore brings owners and privileges back: a backup that cannot say which roles it needs drills without them. */
  privileges(manifest: Manifest): 'restore' | 'skip';
  /** Readies the empty throwaway server before the restore is timed (MySQL: the DEFINER accounts the objects run as). */
  prepare?(target: Connection, context: DrillContext): Promise<void>;
  /**
   * The engine's own idea of "healthy", beyond row counts, on the restored throwaway server; `requiredRoles` is
   * manifest.requires.roles (PostgreSQL). A check that cannot run is a failed check, not an exception.
   */
  sanityChecks(connection: Connection, inventory: Inventory, requiredRoles?: readonly string[]): Promise<Check[]>;
}

export interface DrillContext {
  readonly manifest: Manifest;
  readonly database: string | undefined;
  /** Streams the backup's decompressed artifact into `sink` (one extra read, for facts older manifests lack). */
  readArtifact(sink: Writable): Promise<void>;
  readonly log: LogLine;
}

/** The login of a started throwaway server. */
export interface ThrowawayCredentials extends Credentials {
  readonly password: string;
  readonly database?: string;
}

/**
 * How to start an empty server of this engine on 127.0.0.1 in a directory of its own (engines/throwaway.ts runs
 * it): the drill's throwaway server, Redis's RDB loader, and the test, bench and demo servers in dev/servers.
 */
export interface ThrowawaySpec {
  /** The server's name in messages, directory names and drill.json ("mariadb" serves MySQL dumps too). */
  readonly engine: string;
  /** The server binary, for messages. */
  readonly binary: string;
  /** Signal for a fast, clean shutdown. */
  readonly stopSignal: NodeJS.Signals;
  /** Server options for a drill: nothing outlives it, so nothing is made durable. */
  readonly drillOptions: readonly string[];
  /** Formats this server loads from a file when it starts, not through a restore (Redis RDB), and the options to load `path`. */
  readonly loadsAtStart?: { readonly formats: readonly ArtifactFormat[]; options(path: string): string[] };
  /** Fills the data directory (initdb) unless it already holds a server's files from an earlier start. */
  initialize(directory: string, password: string): void;
  /** The server process on 127.0.0.1:`port` with `options` added. */
  command(directory: string, port: number, password: string, options: readonly string[]): ThrowawayCommand;
  /** Resolves once the server accepts connections and has loaded its data; rejects until then. */
  probe(directory: string, port: number, password: string): Promise<void>;
  /** Run once the server is up: makes the login it is used with (idempotent, for a reused directory). */
  login(directory: string, port: number, password: string): Promise<ThrowawayCredentials>;
}

export interface ThrowawayCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** System user the server runs as when this process is root (initdb refuses root). */
  readonly user?: string;
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
