import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type mysql from 'mysql2/promise';
import { compareLogCoordinates, type LogCoordinates } from '../../contracts/logs';
import type { Connection } from '../connection';
import { startTool } from '../tools';
import { credentialsFile, type Flavour, tlsFlags } from './adapter';

/**
 * The MySQL/MariaDB side of binlog archiving: which binlog slices a run reads, reading one with the stock
 * `mariadb-binlog --read-from-remote-server --raw` (a valid binlog file, so segments replay by hand), and what
 * a slice holds (server positions, event times, GTIDs) as the stock tool decodes it.
 */

export interface BinaryLog {
  readonly file: string;
  readonly size: number;
}

/** `SHOW BINARY LOGS`: the files the server still has, oldest first; the last one's size is the current end. */
export async function listBinaryLogs(conn: mysql.Connection): Promise<BinaryLog[]> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
  return rows
    .map((r) => ({ file: String(r.Log_name), size: Number(r.File_size) }))
    .sort((a, b) => compareLogCoordinates({ file: a.file, position: 0 }, { file: b.file, position: 0 }));
}

/** One slice to read: `file` from `start` to the end it had when listed (`closed` when the server has moved past it). */
export interface BinlogRead {
  readonly file: string;
  readonly start: number;
  readonly end: number;
  readonly closed: boolean;
}

export interface ArchivePlan {
  readonly reads: readonly BinlogRead[];
  /** Set when the log does not continue from the cursor: archiving resumes at `resumedAt`, and no restore crosses the gap. */
  readonly broken?: { readonly reason: string; readonly resumedAt: LogCoordinates };
}

/** The first event of every binlog file follows its 4-byte magic number. */
export const BINLOG_FIRST_POSITION = 4;

/**
 * What a run reads, from the cursor (undefined on the first run: from the oldest file the server still has, so
 * full dumps taken before archiving began link to the chain) to the server's current end. Slices that would be
 * empty are left out. A cursor whose file the server no longer lists was purged before it was archived; a
 * cursor past its file's end means the log was reset or replaced: both break the chain.
 */
export function planArchive(cursor: LogCoordinates | undefined, logs: readonly BinaryLog[]): ArchivePlan {
  if (logs.length === 0) {
    return cursor
      ? { reads: [], broken: { reason: `the server lists no binary logs; ${cursor.file} is gone`, resumedAt: cursor } }
      : { reads: [] };
  }
  const oldest = logs[0];
  let from: LogCoordinates = cursor ?? { file: oldest.file, position: BINLOG_FIRST_POSITION };
  let broken: ArchivePlan['broken'];
  const at = logs.findIndex((l) => l.file === from.file);
  if (at === -1 || (logs[at] as BinaryLog).size < from.position) {
    const after = logs.find((l) => compareLogCoordinates({ file: l.file, position: 0 }, { file: from.file, position: 0 }) > 0) ?? oldest;
    const resumedAt = { file: after.file, position: BINLOG_FIRST_POSITION };
    const reason =
      at === -1
        ? `binary log ${from.file} was purged before it was archived (the server's oldest is ${oldest.file})`
        : `binary log ${from.file} ends at ${(logs[at] as BinaryLog).size}, before the archived position ${from.position}: the log was reset or replaced`;
    broken = { reason, resumedAt };
    from = resumedAt;
  }
  const first = logs.findIndex((l) => l.file === from.file);
  const reads: BinlogRead[] = [];
  logs.slice(first).forEach((log, i, rest) => {
    const start = i === 0 ? from.position : BINLOG_FIRST_POSITION;
    if (log.size > start) {
      reads.push({ file: log.file, start, end: log.size, closed: i < rest.length - 1 });
    }
  });
  return broken ? { reads, broken } : { reads };
}

/** The argv that reads one slice into `directory/<file>`; the credentials file comes first, as the client requires. */
export function readArgs(connection: Connection, flavour: Flavour, read: BinlogRead, directory: string): string[] {
  return [
    '--read-from-remote-server',
    '--raw',
    `--host=${connection.host}`,
    `--port=${connection.port}`,
    ...tlsFlags(flavour, connection.tls),
    `--start-position=${read.start}`,
    `--result-file=${directory}/`,
    read.file,
  ];
}

/**
 * Reads one slice with the stock tool into `directory` and returns the local file. `--raw` ignores a stop
 * position: the tool copies to the file's end as the server has it then, which `describeBinlog` reports.
 * Credentials travel in a 0600 option file, never in argv.
 */
export async function readBinlog(
  connection: Connection,
  flavour: Flavour,
  read: BinlogRead,
  directory: string,
): Promise<{ path: string; args: string[] }> {
  const credentials = credentialsFile(connection);
  try {
    const args = readArgs(connection, flavour, read, directory);
    await startTool('mariadb-binlog', [`--defaults-extra-file=${credentials.path}`, ...args]).succeeded();
    return { path: join(directory, read.file), args };
  } finally {
    credentials.remove();
  }
}

/** What a slice holds, in the server's coordinates (the event headers carry the server's end positions). */
export interface BinlogContents {
  /** End position of the last event: where the next slice starts, unless the file was rotated. */
  readonly endPosition: number;
  /** The file the server rotated to, when the slice ends with a Rotate event. */
  readonly rotatedTo?: LogCoordinates;
  readonly firstEventAt?: string;
  readonly lastEventAt?: string;
  readonly gtid?: { readonly first: string; readonly last: string };
  readonly serverId?: number;
  readonly events: number;
}

// `#261201 16:48:10 server id 1  end_log_pos 1020 CRC32 0x0d6fdf4b 	Xid = 16` (UTC: the tool runs with TZ=UTC).
const EVENT = /^#(\d{2})(\d{2})(\d{2}) +(\d{1,2}):(\d{2}):(\d{2}) server id (\d+) +end_log_pos (\d+) .*?\t(.*)$/;
const GTID = /^GTID (\d+-\d+-\d+)/;
const ROTATE = /^Rotate to (\S+) +pos: (\d+)/;

/**
 * Decodes a local binlog file with the stock tool (which also proves it parses) and reads the event headers as a
 * stream: a segment can be gigabytes, its decoded text more. The description event a `--raw` copy starts with
 * is the file's header, not an event of the slice, and is skipped.
 */
export async function describeBinlog(path: string): Promise<BinlogContents> {
  const tool = startTool('mariadb-binlog', ['--base64-output=decode-rows', path], { env: { TZ: 'UTC' } });
  let endPosition = 0;
  let rotatedTo: LogCoordinates | undefined;
  let firstEventAt: string | undefined;
  let lastEventAt: string | undefined;
  let firstGtid: string | undefined;
  let lastGtid: string | undefined;
  let serverId: number | undefined;
  let events = 0;
  const lines = createInterface({ input: tool.child.stdout as NodeJS.ReadableStream, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    const match = EVENT.exec(line);
    if (!match) {
      continue;
    }
    const [, yy, mo, dd, hh, mi, ss, server, end, body] = match;
    if (body.startsWith('Start: binlog') || Number(end) === 0) {
      continue;
    }
    const when = new Date(Date.UTC(2000 + Number(yy), Number(mo) - 1, Number(dd), Number(hh), Number(mi), Number(ss))).toISOString();
    events += 1;
    firstEventAt ??= when;
    lastEventAt = when;
    serverId = Number(server);
    endPosition = Math.max(endPosition, Number(end));
    const gtid = GTID.exec(body);
    if (gtid) {
      firstGtid ??= gtid[1];
      lastGtid = gtid[1];
    }
    const rotate = ROTATE.exec(body);
    rotatedTo = rotate ? { file: rotate[1], position: Number(rotate[2]) } : rotatedTo;
  }
  await tool.succeeded();
  return {
    endPosition,
    ...(rotatedTo && { rotatedTo }),
    ...(firstEventAt && { firstEventAt, lastEventAt }),
    ...(firstGtid && lastGtid && { gtid: { first: firstGtid, last: lastGtid } }),
    ...(serverId !== undefined && { serverId }),
    events,
  };
}
