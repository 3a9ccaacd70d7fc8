import * as z from 'zod';
import type { Engine } from './engines';
import { DatabaseNameSchema, LOG_FILE_NAME, LOG_KINDS, LogCoordinatesSchema, type LogKind, SegmentIdSchema } from './vault';

/**
 * Continuous log archiving, engine-neutral: a database's change log (MySQL/MariaDB binlog, later PostgreSQL WAL)
 * is archived as segments, each a slice of one server log file with its own checksum and a manifest written
 * last; a cursor in the vault index says where the next run starts. A full dump records the log coordinates of
 * its snapshot, so a full dump plus the contiguous segments from its coordinates restore any instant up to
 * what the segments cover. Coordinates are (server file, byte position), which both engines' logs are.
 */

/** Engines whose logs Strongbox archives, and the kind of log. Other engines refuse a `logs` block. */
export const LOG_KIND_BY_ENGINE: Readonly<Partial<Record<Engine, LogKind>>> = { mysql: 'binlog', mariadb: 'binlog', postgres: 'wal' };

/** The smallest archiving interval: EventBridge Scheduler's `rate()` counts whole minutes. */
export const MIN_LOG_INTERVAL_MINUTES = 1;

/**
 * How many archiving intervals the server must keep its logs for (RDS `binlog retention hours`): one run that
 * fails and its retry must still find the files, or the chain breaks.
 */
export const LOG_RETENTION_INTERVALS = 3;

/** The RDS `binlog retention hours` that keeps LOG_RETENTION_INTERVALS intervals (RDS counts whole hours, at least 1). */
export function rdsBinlogRetentionHours(intervalMinutes: number): number {
  return Math.max(1, Math.ceil((LOG_RETENTION_INTERVALS * intervalMinutes) / 60));
}

/** The exact RDS/Aurora call that sets it; RDS keeps no binlogs at all by default (NULL). */
export function rdsBinlogRetentionCall(intervalMinutes: number): string {
  return `CALL mysql.rds_set_configuration('binlog retention hours', ${rdsBinlogRetentionHours(intervalMinutes)});`;
}

/** What a MySQL/MariaDB server needs for binlog archiving, in the words of every message that mentions it. */
export function binlogServerNeeds(intervalMinutes: number): string {
  return `the server needs log_bin ON and binlog_format=ROW (on RDS/Aurora also a binlog retention of at least ${LOG_RETENTION_INTERVALS} intervals: ${rdsBinlogRetentionCall(intervalMinutes)})`;
}

const isoDate = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, { error: 'expected a lowercase hex SHA-256' });

// Defined beside the drill record in vault.ts, which records the coordinates a chain drill replayed between.
export { LogCoordinatesSchema };
export type LogCoordinates = z.infer<typeof LogCoordinatesSchema>;

/**
 * `manifest.json` of one segment. The data object holds the server's own log bytes (with `--raw`, a valid binlog
 * file that `mariadb-binlog` reads), so segments restore by hand with stock tools.
 */
export const SegmentManifestSchema = z.strictObject({
  schemaVersion: z.literal(1),
  segmentId: SegmentIdSchema,
  database: DatabaseNameSchema,
  kind: z.enum(LOG_KINDS),
  engine: z.strictObject({ serverVersion: z.string().min(1), serverId: z.number().int().min(0).optional() }),
  /** The server's name of the log file this segment is a slice of. */
  serverFile: z.string().regex(LOG_FILE_NAME),
  /** Byte offsets in `serverFile`: the first event archived, and where archiving stopped. */
  startPosition: z.number().int().min(0),
  endPosition: z.number().int().min(0),
  /** True when the server had moved on to the next file: this segment runs to the end of `serverFile`. */
  closed: z.boolean(),
  /**
   * Where the following segment must start: `serverFile`/`endPosition` for a growing tail, the next file's first
   * position for a closed file (as its rotate event names it). Contiguity is equality with the next's start.
   */
  next: LogCoordinatesSchema,
  /** Timestamps of the first and last event (the log's own, one-second resolution); absent when it held none. */
  firstEventAt: isoDate.optional(),
  lastEventAt: isoDate.optional(),
  /** When the server's end was read: the log is known to hold nothing else up to `endPosition` at this instant. */
  coveredUntil: isoDate,
  /** First and last transaction id in the segment (MariaDB `0-1-42`, MySQL `uuid:42`), where the server has GTIDs. */
  gtid: z.strictObject({ first: z.string().min(1), last: z.string().min(1) }).optional(),
  artifact: z.strictObject({
    key: z.string().min(1),
    bytes: z.number().int().min(0),
    sha256: sha256Hex,
    uncompressedBytes: z.number().int().min(0),
    compression: z.strictObject({ algorithm: z.literal('zstd'), level: z.number().int() }),
  }),
  /** The exact argv of the reading tool, which never holds a secret. */
  tool: z.strictObject({ name: z.string().min(1), version: z.string().min(1), args: z.array(z.string()) }),
  archivedAt: isoDate,
});
export type SegmentManifest = z.infer<typeof SegmentManifestSchema>;

/**
 * `verification.json` beside a segment's manifest, written by the archiving task once it has read the segment
 * back from the vault: the stored bytes against the manifest's size and SHA-256, then the decompressed log
 * parsed by the stock tool (`mariadb-binlog`, which Lambda cannot run) and its last event against the manifest's
 * `endPosition`. A segment whose record says `passed: false` is a gap: the chain is broken there (ChainInput's
 * `failedSegmentIds`), exactly as if the server had purged it. A segment without a record (archived before
 * verification existed) counts as intact.
 */
export const SegmentVerificationSchema = z.strictObject({
  schemaVersion: z.literal(1),
  segmentId: SegmentIdSchema,
  passed: z.boolean(),
  verifiedAt: isoDate,
  checks: z.strictObject({
    bytes: z.boolean(),
    sha256: z.boolean(),
    /** The stock tool read every event of the decompressed segment. */
    parsed: z.boolean(),
    /** The last parsed event ends at the manifest's `endPosition`. */
    endPosition: z.boolean(),
  }),
  /** Events the stock tool read; absent when it could not parse the segment. */
  events: z.number().int().min(0).optional(),
  /** The first check that failed, in words; absent when all passed. */
  reason: z.string().min(1).optional(),
});
export type SegmentVerification = z.infer<typeof SegmentVerificationSchema>;

/** `index/<db>/log-cursor.json`: kept by the archiving run after each segment's manifest. */
export const LogCursorSchema = z.strictObject({
  schemaVersion: z.literal(1),
  database: DatabaseNameSchema,
  kind: z.enum(LOG_KINDS),
  /** Where the next run starts reading. */
  next: LogCoordinatesSchema,
  lastSegmentId: SegmentIdSchema.optional(),
  /** The newest instant the archived log covers (the last run's read of the server's end). */
  coveredUntil: isoDate,
  updatedAt: isoDate,
  /**
   * A broken chain: the server no longer had the cursor's file (purged before it was archived), or its log did not
   * continue from the cursor. Restores cannot cross it; the next full dump starts a new chain.
   */
  broken: z.strictObject({ at: isoDate, reason: z.string().min(1), resumedAt: LogCoordinatesSchema }).optional(),
});
export type LogCursor = z.infer<typeof LogCursorSchema>;

/** Whole seconds from the newest covered instant to `now`; never negative (clocks of the task and server differ). */
export function archiveLagSeconds(cursor: Pick<LogCursor, 'coveredUntil'>, now: Date): number {
  return Math.max(0, Math.round((now.getTime() - Date.parse(cursor.coveredUntil)) / 1000));
}

/**
 * Server log files sort by their numeric suffix (`binlog.000009` < `binlog.000010` < `binlog.1000000`), which
 * string order gets wrong once the counter outgrows its padding; files of another base name never compare equal.
 */
export function compareLogCoordinates(a: LogCoordinates, b: LogCoordinates): number {
  if (a.file !== b.file) {
    const sa = /^(.*?)(\d+)$/.exec(a.file);
    const sb = /^(.*?)(\d+)$/.exec(b.file);
    if (sa && sb && sa[1] === sb[1]) {
      const na = BigInt(sa[2]);
      const nb = BigInt(sb[2]);
      return na < nb ? -1 : na > nb ? 1 : a.position - b.position;
    }
    return a.file < b.file ? -1 : 1;
  }
  return a.position - b.position;
}

/** A verified full dump as the chain sees it: its consistent instant and the log coordinates of its snapshot. */
export interface FullPoint {
  readonly backupId: string;
  /** The instant the dump's snapshot shows (its manifest's `startedAt`). */
  readonly at: Date;
  readonly position?: LogCoordinates;
  /** The dump's GTID state (MariaDB `gtid_binlog_pos` list, MySQL GTID set), for a restore by GTID. */
  readonly gtid?: string;
}

/** The part of a segment manifest the chain needs (`gtid` only for a restore by GTID). */
export type ChainSegment = Pick<SegmentManifest, 'segmentId' | 'serverFile' | 'startPosition' | 'next' | 'lastEventAt' | 'coveredUntil'> &
  Partial<Pick<SegmentManifest, 'gtid'>>;

/** A span of instants any of which a restore can reach, both ends included (one-second resolution). */
export interface RestorableRange {
  readonly from: string;
  readonly to: string;
}

export interface ChainInput {
  readonly fulls: readonly FullPoint[];
  readonly segments: readonly ChainSegment[];
  /** Replay reaches no instant before this (now minus `windowDays`); full dumps themselves stay restorable. */
  readonly windowStart: Date;
  /** The archiver's cursor: its `coveredUntil` extends the newest run when the log was quiet since the last segment. */
  readonly cursor?: Pick<LogCursor, 'next' | 'coveredUntil'>;
  /** Segments whose verification failed (SegmentVerificationSchema): left out, so the chain breaks at each. */
  readonly failedSegmentIds?: readonly string[];
}

/** A contiguous run of segments: each starts exactly where the previous one's `next` points. */
interface Run {
  readonly segments: readonly ChainSegment[];
  readonly start: LogCoordinates;
  readonly next: LogCoordinates;
  readonly coveredUntil: number;
}

const startOf = (s: ChainSegment): LogCoordinates => ({ file: s.serverFile, position: s.startPosition });
const same = (a: LogCoordinates, b: LogCoordinates) => compareLogCoordinates(a, b) === 0;
const seconds = (ms: number) => Math.floor(ms / 1000) * 1000;

function runsOf(segments: readonly ChainSegment[], cursor: ChainInput['cursor']): Run[] {
  // A run killed after its manifest but before the cursor leaves a segment that the next run archives again,
  // longer; of segments with one start, the one reaching furthest is kept, and of two reaching as far the one
  // covering later (a quiet log read again), whatever order the listing gave them in.
  const byStart = new Map<string, ChainSegment>();
  for (const s of segments) {
    const key = `${s.serverFile}\u0000${s.startPosition}`;
    const held = byStart.get(key);
    const further = held ? compareLogCoordinates(s.next, held.next) : 1;
    if (further > 0 || (further === 0 && held && Date.parse(s.coveredUntil) > Date.parse(held.coveredUntil))) {
      byStart.set(key, s);
    }
  }
  const sorted = [...byStart.values()].sort((a, b) => compareLogCoordinates(startOf(a), startOf(b)));
  const runs: { segments: ChainSegment[]; coveredUntil: number }[] = [];
  for (const s of sorted) {
    const last = runs.at(-1);
    const tail = last?.segments.at(-1);
    if (last && tail && same(tail.next, startOf(s))) {
      last.segments.push(s);
      last.coveredUntil = Math.max(last.coveredUntil, Date.parse(s.coveredUntil));
    } else {
      runs.push({ segments: [s], coveredUntil: Date.parse(s.coveredUntil) });
    }
  }
  return runs.map((r) => {
    const next = (r.segments.at(-1) as ChainSegment).next;
    const quiet = cursor && same(cursor.next, next) ? Date.parse(cursor.coveredUntil) : r.coveredUntil;
    return { segments: r.segments, start: startOf(r.segments[0]), next, coveredUntil: seconds(Math.max(quiet, r.coveredUntil)) };
  });
}

function intactSegments(input: ChainInput): readonly ChainSegment[] {
  const failed = new Set(input.failedSegmentIds ?? []);
  return failed.size === 0 ? input.segments : input.segments.filter((s) => !failed.has(s.segmentId));
}

/** The run whose segments hold `position`: a dump taken exactly at a run's end replays nothing from it. */
function runHolding(runs: readonly Run[], position: LogCoordinates): Run | undefined {
  return runs.find((r) => compareLogCoordinates(r.start, position) <= 0 && compareLogCoordinates(position, r.next) <= 0);
}

/**
 * The instants a restore can reach: every verified full dump's own instant, and, from each dump whose log
 * coordinates lie in a contiguous run of segments, every second up to what that run covers, within the window.
 * Sorted, disjoint and not touching (a range ending at a second and another starting the next are separate).
 */
export function restorableRanges(input: ChainInput): RestorableRange[] {
  const runs = runsOf(intactSegments(input), input.cursor);
  const windowStart = Math.ceil(input.windowStart.getTime() / 1000) * 1000;
  const spans: [number, number][] = [];
  for (const full of input.fulls) {
    const at = seconds(full.at.getTime());
    spans.push([at, at]);
    const run = full.position && runHolding(runs, full.position);
    if (run) {
      const from = Math.max(at, windowStart);
      if (run.coveredUntil >= from) {
        spans.push([from, run.coveredUntil]);
      }
    }
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const [from, to] of spans) {
    const last = merged.at(-1);
    if (last && from <= last[1]) {
      last[1] = Math.max(last[1], to);
    } else {
      merged.push([from, to]);
    }
  }
  return merged.map(([from, to]) => ({ from: new Date(from).toISOString(), to: new Date(to).toISOString() }));
}

/** How to reach one instant: a full dump, then (unless the instant is the dump's own) the segments to replay. */
export interface ReplayPlan {
  readonly backupId: string;
  /** Replay starts at the dump's coordinates, inside the first segment. */
  readonly from?: LogCoordinates;
  /** In replay order; empty when the instant is the dump's own. */
  readonly segmentIds: readonly string[];
  /** Replay stops before the first event after this instant. */
  readonly stopAt: string;
}

/**
 * The plan for `instant`, or undefined when no range holds it. The newest dump that reaches the instant wins:
 * less to replay. Segments run from the one holding the dump's coordinates to the first holding an event after
 * the instant (or the run's end).
 */
export function planReplay(instant: Date, input: ChainInput): ReplayPlan | undefined {
  const runs = runsOf(intactSegments(input), input.cursor);
  const t = seconds(instant.getTime());
  const windowStart = Math.ceil(input.windowStart.getTime() / 1000) * 1000;
  const fulls = [...input.fulls].sort((a, b) => b.at.getTime() - a.at.getTime() || (a.backupId < b.backupId ? 1 : -1));
  for (const full of fulls) {
    const at = seconds(full.at.getTime());
    if (at > t) {
      continue;
    }
    const stopAt = new Date(t).toISOString();
    if (at === t) {
      return { backupId: full.backupId, segmentIds: [], stopAt };
    }
    const run = full.position && runHolding(runs, full.position);
    if (!full.position || !run || t < windowStart || run.coveredUntil < t) {
      continue;
    }
    const position = full.position;
    const first = run.segments.findIndex((s) => compareLogCoordinates(position, s.next) < 0);
    if (first === -1) {
      // The dump sits at the run's very end and the instant is in its quiet tail: nothing to replay.
      return { backupId: full.backupId, from: position, segmentIds: [], stopAt };
    }
    // The replay tool stops at the first event after the instant, so a segment that holds one is the last needed.
    // A closed file's coverage says nothing about the next file's events, so coverage alone never ends the list.
    let last = run.segments.findIndex((s, i) => i >= first && s.lastEventAt !== undefined && seconds(Date.parse(s.lastEventAt)) > t);
    if (last === -1) {
      last = run.segments.length - 1;
    }
    return { backupId: full.backupId, from: position, segmentIds: run.segments.slice(first, last + 1).map((s) => s.segmentId), stopAt };
  }
  return undefined;
}

/**
 * Which segments retention keeps (issue 12 step 7): every segment whose coverage reaches into the window, plus
 * every segment a kept full dump needs to replay into the window, so that no instant a restore can reach with
 * all segments is lost with the kept ones. `fulls` are the full dumps retention keeps. Per contiguous run that
 * reaches the window, replay starts at the newest kept dump taken at or before the window's start (planReplay
 * prefers the newest dump) and at each dump taken inside the window; each needs its run from the segment holding
 * its coordinates on. Segments that failed verification are kept while in the window (the evidence of the
 * break), never to carry a chain.
 */
export function segmentsToKeep(input: ChainInput): Set<string> {
  const windowStart = Math.ceil(input.windowStart.getTime() / 1000) * 1000;
  const keep = new Set(input.segments.filter((s) => Date.parse(s.coveredUntil) >= windowStart).map((s) => s.segmentId));
  for (const run of runsOf(intactSegments(input), input.cursor)) {
    if (run.coveredUntil < windowStart) {
      continue;
    }
    const based = input.fulls.filter((f) => f.position && runHolding([run], f.position)).sort((a, b) => b.at.getTime() - a.at.getTime());
    const atStart = based.find((f) => seconds(f.at.getTime()) <= windowStart);
    const bases = [...(atStart ? [atStart] : []), ...based.filter((f) => seconds(f.at.getTime()) > windowStart)];
    for (const full of bases) {
      const position = full.position as LogCoordinates;
      const first = run.segments.findIndex((s) => compareLogCoordinates(position, s.next) < 0);
      for (const s of first === -1 ? [] : run.segments.slice(first)) {
        keep.add(s.segmentId);
      }
    }
  }
  return keep;
}

/** One line for refusals: `2026-11-21T03:00:00Z to 2026-11-21T04:12:09Z, 2026-11-22T03:00:00Z`. */
export function describeRanges(ranges: readonly RestorableRange[], limit = 10): string {
  if (ranges.length === 0) {
    return 'none (no verified full backup yet)';
  }
  const text = (r: RestorableRange) => {
    const from = r.from.replace('.000Z', 'Z');
    const to = r.to.replace('.000Z', 'Z');
    return from === to ? from : `${from} to ${to}`;
  };
  const shown = ranges.slice(-limit).map(text);
  return ranges.length > limit ? `${shown.join(', ')} (and ${ranges.length - limit} older)` : shown.join(', ');
}

/** What the newest restorable instant rests on: the archived log, or the newest verified full dump alone. */
export interface NewestRestorable {
  /** Undefined with no verified full dump: nothing is restorable, whatever the log holds. */
  readonly at?: Date;
  readonly source: 'log' | 'full';
  /** The cursor's break, when it is why the log does not count. */
  readonly broken?: NonNullable<LogCursor['broken']>;
}

/**
 * The newest instant a restore can reach, from the two small pointers the watchdog reads (no listing): the log's
 * coverage when a verified full dump sits on an intact chain, else that dump's own instant. A break recorded in the
 * cursor (purged binlog, failed segment) counts until a full dump taken after it starts a new chain, because replay
 * cannot cross the break: until then the RPO falls back to the full backup schedule.
 */
export function newestRestorable(
  fullTakenAt: Date | undefined,
  cursor: Pick<LogCursor, 'coveredUntil' | 'broken'> | undefined,
): NewestRestorable {
  if (fullTakenAt === undefined) {
    return { source: 'full' };
  }
  if (!cursor) {
    return { at: fullTakenAt, source: 'full' };
  }
  if (cursor.broken && fullTakenAt.getTime() < Date.parse(cursor.broken.at)) {
    return { at: fullTakenAt, source: 'full', broken: cursor.broken };
  }
  const covered = Date.parse(cursor.coveredUntil);
  return covered > fullTakenAt.getTime() ? { at: new Date(covered), source: 'log' } : { at: fullTakenAt, source: 'full' };
}

// --- Restore to an instant, a log position or a transaction id (pitr-restore) ---

/** MariaDB `domain-server-seq` (`0-1-42`) or MySQL `source_uuid:transaction_id`. */
export const GTID = /^(?:\d{1,10}-\d{1,10}-\d{1,20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:\d{1,20})$/i;

/**
 * Where a replay stops, in the log's own terms. The boundary rule, for every kind: a transaction is replayed
 * whole or not at all, and replay ends before the first transaction that passes the stop.
 *   - instant: every transaction whose events all carry a timestamp at or before the instant's second (the log
 *     has one-second resolution: "restore to 03:29:59" applies everything logged in 03:29:59 and nothing of 03:30:00);
 *   - position: the server's file and byte offset, as SHOW BINLOG EVENTS lists them; events starting at or after
 *     it are not applied (the tool's own --stop-position rule), and a position inside a transaction stops before it;
 *   - gtid: up to and including that transaction, in log order.
 */
export const ReplayStopSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('instant'), at: isoDate }),
  z.strictObject({ kind: z.literal('position'), file: z.string().regex(LOG_FILE_NAME), position: z.number().int().min(0) }),
  z.strictObject({ kind: z.literal('gtid'), gtid: z.string().regex(GTID) }),
]);
export type ReplayStop = z.infer<typeof ReplayStopSchema>;

/** MariaDB GTIDs order by sequence number within a domain; MySQL's by transaction id within a source uuid. */
export function parseGtid(gtid: string): { readonly stream: string; readonly seq: bigint } {
  const maria = /^(\d+)-\d+-(\d+)$/.exec(gtid);
  if (maria) {
    return { stream: maria[1], seq: BigInt(maria[2]) };
  }
  const mysql = /^([0-9a-f-]{36}):(\d+)$/i.exec(gtid);
  if (mysql) {
    return { stream: mysql[1].toLowerCase(), seq: BigInt(mysql[2]) };
  }
  throw new Error(`"${gtid}" is not a GTID; expected MariaDB "domain-server-seq" such as "0-1-42" or MySQL "uuid:42"`);
}

/** One line for a stop, as audit records and progress lines show it. */
export function describeStop(stop: ReplayStop): string {
  switch (stop.kind) {
    case 'instant':
      return `instant ${stop.at.replace('.000Z', 'Z')}`;
    case 'position':
      return `position ${stop.file}:${stop.position}`;
    case 'gtid':
      return `GTID ${stop.gtid}`;
  }
}

// --- Chain drill (issue 12 step 6): the segments joining two full dumps ---

/** The segments that carry the log from one dump's coordinates to the next's, and those coordinates. */
export interface ChainLink {
  readonly from: LogCoordinates;
  readonly to: LogCoordinates;
  /** In replay order; empty when nothing was written between the two dumps. */
  readonly segments: readonly ChainSegment[];
}

/**
 * The contiguous segments from `from` up to `to`, or undefined when no intact run of segments holds both (a
 * purged binlog, a gap, a position the archiver never reached). Like planReplay, of segments with one start the
 * one reaching furthest counts, and a segment is needed when it holds an event before `to`.
 */
export function segmentsBetween(from: LogCoordinates, to: LogCoordinates, segments: readonly ChainSegment[]): ChainLink | undefined {
  const order = compareLogCoordinates(from, to);
  if (order > 0) {
    return undefined;
  }
  if (order === 0) {
    return { from, to, segments: [] };
  }
  const run = runHolding(runsOf(segments, undefined), from);
  if (!run || compareLogCoordinates(to, run.next) > 0) {
    return undefined;
  }
  const first = run.segments.findIndex((s) => compareLogCoordinates(from, s.next) < 0);
  const last = run.segments.findIndex((s) => compareLogCoordinates(to, s.next) <= 0);
  return { from, to, segments: run.segments.slice(first, last + 1) };
}

/** A verified full dump with the log coordinates of its snapshot, as the chain drill picks pairs from. */
export interface ChainPoint {
  readonly backupId: string;
  readonly at: Date;
  readonly position: LogCoordinates;
}

/**
 * The newest pair of consecutive verified dumps (N, N+1) that an intact run of segments joins, or undefined when
 * none does (the drill then restores the newest dump alone). Consecutive: a chain drill proves every link
 * between two fulls, so a pair that skips a dump would prove links already proven by the shorter pairs.
 */
export function newestChainPair(
  points: readonly ChainPoint[],
  segments: readonly ChainSegment[],
): { readonly from: ChainPoint; readonly to: ChainPoint; readonly link: ChainLink } | undefined {
  const sorted = [...points].sort((a, b) => a.at.getTime() - b.at.getTime() || (a.backupId < b.backupId ? -1 : 1));
  for (let i = sorted.length - 1; i > 0; i--) {
    const from = sorted[i - 1];
    const to = sorted[i];
    const link = segmentsBetween(from.position, to.position, segments);
    if (link) {
      return { from, to, link };
    }
  }
  return undefined;
}

/** A plan to any stop: an instant's as planReplay makes it, or one to a position or a GTID. */
export interface StopPlan {
  readonly backupId: string;
  readonly from?: LogCoordinates;
  readonly segmentIds: readonly string[];
  readonly stop: ReplayStop;
  /** For an instant: the second replay stops after (as planReplay's). */
  readonly stopAt?: string;
}

/** The highest sequence number of `stream` in a GTID state list (`0-1-41,1-2-7` or MySQL `uuid:1-41`), if it names the stream. */
function gtidStateSeq(state: string, stream: string): bigint | undefined {
  let best: bigint | undefined;
  for (const part of state.split(',').map((p) => p.trim())) {
    const maria = /^(\d+)-\d+-(\d+)$/.exec(part);
    const mysql = /^([0-9a-f-]{36})((?::\d+(?:-\d+)?)+)$/i.exec(part);
    const seq =
      maria && maria[1] === stream
        ? BigInt(maria[2])
        : mysql && mysql[1].toLowerCase() === stream
          ? BigInt((mysql[2].match(/\d+/g) ?? ['0']).at(-1) as string)
          : undefined;
    if (seq !== undefined && (best === undefined || seq > best)) {
      best = seq;
    }
  }
  return best;
}

/** Whether a segment's GTID range holds `gtid` (both ends in the stream, and the sequence number between them). */
function segmentHoldsGtid(segment: ChainSegment, gtid: { stream: string; seq: bigint }): boolean {
  if (!segment.gtid || !GTID.test(segment.gtid.first) || !GTID.test(segment.gtid.last)) {
    return false;
  }
  const first = parseGtid(segment.gtid.first);
  const last = parseGtid(segment.gtid.last);
  return first.stream === gtid.stream && last.stream === gtid.stream && first.seq <= gtid.seq && gtid.seq <= last.seq;
}

/**
 * The plan for any stop, or undefined when no verified full dump and contiguous run of segments reach it.
 * An instant plans as planReplay does. A position or GTID plans from the newest full dump taken before it (by
 * coordinates; for a GTID by the dump's GTID state, else by the coordinates of the segment holding it), over the
 * segments from the dump's to the one holding the stop. A position equal to a dump's own coordinates restores
 * that dump alone.
 */
export function planReplayTo(stop: ReplayStop, input: ChainInput): StopPlan | undefined {
  if (stop.kind === 'instant') {
    const plan = planReplay(new Date(stop.at), input);
    return plan && { ...plan, stop };
  }
  const runs = runsOf(input.segments, input.cursor);
  const gtid = stop.kind === 'gtid' ? parseGtid(stop.gtid) : undefined;
  const fulls = [...input.fulls]
    .filter((f) => f.position !== undefined)
    .sort(
      (a, b) => compareLogCoordinates(b.position as LogCoordinates, a.position as LogCoordinates) || (a.backupId < b.backupId ? 1 : -1),
    );
  for (const full of fulls) {
    const position = full.position as LogCoordinates;
    const run = runHolding(runs, position);
    const dumpSeq = gtid && full.gtid !== undefined ? gtidStateSeq(full.gtid, gtid.stream) : undefined;
    if ((stop.kind === 'position' && compareLogCoordinates(position, stop) === 0) || (gtid && dumpSeq === gtid.seq)) {
      return { backupId: full.backupId, from: position, segmentIds: [], stop };
    }
    if (!run) {
      continue;
    }
    const first = run.segments.findIndex((s) => compareLogCoordinates(position, s.next) < 0);
    if (first === -1) {
      continue;
    }
    const last = run.segments.findIndex(
      (s, i) =>
        i >= first &&
        (gtid
          ? segmentHoldsGtid(s, gtid)
          : compareLogCoordinates(startOf(s), stop as LogCoordinates) <= 0 && compareLogCoordinates(stop as LogCoordinates, s.next) <= 0),
    );
    if (last === -1) {
      continue;
    }
    const holding = run.segments[last] as ChainSegment;
    const before = gtid
      ? dumpSeq !== undefined
        ? dumpSeq < gtid.seq
        : compareLogCoordinates(position, startOf(holding)) <= 0
      : compareLogCoordinates(position, stop as LogCoordinates) < 0;
    if (before) {
      return { backupId: full.backupId, from: position, segmentIds: run.segments.slice(first, last + 1).map((s) => s.segmentId), stop };
    }
  }
  return undefined;
}

// --- Physical chain drill (issue 13 step 6): a base and the log up to a full dump's point ---

/** A physical base (PostgreSQL base backup) as the chain drill sees it: replay starts at `position`. */
export interface ChainBase extends FullPoint {
  /** The first point recovery may stop at (the base's stop: the copy is consistent from there). */
  readonly consistentAt?: LogCoordinates;
}

/**
 * The newest full dump that a physical base and the archived log recover to exactly, with the newest such base:
 * one intact run of segments holds the base's start and the dump's coordinates, the base is consistent at or
 * before them, and the run holds log past them (recovery to a position learns it got there only from the next
 * record, so a run that ends exactly at the dump's coordinates cannot prove it). Undefined when no dump qualifies:
 * the drill then restores the newest dump alone.
 */
export function newestRecoverablePoint(
  points: readonly ChainPoint[],
  bases: readonly ChainBase[],
  segments: readonly ChainSegment[],
): { readonly point: ChainPoint; readonly base: ChainBase; readonly link: ChainLink } | undefined {
  const newestFirst = <T extends { readonly at: Date; readonly backupId: string }>(list: readonly T[]) =>
    [...list].sort((a, b) => b.at.getTime() - a.at.getTime() || (a.backupId < b.backupId ? 1 : -1));
  const runs = runsOf(segments, undefined);
  const candidates = newestFirst(bases).filter((b): b is ChainBase & { position: LogCoordinates } => b.position !== undefined);
  for (const point of newestFirst(points)) {
    for (const base of candidates) {
      if (compareLogCoordinates(base.consistentAt ?? base.position, point.position) > 0) {
        continue;
      }
      const run = runHolding(runs, base.position);
      const link =
        run && compareLogCoordinates(point.position, run.next) < 0 && segmentsBetween(base.position, point.position, run.segments);
      if (link) {
        return { point, base, link };
      }
    }
  }
  return undefined;
}
