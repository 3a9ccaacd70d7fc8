import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { RECOVERY_WAL_GIB, RESTORE_POINT_NAME_BYTES } from '../../contracts/recovery';
import { parseLsn } from '../../contracts/wal';
import type { Connection } from '../connection';
import type { ThrowawaySpec } from '../engine';
import { own, userIds } from '../process';
import { startThrowaway, type ThrowawayServer } from '../throwaway';
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

const PG_BIN = process.env.STRONGBOX_PG_BIN ?? '/usr/lib/postgresql/15/bin';
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
 */
export type WalSource = (name: string) => Promise<Readable | undefined>;

/** A source over a local directory of WAL files, as an archive_command copy or pg_receivewal leaves them. */
export function directoryWalSource(directory: string): WalSource {
  return async (name) => {
    const path = join(directory, name);
    return existsSync(path) ? createReadStream(path) : undefined;
  };
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
 * The restore_command helper: run by PostgreSQL for each file it wants, it asks the task's loopback server for the
 * file and writes it to a temporary name, renamed only once the whole body arrived. Exit 1 is "no such file"
 * (PostgreSQL then ends recovery or looks further); 126 makes PostgreSQL stop with a FATAL error: a file the task
 * could not deliver intact must fail the recovery, not end it early at an earlier instant.
 */
const FETCH_SCRIPT = `'use strict';
const fs = require('node:fs');
const http = require('node:http');
const [name, dest, config] = process.argv.slice(2);
const { port, token } = JSON.parse(fs.readFileSync(config, 'utf8'));
const partial = dest + '.strongbox-partial';
const request = http.get({ host: '127.0.0.1', port, path: '/wal/' + encodeURIComponent(name), headers: { authorization: 'Bearer ' + token } }, (res) => {
  if (res.statusCode === 404) { res.resume(); process.exit(1); }
  if (res.statusCode !== 200) { res.resume(); process.exit(126); }
  const out = fs.createWriteStream(partial);
  res.on('aborted', () => { fs.rmSync(partial, { force: true }); process.exit(126); });
  res.on('error', () => { fs.rmSync(partial, { force: true }); process.exit(126); });
  res.pipe(out);
  out.on('finish', () => {
    if (!res.complete) { fs.rmSync(partial, { force: true }); process.exit(126); }
    fs.renameSync(partial, dest);
    process.exit(0);
  });
});
request.on('error', () => process.exit(126));
`;

/** PostgreSQL runs restore_command through the shell: every path in it is checked to need no quoting. */
const SHELL_SAFE = /^[A-Za-z0-9/._+-]+$/;

/** The task side of restore_command: serves WAL files from `source` to the helper, with a per-recovery token. */
async function startWalServer(
  source: WalSource,
  fetched: string[],
  failures: string[],
): Promise<{ server: Server; port: number; token: string }> {
  const token = randomBytes(24).toString('base64url');
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const name = decodeURIComponent((req.url ?? '').replace(/^\/wal\//, ''));
    if (req.headers.authorization !== `Bearer ${token}` || !/^[0-9A-Za-z._-]{1,64}$/.test(name)) {
      res.writeHead(403).end();
      return;
    }
    source(name).then(
      async (stream) => {
        if (!stream) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        try {
          await pipeline(stream, res);
          fetched.push(name);
        } catch (error) {
          failures.push(`${name}: ${(error as Error).message}`);
          res.destroy();
        }
      },
      (error: Error) => {
        failures.push(`${name}: ${error.message}`);
        res.writeHead(500).end();
      },
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, token };
}

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
  stdin.on('error', () => {
    input.unpipe(stdin);
    input.resume();
  });
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
  const lines = message.split('\n').filter((line) => /\b(?:FATAL|PANIC):/.test(line));
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
  const wal = await startWalServer(options.wal, fetched, failures);
  const role = options.role ?? 'postgres';
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
    writeFileSync(join(directory, 'fetch-wal.cjs'), FETCH_SCRIPT);
    writeFileSync(join(directory, 'fetch-wal.json'), JSON.stringify({ port: wal.port, token: wal.token }), { mode: 0o600 });
    own(join(directory, 'fetch-wal.json'), 'postgres');
  };
  const directory = mkdtempSync(join(process.env.STRONGBOX_WORK_DIR ?? tmpdir(), options.prefix ?? 'strongbox-recover-'));
  try {
    own(directory, 'postgres');
    for (const path of [directory, process.execPath]) {
      if (!SHELL_SAFE.test(path)) {
        throw new RecoveryFailedError(
          `"${path}" needs shell quoting and cannot go into restore_command; set STRONGBOX_WORK_DIR to a plain path`,
        );
      }
    }
    spec.initialize(directory, '');
    await prepare(directory);
    const restoreCommand = `${process.execPath} ${join(directory, 'fetch-wal.cjs')} %f %p ${join(directory, 'fetch-wal.json')}`;
    server = await startThrowaway(spec, {
      directory,
      password: 'unused-local-trust',
      timeoutMs: options.timeoutMs ?? 6 * 3600_000,
      options: [
        // Nothing here outlives the restore: replay need not be durable, and no one connects over TCP.
        'listen_addresses=',
        `unix_socket_directories=${directory}`,
        'unix_socket_permissions=0700',
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
        'shared_preload_libraries=',
        // The disk budget of contracts/recovery.ts counts on this much WAL at most.
        `max_wal_size=${RECOVERY_WAL_GIB}GB`,
        'checkpoint_timeout=1h',
        'logging_collector=off',
        'log_min_messages=warning',
        ...recoverySettings(options.target, restoreCommand),
      ],
    });
  } catch (error) {
    wal.server.close();
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
    wal.server.close();
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
