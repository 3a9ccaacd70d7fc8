import { closeSync, openSync, readSync } from 'node:fs';
import { compareLogCoordinates, type LogCoordinates, parseGtid, type ReplayStop } from '../../contracts/logs';
import type { Connection } from '../connection';
import { startTool } from '../tools';
import { clientTool, credentialsFile, type Flavour, tlsFlags } from './adapter';

/**
 * Replay of archived binlog segments into a target: the stock `mariadb-binlog` decodes the local segment files
 * and its output goes straight into the stock client on the target, as an operator would pipe them by hand.
 *
 * A segment is a `--raw` copy read from a server position: the tool writes the magic number and a format
 * description event of its own first, so a segment's file offsets are not the server's. Each event header still
 * carries the server's end position, so this module walks the headers (19 bytes each, the body is never read but
 * for a GTID) to translate the dump's coordinates and the stop into file offsets, which is what the tool's
 * --start-position (first file) and --stop-position (last file) count in a local file.
 */

/** A decompressed segment on local disk, with where its first event sits in the server's log. */
export interface ReplaySegment {
  readonly path: string;
  readonly serverFile: string;
  readonly startPosition: number;
}

/** One event as its header tells it; positions are the server's, `offset` the local file's. */
export interface BinlogEvent {
  readonly offset: number;
  readonly length: number;
  readonly type: number;
  /** Epoch seconds (the log's resolution). */
  readonly timestamp: number;
  /** The server position after this event; 0 for the description event a `--raw` copy starts with. */
  readonly serverEnd: number;
  readonly gtid?: string;
}

/** An event in the server's terms, as a plan or a result reports it. */
export interface LogEvent {
  readonly file: string;
  /** The server position just after the event: where the next one starts. */
  readonly position: number;
  readonly at: string;
  /** The transaction it belongs to, where the log has GTIDs. */
  readonly gtid?: string;
}

/** What a replay applies: which local files, from and to which local offsets, and the last event applied. */
export interface BinlogReplayWindow {
  readonly files: readonly string[];
  /** Local offset of the first event to apply in `files[0]`; absent when that file is applied from its start. */
  readonly startOffset?: number;
  /** Local offset of the first event not applied, in the last file; absent when replay runs to its end. */
  readonly stopOffset?: number;
  readonly transactions: number;
  /** The last event of the last transaction applied. */
  readonly lastApplied?: LogEvent;
  /** The first transaction (or event) left out: what the stop excluded. */
  readonly firstExcluded?: LogEvent;
}

export interface BinlogReplayOptions {
  readonly target: Connection;
  readonly flavour?: Flavour;
  /** In log order, contiguous; the first holds `from`. */
  readonly segments: readonly ReplaySegment[];
  /** The full dump's coordinates: the first event applied is the one starting here. */
  readonly from: LogCoordinates;
  readonly stop: ReplayStop;
  /** `database` or `database.table` names of the source: at most one database, or one table of it. */
  readonly include?: readonly string[];
  /** The source database, when a single-database dump is restored under `target.database`: events are rewritten to it. */
  readonly sourceDatabase?: string;
}

export interface BinlogReplayResult extends BinlogReplayWindow {
  /** The exact argv of the decoding tool (paths, offsets, filters; never a secret). */
  readonly args: readonly string[];
}

/** The replay cannot do what was asked: a stop outside the segments, an include the tool cannot filter, a gap. */
export class BinlogReplayError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'BinlogReplayError';
  }
}

const HEADER_BYTES = 19;
const FORMAT_DESCRIPTION = 15;
const MARIADB_GTID = 162;
const MYSQL_GTID = 33;
const MYSQL_ANONYMOUS_GTID = 34;
/** Events that open a transaction (every MariaDB 10+ and MySQL 5.7+ transaction starts with one). */
const TRANSACTION_START = new Set([MARIADB_GTID, MYSQL_GTID, MYSQL_ANONYMOUS_GTID]);
/** Events outside any transaction: rotate, stop, heartbeat, MySQL previous-GTIDs, MariaDB checkpoint and GTID list. */
const OUTSIDE_TRANSACTIONS = new Set([FORMAT_DESCRIPTION, 3, 4, 27, 35, 161, 163]);
const CHUNK_BYTES = 1 << 20;
/** `\xfebin`, the first four bytes of every binlog file. */
const BINLOG_MAGIC = 0xfe62696e;

/**
 * The events of a local binlog file, read header by header in 1 MiB chunks: a segment may be gigabytes, and
 * only 19 bytes of each event (plus 25 of a GTID event) are looked at.
 */
export function* binlogEvents(path: string): Generator<BinlogEvent> {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(CHUNK_BYTES);
    let base = 0;
    let filled = 0;
    const window = (offset: number, bytes: number): Buffer | undefined => {
      if (offset < base || offset + bytes > base + filled) {
        base = offset;
        filled = readSync(fd, buffer, 0, Math.max(bytes, CHUNK_BYTES), offset);
        if (filled < bytes) {
          return undefined;
        }
      }
      return buffer.subarray(offset - base, offset - base + bytes);
    };
    const magic = window(0, 4);
    if (magic?.readUInt32BE(0) !== BINLOG_MAGIC) {
      throw new BinlogReplayError(`${path} is not a binlog file (no binlog magic number); expected a decompressed segment`);
    }
    let offset = 4;
    for (;;) {
      const header = window(offset, HEADER_BYTES + 25);
      const short = header ?? window(offset, HEADER_BYTES);
      if (!short) {
        return;
      }
      const length = short.readUInt32LE(9);
      if (length < HEADER_BYTES) {
        throw new BinlogReplayError(`${path}: event at offset ${offset} has length ${length}; the segment is damaged`);
      }
      const type = short[4];
      const serverId = short.readUInt32LE(5);
      let gtid: string | undefined;
      if (type === MARIADB_GTID && header) {
        gtid = `${header.readUInt32LE(HEADER_BYTES + 8)}-${serverId}-${header.readBigUInt64LE(HEADER_BYTES)}`;
      } else if (type === MYSQL_GTID && header) {
        const sid = header.subarray(HEADER_BYTES + 1, HEADER_BYTES + 17).toString('hex');
        const uuid = `${sid.slice(0, 8)}-${sid.slice(8, 12)}-${sid.slice(12, 16)}-${sid.slice(16, 20)}-${sid.slice(20)}`;
        gtid = `${uuid}:${header.readBigInt64LE(HEADER_BYTES + 17)}`;
      }
      yield {
        offset,
        length,
        type,
        timestamp: short.readUInt32LE(0),
        serverEnd: short.readUInt32LE(13),
        ...(gtid && { gtid }),
      };
      offset += length;
    }
  } finally {
    closeSync(fd);
  }
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * Which events of the segments a replay applies. The first is the one starting at `from` (a full dump's
 * coordinates always lie between transactions); the stop ends replay before a whole transaction, never inside
 * one (see ReplayStopSchema for each kind's rule). A stop the segments do not reach is refused rather than
 * replayed short.
 */
export function planBinlogReplay(segments: readonly ReplaySegment[], from: LogCoordinates, stop: ReplayStop): BinlogReplayWindow {
  const head = segments[0];
  if (!head || head.serverFile !== from.file || head.startPosition > from.position) {
    throw new BinlogReplayError(
      `replay starts at ${from.file}:${from.position}, but the first segment starts at ${head ? `${head.serverFile}:${head.startPosition}` : 'nothing (no segments)'}; pass the segment that holds the dump's position first`,
    );
  }
  const stopSecond = stop.kind === 'instant' ? Math.floor(Date.parse(stop.at) / 1000) : 0;
  const wanted = stop.kind === 'gtid' ? stop.gtid : undefined;
  const target = wanted === undefined ? undefined : parseGtid(wanted);
  /** The first applied event: which segment, and its offset there. */
  let first: { file: number; offset: number } | undefined;
  let transactions = 0;
  let lastApplied: LogEvent | undefined;
  let reachedEnd: LogCoordinates = from;
  // The open transaction: where it starts, its id, and the last event applied before it.
  let open: { file: number; offset: number; gtid?: string; before?: LogEvent } | undefined;
  let targetDone = false;

  const window = (last: number, stopOffset?: number, excluded?: LogEvent): BinlogReplayWindow => {
    if (!first || (stopOffset !== undefined && last === first.file && stopOffset <= first.offset) || last < first.file) {
      return { files: [], transactions: 0, ...(excluded && { firstExcluded: excluded }) };
    }
    return {
      files: segments.slice(first.file, last + 1).map((s) => s.path),
      ...(first.file === 0 && { startOffset: first.offset }),
      ...(stopOffset !== undefined && { stopOffset }),
      transactions,
      ...(lastApplied && { lastApplied }),
      ...(excluded && { firstExcluded: excluded }),
    };
  };

  for (const [index, segment] of segments.entries()) {
    for (const event of binlogEvents(segment.path)) {
      if (event.serverEnd === 0 || event.type === FORMAT_DESCRIPTION) {
        continue;
      }
      const serverStart = event.serverEnd - event.length;
      if (index === 0 && serverStart < from.position) {
        continue;
      }
      const here: LogEvent = {
        file: segment.serverFile,
        position: event.serverEnd,
        at: iso(event.timestamp),
        ...((event.gtid ?? open?.gtid) && { gtid: event.gtid ?? open?.gtid }),
      };
      const opens = TRANSACTION_START.has(event.type);
      if (opens && targetDone) {
        return window(index, event.offset, here);
      }
      const passed =
        stop.kind === 'instant'
          ? event.timestamp > stopSecond
          : stop.kind === 'position' && compareLogCoordinates({ file: segment.serverFile, position: serverStart }, stop) >= 0;
      if (passed) {
        if (open && !opens) {
          // The transaction this event belongs to is left out whole: back to the last event before it.
          transactions -= 1;
          lastApplied = open.before;
          return window(open.file, open.offset, here);
        }
        return window(index, event.offset, here);
      }
      if (opens) {
        open = { file: index, offset: event.offset, ...(event.gtid && { gtid: event.gtid }), ...(lastApplied && { before: lastApplied }) };
        transactions += 1;
      } else if (OUTSIDE_TRANSACTIONS.has(event.type)) {
        open = undefined;
      }
      if (target && event.gtid) {
        const seen = parseGtid(event.gtid);
        if (event.gtid === wanted) {
          targetDone = true;
        } else if (seen.stream === target.stream && seen.seq > target.seq) {
          throw new BinlogReplayError(
            `GTID ${wanted} is not in the archived log after the dump: it goes on to ${event.gtid} without it; pick a GTID the segments hold`,
          );
        }
      }
      first ??= { file: index, offset: event.offset };
      // The end event reported is a transaction's: rotations and checkpoints between files say nothing of the data.
      if (open) {
        lastApplied = here;
      }
      reachedEnd = { file: segment.serverFile, position: event.serverEnd };
    }
  }
  if (target && !targetDone) {
    throw new BinlogReplayError(
      `GTID ${wanted} is not in the archived log from ${from.file}:${from.position} to ${reachedEnd.file}:${reachedEnd.position}; pick a GTID the segments hold`,
    );
  }
  if (stop.kind === 'position' && compareLogCoordinates(reachedEnd, stop) < 0) {
    throw new BinlogReplayError(
      `position ${stop.file}:${stop.position} is past the archived log, which ends at ${reachedEnd.file}:${reachedEnd.position}; pick a position the segments hold`,
    );
  }
  return window(segments.length - 1);
}

/** The tool's filters for `include`: it filters one database (local files only) and one table of it. */
export function includeFilters(include: readonly string[]): string[] {
  if (include.length === 0) {
    return [];
  }
  const parsed = include.map((name) => (name.includes('.') ? (name.split('.', 2) as [string, string]) : ([name] as [string])));
  const databases = new Set(parsed.map((p) => p[0]));
  const tables = parsed.filter((p) => p.length === 2);
  if (databases.size > 1 || (tables.length > 0 && include.length > 1)) {
    throw new BinlogReplayError(
      `include: a replay to an instant selects one database or one table of it (mariadb-binlog --database/--table filter one each); found ${include.map((n) => `"${n}"`).join(', ')}: restore each in its own restore`,
    );
  }
  const [db, table] = parsed[0];
  return [`--database=${db}`, ...(table ? [`--table=${table}`] : [])];
}

/** The decoding tool's argv for a window (no secret: the tool reads local files only). */
export function replayArgs(
  window: BinlogReplayWindow,
  options: Pick<BinlogReplayOptions, 'include' | 'sourceDatabase' | 'target'>,
): string[] {
  const rename =
    options.sourceDatabase && options.target.database && options.sourceDatabase !== options.target.database
      ? [`--rewrite-db=${options.sourceDatabase}->${options.target.database}`]
      : [];
  return [
    ...rename,
    ...includeFilters(options.include ?? []),
    ...(window.startOffset !== undefined ? [`--start-position=${window.startOffset}`] : []),
    ...(window.stopOffset !== undefined ? [`--stop-position=${window.stopOffset}`] : []),
    ...window.files,
  ];
}

/**
 * Replays the segments into the target: `mariadb-binlog <segments> | mariadb`, the decoder's stdout handed to
 * the client as its stdin (no byte passes through Node). Credentials reach the client in a 0600 option file.
 */
export async function replayBinlog(options: BinlogReplayOptions): Promise<BinlogReplayResult> {
  const window = planBinlogReplay(options.segments, options.from, options.stop);
  const args = replayArgs(window, options);
  if (window.files.length === 0) {
    return { ...window, args: [] };
  }
  const flavour = options.flavour ?? 'mariadb';
  const credentials = credentialsFile(options.target);
  try {
    const decoder = startTool('mariadb-binlog', args, { env: { TZ: 'UTC' } });
    const client = startTool(
      clientTool(flavour),
      [
        `--defaults-extra-file=${credentials.path}`,
        '-h',
        options.target.host,
        '-P',
        String(options.target.port),
        ...tlsFlags(flavour, options.target.tls),
        '--binary-mode',
        '--max-allowed-packet=1G',
      ],
      { stdin: decoder.child.stdout ?? 'ignore' },
    );
    // The decoder's verdict first: a client that died of a broken input names the consequence, not the cause.
    const [decoded, applied] = await Promise.allSettled([decoder.succeeded(), client.succeeded()]);
    if (decoded.status === 'rejected') {
      throw decoded.reason;
    }
    if (applied.status === 'rejected') {
      throw applied.reason;
    }
    return { ...window, args };
  } finally {
    credentials.remove();
  }
}
