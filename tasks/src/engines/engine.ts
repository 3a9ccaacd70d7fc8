import type { Readable } from 'node:stream';
import type { ArtifactFormat, Inventory, Manifest } from '../../../lambdas/shared/catalog';
import type { Connection } from '../credentials';
import type { RunningTool } from '../tools';

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
  /** Accounts a restore target must have (MySQL/MariaDB: DEFINER accounts); goes to the manifest's `requires`. */
  readonly requires?: Manifest['requires'];
  readonly position?: LogPosition;
  /** Engine's own size of the data, for the multipart part size. */
  readonly expectedBytes: number;
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
}

/**
 * Where the restore pipeline delivers decompressed bytes. `file`: the engine needs a seekable file (pg_restore
 * --jobs, selection), so the pipeline writes it and verifies the checksum before `fromFile` runs. `stream`:
 * the engine consumes decompressed bytes as they come; the pipeline withholds the final bytes until the
 * checksum matched, so a corrupt artifact never reaches the end of the restore.
 */
export type RestorePlan = (
  | { readonly kind: 'file'; fromFile(path: string): Promise<void> }
  | { readonly kind: 'stream'; consume(input: Readable): Promise<void> }
) & {
  /**
   * Run by the pipeline after any failure, once the engine tool has stopped, where the engine cannot roll back
   * (MySQL DDL commits at once): takes back what the restore wrote, and returns a sentence for the failure
   * message saying what it took back, or what it could not.
   */
  undo?(): Promise<string | undefined>;
};

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

/** Wraps a driver error so the message names the host but never a password. */
export function connectError(engine: string, connection: Connection, error: unknown): ConnectError {
  const reason = error instanceof Error ? error.message : String(error);
  const safe = connection.password ? reason.split(connection.password).join('***') : reason;
  return new ConnectError(
    `cannot connect to ${engine} at ${connection.host}:${connection.port} as ${connection.username ?? '(no user)'}: ${safe}`,
  );
}

export const CONNECT_TIMEOUT_SECONDS = 15;
