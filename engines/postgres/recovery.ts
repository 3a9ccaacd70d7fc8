import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { RECOVERY_WAL_GIB, RESTORE_POINT_NAME_BYTES } from '../../contracts/recovery';
import { nextWalFile, parseLsn } from '../../contracts/wal';
import type { Connection } from '../connection';
import type { ThrowawaySpec } from '../engine';
import { own, userIds } from '../process';
import { startThrowaway, type ThrowawayServer } from '../throwaway';
import { PG_BIN } from './bin';
import { connect } from './connection';
import { postgresThrowaway } from './throwaway';

/**
 * Point-in-time recovery inside the task: a base backup (pg_basebackup's tar) is extracted into a data directory
 * of a throwaway PostgreSQL 15, which replays WAL fetched through `restore_command` up to the recovery target and
 * promotes. The recovered cluster is then an ordinary source for the logical restore path (pg_dump | pg_restore
 * into the target), so include, Guard and Validate apply unchanged.
 *
 * Disk: the data directory is as large as the cluster was at the base backup (its `pg_database_size` sum plus
 * WAL replayed since, recycled as recovery goes); see contracts/recovery.ts for the Fargate ceiling.
 */
const MAJOR = '15';

/** Where recovery stops: an instant, an LSN, a named restore point, or the end of the WAL offered. */
export type RecoveryTarget =
  | { readonly kind: 'time'; readonly at: string }
  | { readonly kind: 'lsn'; readonly lsn: string }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'end' };

/**
 * Fetches one WAL file by the name PostgreSQL asks for (`000000010000000000000003`, `00000002.history`): a stream
 * of its bytes, or undefined when there is none (PostgreSQL asks for files beyond the end, and for timelines that
 * never existed). A source that throws (a checksum mismatch, the vault unreachable) fails the recovery.
 *
 * `fetchTo`, when a source has it, writes the file to `path` itself and answers whether it exists: a local copy in
 * the kernel, or zstd decompressing straight into the file, so that the WAL's bytes never pass through this process.
 */
export type WalSource = ((name: string) => Promise<Readable | undefined>) & {
  readonly fetchTo?: (name: string, path: string) => Promise<boolean>;
};

/** A source over a local directory of WAL files, as an archive_command copy or pg_receivewal leaves them. */
export function directoryWalSource(directory: string): WalSource {
  const source = async (name: string) => {
    const path = join(directory, name);
    return existsSync(path) ? createReadStream(path) : undefined;
  };
  return Object.assign(source, {
    // copy_file_range, as `cp` does: a 16 MiB segment costs this process no copy of its own.
    fetchTo: async (name: string, path: string) => {
      const from = join(directory, name);
      if (!existsSync(from)) {
        return false;
      }
      await copyFile(from, path);
      return true;
    },
  });
}

/** The recovery did not reach its target or the server gave up; the message carries PostgreSQL's own reason. */
export class RecoveryFailedError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'RecoveryFailedError';
  }
}

export interface RecoverOptions {
  /** pg_basebackup's `base.tar` (a path, or its uncompressed bytes as a stream). */
  readonly base: string | Readable;
  /** `pg_wal.tar` when the base was taken with `-X stream` into a tar directory; absent when its WAL is in base.tar or the archive. */
  readonly walTar?: string | Readable;
  readonly wal: WalSource;
  readonly target: RecoveryTarget;
  /**
   * Awaited once the base is extracted into `data` and before anything there changes or the server starts: the
   * caller's checksum verdict on the base, and pg_verifybackup for a drill.
   */
  readonly afterExtract?: (data: string) => Promise<void>;
  /** A role of the recovered cluster to log in as first (local trust); its bootstrap superuser is then used. @default 'postgres' */
  readonly role?: string;
  /** How long replay may take. @default 6 h */
  readonly timeoutMs?: number;
  /** Prefix of the working directory. @default `strongbox-recover-` in STRONGBOX_WORK_DIR */
  readonly prefix?: string;
}

export interface RecoveredServer {
  /** Through the server's Unix socket (a directory only this task reaches), as the bootstrap superuser. */
  readonly connection: Connection;
  readonly directory: string;
  /** Seconds from the first byte extracted to the promoted server accepting connections. */
  readonly recoverySeconds: number;
  /** WAL files PostgreSQL fetched, in order. */
  readonly fetched: readonly string[];
  /** The promoted server's first LSN: replay ended just before it. */
  readonly reached: { readonly lsn: string };
  stop(): Promise<void>;
}

/** The recovery settings, as `name=value` for `postgres -c` (never shell-parsed; only restore_command is, by PostgreSQL). */
export function recoverySettings(target: RecoveryTarget, restoreCommand: string): string[] {
  const settings = [`restore_command=${restoreCommand}`, 'recovery_target_action=promote', 'recovery_target_timeline=latest'];
  switch (target.kind) {
    case 'time':
      if (Number.isNaN(Date.parse(target.at))) {
        throw new Error(`recovery target time "${target.at}" is not a date-time; expected ISO 8601 with a zone`);
      }
      // PostgreSQL takes numeric offsets here, not abbreviations such as "Z".
      return [
        ...settings,
        `recovery_target_time=${new Date(target.at).toISOString().replace('T', ' ').replace('Z', '+00')}`,
        'recovery_target_inclusive=true',
      ];
    case 'lsn':
      parseLsn(target.lsn);
      return [...settings, `recovery_target_lsn=${target.lsn}`, 'recovery_target_inclusive=true'];
    case 'name':
      if (target.name.length === 0 || Buffer.byteLength(target.name) > RESTORE_POINT_NAME_BYTES) {
        throw new Error(
          `restore point name "${target.name}": expected 1 to ${RESTORE_POINT_NAME_BYTES} bytes, as pg_create_restore_point takes`,
        );
      }
      return [...settings, `recovery_target_name=${target.name}`];
    case 'end':
      return settings;
  }
}

/**
 * The restore_command helper, a few lines of sh (a Node helper cost half a second per WAL file to start on a loaded
 * machine, more than replaying the file): it asks for a file by creating `want/<name>` in the spool and waits for the
 * task's answer, `ready/<name>` (renamed into place: the file arrived whole and matched its checksum), `missing/<name>`
 * (exit 1, "no such file": PostgreSQL then ends recovery or looks further) or `failed/<name>` (exit 126: PostgreSQL
 * stops with a FATAL error, because a file the task could not deliver intact must fail the recovery, not end it early).
 */
const FETCH_SCRIPT = `#!/bin/sh
f="$1"; dest="$2"; spool="$3"
if [ -f "$spool/ready/$f" ]; then mv "$spool/ready/$f" "$dest" && exit 0; fi
: > "$spool/want/$f"
while :; do
  if [ -f "$spool/ready/$f" ]; then mv "$spool/ready/$f" "$dest" && exit 0; exit 126; fi
  if [ -f "$spool/missing/$f" ]; then rm -f "$spool/missing/$f"; exit 1; fi
  if [ -f "$spool/failed/$f" ]; then exit 126; fi
  sleep 0.02
done
`;

/** PostgreSQL runs restore_command through the shell: every path in it is checked to need no quoting. */
const SHELL_SAFE = /^[A-Za-z0-9/._+-]+$/;

/**
 * WAL files fetched ahead of replay, beyond the one PostgreSQL is replaying: with one, replay waited whenever a
 * fetch took longer than replaying a file. 4 x 16 MiB on disk, within contracts/recovery.ts's headroom.
 */
/**
 * How the recovered server replays: nothing outlives the restore, so replay need not be durable. The raw side of
 * bench/pg-recovery.ts starts its server with the same list, so the figure compares delivery, not settings.
 */
export const REPLAY_SETTINGS: readonly string[] = [
  'fsync=off',
  'synchronous_commit=off',
  'full_page_writes=off',
  // No hot standby: its checks that max_connections and friends are at least the source's never apply, and
  // the first connection is the promoted server's.
  'hot_standby=off',
  'archive_mode=off',
  'wal_level=minimal',
  'max_wal_senders=0',
  'max_replication_slots=0',
  // The disk budget of contracts/recovery.ts counts on this much WAL at most.
  `max_wal_size=${RECOVERY_WAL_GIB}GB`,
  'checkpoint_timeout=1h',
];

export const WAL_READ_AHEAD_FILES = 4;
/** Fetches at once: downloads overlap each other's round trips without crowding replay off a 2-vCPU task. */
export const WAL_FETCH_CONCURRENCY = 2;

/**
 * The task side of restore_command: answers the helper's requests from `source`, and keeps the next
 * WAL_READ_AHEAD_FILES files of the timeline in `ready/` while PostgreSQL replays, so that the helper's request is
 * a rename. The spool's directories are watched (inotify) so a request or a taken file is seen at once; the timer
 * is the fallback where watching is not available.
 */
function startWalSpool(spool: string, source: WalSource, fetched: string[], failures: string[]): { stop(): void } {
  for (const sub of ['want', 'ready', 'missing', 'failed', 'partial']) {
    mkdirSync(join(spool, sub), { recursive: true });
    own(join(spool, sub), 'postgres');
  }
  own(spool, 'postgres');
  const inFlight = new Map<string, Promise<boolean>>();
  const fetchInto = (name: string): Promise<boolean> => {
    const held = inFlight.get(name);
    if (held) {
      return held;
    }
    const job = (async () => {
      const partial = join(spool, 'partial', name);
      if (source.fetchTo) {
        if (!(await source.fetchTo(name, partial))) {
          return false;
        }
      } else {
        const stream = await source(name);
        if (!stream) {
          return false;
        }
        await pipeline(stream, createWriteStream(partial));
      }
      own(partial, 'postgres');
      renameSync(partial, join(spool, 'ready', name));
      return true;
    })();
    inFlight.set(name, job);
    job.catch(() => undefined).finally(() => inFlight.delete(name));
    return job;
  };
  // Files fetched ahead: the helper takes one straight from ready/ without asking, so its disappearance is the request.
  const ahead = new Set<string>();
  // Read ahead past the end of the WAL offered once only; PostgreSQL's own request for such a file still asks the source.
  const beyond = new Set<string>();
  // The newest WAL file delivered: read-ahead runs from it.
  let cursor: string | undefined;
  let stopped = false;
  const deliver = (name: string) => {
    fetched.push(name);
    if (WAL_FILE.test(name) && (!cursor || name > cursor)) {
      cursor = name;
    }
  };
  const fill = () => {
    if (stopped || !cursor) {
      return;
    }
    let next = cursor;
    for (let depth = 0; depth < WAL_READ_AHEAD_FILES && inFlight.size < WAL_FETCH_CONCURRENCY; depth++) {
      next = nextWalFile(next);
      if (beyond.has(next)) {
        return;
      }
      if (ahead.has(next) || inFlight.has(next)) {
        continue;
      }
      const name = next;
      fetchInto(name).then(
        (found) => {
          if (found) {
            ahead.add(name);
          } else {
            beyond.add(name);
          }
          fill();
        },
        // A file that could not be fetched ahead is fetched again when PostgreSQL asks, and fails the recovery then.
        () => undefined,
      );
    }
  };
  const answer = async (name: string) => {
    try {
      const found = existsSync(join(spool, 'ready', name)) || (await fetchInto(name));
      if (!found) {
        writeFileSync(join(spool, 'missing', name), '');
        return;
      }
      ahead.delete(name);
      deliver(name);
      fill();
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message}`);
      writeFileSync(join(spool, 'failed', name), '');
    }
  };
  const scan = () => {
    if (stopped) {
      return;
    }
    const taken = [...ahead].filter((name) => !existsSync(join(spool, 'ready', name))).sort();
    for (const name of taken) {
      ahead.delete(name);
      deliver(name);
    }
    if (taken.length > 0) {
      fill();
    }
    for (const name of readdirSync(join(spool, 'want'))) {
      rmSync(join(spool, 'want', name), { force: true });
      if (/^[0-9A-Za-z._-]{1,64}$/.test(name)) {
        void answer(name);
      }
    }
  };
  let queued = false;
  const soon = () => {
    if (!queued) {
      queued = true;
      setImmediate(() => {
        queued = false;
        scan();
      });
    }
  };
  const watchers = ['want', 'ready'].flatMap((sub) => {
    try {
      return [watch(join(spool, sub), soon).on('error', () => undefined)];
    } catch {
      return [];
    }
  });
  const timer = setInterval(scan, 20);
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
      for (const watcher of watchers) {
        watcher.close();
      }
    },
  };
}

const WAL_FILE = /^[0-9A-F]{24}$/;

/**
 * Extracts a tar into `directory` as the server's user, so PostgreSQL owns every file it reads. The tar arrives on
 * stdin, read by this process: the server's user need not be able to open the file itself.
 */
async function extractTar(tar: string | Readable, directory: string): Promise<void> {
  const child = spawn('tar', ['-x', '-f', '-', '-C', directory], { stdio: ['pipe', 'ignore', 'pipe'], ...userIds('postgres') });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const input = typeof tar === 'string' ? createReadStream(tar) : tar;
  const stdin = child.stdin as NodeJS.WritableStream;
  // tar stops reading at the archive's end marker, which may come before the stream's end (block padding): the rest
  // is drained, so that a download behind the stream still runs to its end and reaches its checksum verdict.
  const drain = () => {
    input.unpipe(stdin);
    input.resume();
  };
  stdin.on('error', drain);
  // tar may also exit with its stdin closed quietly (no EPIPE for a write in flight): the unpiped input would then sit
  // paused forever, and the extraction with it.
  exited.then(drain, () => undefined);
  input.pipe(stdin);
  const read = finished(input).then(
    () => undefined,
    (error: Error) => {
      child.kill('SIGTERM');
      return error;
    },
  );
  const [[code, signal], failure] = await Promise.all([exited, read]);
  if (failure) {
    throw new RecoveryFailedError(`reading the base backup failed: ${failure.message}`);
  }
  if (code !== 0) {
    throw new RecoveryFailedError(
      `extracting the base backup failed (tar ${signal ? `killed by ${signal}` : `exit ${code}`}): ${stderr.trim()}`,
    );
  }
}

/** The last FATAL or PANIC line of the server's output: PostgreSQL's own reason for giving up. */
function fatalReason(message: string): string | undefined {
  // The readiness probe's own refused connections are logged as FATAL too, and one may land after the cause.
  const lines = message
    .split('\n')
    .filter(
      (line) =>
        /\b(?:FATAL|PANIC):/.test(line) &&
        !/the database system is (?:in recovery mode|starting up|shutting down|not (?:yet )?accepting connections)/.test(line),
    );
  return lines.at(-1)?.replace(/^.*?\b(FATAL|PANIC):\s*/, '');
}

/**
 * Extracts the base, starts PostgreSQL 15 on it with recovery.signal and the target, waits until it has replayed to
 * the target and promoted, and returns a connection to it. The server listens on its Unix socket only (no TCP),
 * in a directory only this task can reach, with local trust: the recovered cluster keeps its source's roles and
 * passwords, which the task does not know.
 */
export async function recoverPostgres(options: RecoverOptions): Promise<RecoveredServer> {
  const started = Date.now();
  const fetched: string[] = [];
  const failures: string[] = [];
  const role = options.role ?? 'postgres';
  let wal: { stop(): void } | undefined;
  let server: ThrowawayServer | undefined;
  let socketDirectory = '';
  const spec: ThrowawaySpec = {
    ...postgresThrowaway,
    engine: 'postgres',
    binary: 'postgres (recovery)',
    initialize(directory) {
      socketDirectory = directory;
      own(directory, 'postgres');
      const data = join(directory, 'data');
      mkdirSync(data, { recursive: true, mode: 0o700 });
      own(data, 'postgres');
    },
    command(directory, port, _password, settings) {
      const conf = join(directory, 'conf');
      return {
        command: join(PG_BIN, 'postgres'),
        args: [
          '-D',
          join(directory, 'data'),
          '-p',
          String(port),
          // The source's own postgresql.conf may live outside its data directory (Debian) or name paths of its host;
          // the recovered server reads only these files, and its data directory's postgresql.auto.conf, which -c overrides.
          '-c',
          `config_file=${join(conf, 'postgresql.conf')}`,
          '-c',
          `hba_file=${join(conf, 'pg_hba.conf')}`,
          '-c',
          `ident_file=${join(conf, 'pg_ident.conf')}`,
          ...settings.flatMap((setting) => ['-c', setting]),
        ],
        user: 'postgres',
      };
    },
    async probe(directory, port) {
      const client = await connect({ host: directory, port, username: role, database: 'postgres', tls: 'disable' });
      try {
        const recovering = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        if (recovering.rows[0].r) {
          throw new Error('still in recovery');
        }
      } finally {
        await client.end();
      }
    },
    login: async () => ({ username: role, password: '', database: 'postgres' }),
  };
  const prepare = async (directory: string) => {
    const data = join(directory, 'data');
    await extractTar(options.base, data);
    await options.afterExtract?.(data);
    const version = existsSync(join(data, 'PG_VERSION')) ? readFileSync(join(data, 'PG_VERSION'), 'utf8').trim() : undefined;
    if (version !== MAJOR) {
      throw new RecoveryFailedError(
        version
          ? `the base backup is of PostgreSQL ${version}; this task recovers PostgreSQL ${MAJOR} only (same major version as the image's server)`
          : 'the base backup has no PG_VERSION: it is not a pg_basebackup tar of a data directory',
      );
    }
    if (options.walTar) {
      await extractTar(options.walTar, join(data, 'pg_wal'));
    }
    // A standby's base carries standby.signal: this server must recover and promote, never wait for a primary.
    rmSync(join(data, 'standby.signal'), { force: true });
    writeFileSync(join(data, 'recovery.signal'), '');
    own(join(data, 'recovery.signal'), 'postgres');
    const conf = join(directory, 'conf');
    mkdirSync(conf, { recursive: true });
    writeFileSync(join(conf, 'postgresql.conf'), '# Strongbox recovery: settings are given on the command line\n');
    writeFileSync(join(conf, 'pg_hba.conf'), 'local all all trust\n');
    writeFileSync(join(conf, 'pg_ident.conf'), '');
    writeFileSync(join(directory, 'fetch-wal.sh'), FETCH_SCRIPT, { mode: 0o755 });
  };
  const directory = mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), options.prefix ?? 'strongbox-recover-'));
  try {
    own(directory, 'postgres');
    if (!SHELL_SAFE.test(directory)) {
      throw new RecoveryFailedError(
        `"${directory}" needs shell quoting and cannot go into restore_command; set STRONGBOX_WORK_DIR to a plain path`,
      );
    }
    wal = startWalSpool(join(directory, 'spool'), options.wal, fetched, failures);
    spec.initialize(directory, '');
    await prepare(directory);
    const restoreCommand = `/bin/sh ${join(directory, 'fetch-wal.sh')} %f %p ${join(directory, 'spool')}`;
    server = await startThrowaway(spec, {
      directory,
      password: 'unused-local-trust',
      timeoutMs: options.timeoutMs ?? 6 * 3600_000,
      options: [
        // Nothing here outlives the restore: replay need not be durable, and no one connects over TCP.
        'listen_addresses=',
        `unix_socket_directories=${directory}`,
        'unix_socket_permissions=0700',
        ...REPLAY_SETTINGS,
        'shared_preload_libraries=',
        'logging_collector=off',
        'log_min_messages=warning',
        ...recoverySettings(options.target, restoreCommand),
      ],
    });
  } catch (error) {
    wal?.stop();
    rmSync(directory, { recursive: true, force: true });
    const reason = error instanceof Error ? error.message : String(error);
    if (failures.length > 0) {
      throw new RecoveryFailedError(`WAL could not be delivered intact: ${failures.join('; ')}`);
    }
    if (error instanceof RecoveryFailedError) {
      throw error;
    }
    throw new RecoveryFailedError(`PostgreSQL recovery failed: ${fatalReason(reason) ?? reason.split('\n')[0]}`);
  }
  const running = server;
  const stop = async () => {
    wal?.stop();
    await running.stop();
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    if (failures.length > 0) {
      throw new RecoveryFailedError(`WAL could not be delivered intact: ${failures.join('; ')}`);
    }
    const admin = await connect({
      host: socketDirectory,
      port: running.connection.port,
      username: role,
      database: 'postgres',
      tls: 'disable',
    });
    let superuser: string;
    let reached: RecoveredServer['reached'];
    try {
      const facts = await admin.query<{ superuser: string; lsn: string }>(
        'SELECT (SELECT rolname FROM pg_roles WHERE oid = 10) AS superuser, pg_current_wal_lsn()::text AS lsn',
      );
      superuser = facts.rows[0].superuser;
      reached = { lsn: facts.rows[0].lsn };
    } finally {
      await admin.end();
    }
    return {
      connection: { host: socketDirectory, port: running.connection.port, username: superuser, database: 'postgres', tls: 'disable' },
      directory,
      recoverySeconds: (Date.now() - started) / 1000,
      fetched,
      reached,
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
