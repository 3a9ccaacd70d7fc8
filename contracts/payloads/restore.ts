import { isIP } from 'node:net';
import * as z from 'zod';
import { ENGINES, MYSQL_IDENTIFIER, POSTGRES_IDENTIFIER, TLS_MODES } from '../engines';
import { GTID, LogCoordinatesSchema, ReplayStopSchema } from '../logs';
import { RESTORE_POINT_NAME_BYTES } from '../recovery';
import { BackupIdSchema, DatabaseNameSchema, LOG_FILE_NAME, MismatchSchema, parseBackupId } from '../vault';
import { BaseIdSchema } from '../wal';
import { ExecutionContextSchema } from './backup';

/**
 * Payloads of the restore state machine (the drill's are in drill.ts, the DR plan's in dr-plan.ts). `RestoreInputSchema` is THE contract an on-call
 * engineer types into the Step Functions console; its JSON Schema is published in the README
 * (`restoreInputJsonSchema()`), and every message reads "expected ..." so `describeZodIssues` turns it into
 * `field: found <value>; expected ...`.
 *
 * The recovery point is exactly one of three fields rather than one polymorphic field, so the console input
 * reads naturally and each has its own type check:
 *   { "backupId": "orders-20261121T030405Z-full" }   that backup
 *   { "pointInTime": "2026-11-21T03:30:00Z" }         the newest verified backup taken at or before that instant
 *   { "latest": true }                                the newest verified backup
 * and, for a database with a `logs` block (binlog archiving), two more, replayed from the log after a full dump:
 *   { "position": { "file": "binlog.000042", "position": 1234 } }   up to that server position
 *   { "gtid": "0-1-4711" }                                          up to and including that transaction
 * (a `pointInTime` of such a database replays the log up to that second), and for a PostgreSQL database with a
 * `logs` block (WAL archiving), recovered from a base backup and the WAL inside the restore task:
 *   { "lsn": "16/B374D848" }                                        up to and including the WAL record at that LSN
 *   { "restorePoint": "before-migration-42" }                       up to that pg_create_restore_point() name
 * (a `pointInTime` of such a database recovers the WAL up to the end of that second).
 */

/** A Secrets Manager secret ARN; the config's secretArn fields use the same rule. */
export const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;

/**
 * Length limits of the console input, each taken from the limit the value meets later, so that nothing passes
 * Resolve only to break a later state:
 *   - every value but `requestedBy` reaches the restore task through ECS RunTask container overrides, limited to
 *     8,192 characters in all, JSON formatting included (RunTask `overrides`); `include` gets half of that, and
 *     Resolve checks the overrides it builds against the whole limit (RUN_TASK_OVERRIDES_LIMIT);
 *   - host names: 253 characters, labels of 63 (RFC 1035);
 *   - database names: PostgreSQL keeps 63 bytes of an identifier (NAMEDATALEN - 1), MySQL/MariaDB 64 characters;
 *   - a Secrets Manager ARN is at most 2,048 characters;
 *   - a Redis pattern is capped at 512 characters (the task passes each to SCAN MATCH);
 *   - the Step Functions cause shows a message of at most 32,768 characters, and a value is quoted in it
 *     shortened to 60 (describeZodIssues).
 */
export const LIMITS = {
  hostChars: 253,
  hostLabelChars: 63,
  databaseChars: 64,
  postgresIdentifierBytes: POSTGRES_IDENTIFIER.max,
  mysqlIdentifierChars: MYSQL_IDENTIFIER.max,
  secretArnChars: 2048,
  includeEntryChars: 512,
  includeEntries: 200,
  /** JSON of the whole list, as it travels in STRONGBOX_INCLUDE: half of the RunTask overrides. */
  includeJsonChars: 4096,
  confirmChars: 64,
  pointInTimeChars: 64,
  gtidChars: 64,
  /** `FFFFFFFF/FFFFFFFF`: two 32-bit halves in hex. */
  lsnChars: 17,
  requestedByChars: 200,
} as const;

/** ECS RunTask accepts at most 8,192 characters of overrides, JSON formatting included. */
export const RUN_TASK_OVERRIDES_LIMIT = 8192;

const IPV4_LIKE = /^[0-9.]+$/;
const HOST_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/;

/**
 * Why `host` is not a host name or an IP address literal, or undefined when it is one. Host names are
 * RFC 1123 labels (letters, digits, "-" inside), plus "_", which some internal DNS zones use and resolvers
 * accept; one trailing dot (a fully qualified name) is allowed.
 */
export function hostProblem(host: string, portField = 'port'): string | undefined {
  if (host.trim() === '') {
    return `expected the host name or address of the server, such as "orders-copy.internal"; found ${host === '' ? 'an empty string' : 'only spaces'}`;
  }
  if (host !== host.trim()) {
    return 'expected the host name without spaces around it';
  }
  if (host.length > LIMITS.hostChars) {
    return `expected at most ${LIMITS.hostChars} characters (the longest DNS name), found ${host.length}`;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) {
    return 'expected a host name, not a URL: put only the host name here, such as "orders-copy.internal"';
  }
  const bracketed = /^\[([^\]]*)\](?::(\d+))?$/.exec(host);
  if (bracketed) {
    return bracketed[2]
      ? `expected the address without brackets or port: put "${bracketed[1]}" here and ${bracketed[2]} in "${portField}"`
      : `expected the address without brackets: "${bracketed[1]}"`;
  }
  if (isIP(host) !== 0) {
    return undefined;
  }
  const withPort = /^([^:]+):(\d{1,5})$/.exec(host);
  if (withPort) {
    return `expected a host name without a port: put "${withPort[1]}" here and ${withPort[2]} in "${portField}"`;
  }
  if (host.includes(':')) {
    return 'expected a host name or an IPv4/IPv6 address; an IPv6 address has only hexadecimal groups and colons';
  }
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (IPV4_LIKE.test(name)) {
    return 'expected an IPv4 address of four numbers 0-255, such as "10.0.1.17", or a host name';
  }
  const labels = name.split('.');
  const long = labels.find((label) => label.length > LIMITS.hostLabelChars);
  if (long) {
    return `expected DNS labels of at most ${LIMITS.hostLabelChars} characters; "${long.slice(0, 20)}..." has ${long.length}`;
  }
  if (labels.some((label) => !HOST_LABEL.test(label))) {
    return 'expected a host name of dot-separated labels (letters, digits, "-" and "_", not starting or ending with "-") or an IPv4/IPv6 address';
  }
  return undefined;
}

const hostSchema = (error: string) =>
  z
    .string({ error })
    .max(LIMITS.hostChars, { error: `expected at most ${LIMITS.hostChars} characters (the longest DNS name)`, abort: true })
    .superRefine((host, ctx) => {
      const problem = hostProblem(host, 'target.port');
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
      }
    });

export const RestoreTargetSchema = z
  .strictObject({
    host: hostSchema('expected the host name or address of the server to restore into'),
    port: z
      .number({ error: 'expected a TCP port number 1-65535 (a number, not a string)' })
      .int({ error: 'expected a TCP port number 1-65535' })
      .min(1, { error: 'expected a TCP port number 1-65535' })
      .max(65535, { error: 'expected a TCP port number 1-65535' })
      .optional()
      .describe('Default: the engine port.'),
    database: z
      .string({ error: 'expected the name of the database (PostgreSQL, MySQL) to restore into' })
      .min(1, { error: 'expected the name of the database (PostgreSQL, MySQL) to restore into' })
      .max(LIMITS.databaseChars, {
        error: `expected at most ${LIMITS.databaseChars} characters: the longest database name MySQL accepts (PostgreSQL: ${LIMITS.postgresIdentifierBytes} bytes)`,
        abort: true,
      })
      .optional()
      .describe(
        'Database to restore into: required for PostgreSQL; for MySQL/MariaDB the dumped databases when left out; not used for Redis.',
      ),
    secretArn: z
      .string({ error: 'expected a Secrets Manager ARN' })
      .max(LIMITS.secretArnChars, {
        error: `expected at most ${LIMITS.secretArnChars} characters, the longest Secrets Manager ARN`,
        abort: true,
      })
      .regex(SECRET_ARN, { error: 'expected a Secrets Manager ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>' })
      .optional()
      .describe('Secret of the target with "username" and "password" keys; required unless the engine is Redis without AUTH.'),
  })
  .describe('Where to restore to. Credentials are read by the task from secretArn; they are never part of the input.');
export type RestoreTarget = z.infer<typeof RestoreTargetSchema>;

const RECOVERY_POINT_FIELDS = ['backupId', 'pointInTime', 'latest', 'position', 'gtid', 'lsn', 'restorePoint'] as const;

// --- PostgreSQL restore to an instant, an LSN or a restore point (issue #13 step 5) ---
const LSN_INPUT = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;
const LSN_EXPECTED = 'expected a PostgreSQL LSN such as "16/B374D848" (pg_current_wal_lsn(), pg_waldump)';
const RESTORE_POINT_EXPECTED = `expected the name given to pg_create_restore_point(), 1 to ${RESTORE_POINT_NAME_BYTES} bytes`;

/** The console's stop fields of a WAL recovery, merged into RestoreInputSchema below. */
const WAL_STOP_FIELDS = {
  lsn: z
    .string({ error: LSN_EXPECTED })
    .max(LIMITS.lsnChars, { error: LSN_EXPECTED, abort: true })
    .regex(LSN_INPUT, { error: LSN_EXPECTED })
    .optional()
    .describe(
      'PostgreSQL with logs: recover the newest base backup consistent before it with the archived WAL, up to and including the record at this LSN.',
    ),
  restorePoint: z
    .string({ error: RESTORE_POINT_EXPECTED })
    .min(1, { error: RESTORE_POINT_EXPECTED })
    .refine((name) => Buffer.byteLength(name) <= RESTORE_POINT_NAME_BYTES, { error: RESTORE_POINT_EXPECTED, abort: true })
    .optional()
    .describe(
      'PostgreSQL with logs: recover the newest base backup with the archived WAL up to this restore point (pg_create_restore_point); PostgreSQL finds the name while it replays.',
    ),
} as const;

export const PRIVILEGE_MODES = ['restore', 'skip'] as const;
export const ROLE_MODES = ['require', 'create'] as const;
export const DEFINER_MODES = ['require', 'ignore'] as const;

export const RestoreInputSchema = z
  .strictObject({
    database: z
      .string({ error: 'expected the name of a configured database, such as "orders"' })
      .pipe(DatabaseNameSchema)
      .describe('Name of the database in strongbox.config.yaml whose backup is restored.'),
    backupId: BackupIdSchema.optional().describe('Restore exactly this backup.'),
    pointInTime: z
      .string({ error: 'expected an ISO 8601 date-time with a zone, such as "2026-11-21T03:30:00Z"' })
      .max(LIMITS.pointInTimeChars, { error: 'expected an ISO 8601 date-time with a zone, such as "2026-11-21T03:30:00Z"', abort: true })
      .pipe(z.iso.datetime({ offset: true, error: 'expected an ISO 8601 date-time with a zone, such as "2026-11-21T03:30:00Z"' }))
      .optional()
      .describe(
        'Restore the newest verified backup taken at or before this instant (not in the future); for a database with logs, that very second (binlog replay, or PostgreSQL WAL recovery).',
      ),
    latest: z.literal(true, { error: 'expected true (or leave the field out)' }).optional().describe('Restore the newest verified backup.'),
    position: z
      .strictObject(
        {
          file: z
            .string({ error: 'expected the server\'s binlog file name, such as "binlog.000042"' })
            .regex(LOG_FILE_NAME, { error: 'expected the server\'s binlog file name, such as "binlog.000042"' }),
          position: z
            .number({ error: 'expected the byte position in that file, a number such as 1234 (SHOW BINLOG EVENTS, column Pos)' })
            .int({ error: 'expected a whole byte position' })
            .min(4, { error: 'expected a byte position of at least 4 (the first event of a binlog)' }),
        },
        { error: 'expected {"file": "binlog.000042", "position": 1234}' },
      )
      .optional()
      .describe(
        'MySQL/MariaDB with logs: restore the full dump before it, then replay the binlog up to this server position; the transaction starting there is not applied.',
      ),
    gtid: z
      .string({ error: 'expected a GTID such as "0-1-4711" (MariaDB) or "3e11fa47-71ca-11e1-9e33-c80aa9429562:23" (MySQL)' })
      .max(LIMITS.gtidChars, { error: 'expected one GTID, such as "0-1-4711"', abort: true })
      .regex(GTID, { error: 'expected a GTID such as "0-1-4711" (MariaDB) or "3e11fa47-71ca-11e1-9e33-c80aa9429562:23" (MySQL)' })
      .optional()
      .describe('MySQL/MariaDB with logs: restore the full dump before it, then replay the binlog up to and including this transaction.'),
    dryRun: z
      .literal(true, { error: 'expected true (or leave the field out)' })
      .optional()
      .describe('Return the plan (full backup or base backup, log segments, expected end, task disk) and stop: the target is not touched.'),
    ...WAL_STOP_FIELDS,
    target: RestoreTargetSchema,
    include: z
      .array(
        z
          .string({ error: 'expected a name or pattern as a string' })
          .min(1, { error: 'expected a non-empty name or pattern' })
          .max(LIMITS.includeEntryChars, {
            error: `expected at most ${LIMITS.includeEntryChars} characters per name or pattern`,
            abort: true,
          }),
        { error: 'expected a list of names, such as ["public.orders"]' },
      )
      .min(1, { error: 'expected at least one name; leave "include" out to restore everything' })
      .max(LIMITS.includeEntries, { error: `expected at most ${LIMITS.includeEntries} names; select whole schemas or databases instead` })
      .refine((names) => JSON.stringify(names).length <= LIMITS.includeJsonChars, {
        error: (issue) =>
          `expected at most ${LIMITS.includeJsonChars} characters of names in all (found ${JSON.stringify(issue.input).length}): the restore task receives them through ECS RunTask overrides, limited to 8 KiB; select whole schemas or databases instead`,
        abort: true,
      })
      .optional()
      .describe(
        'Only these objects: "schema" or "schema.table" (PostgreSQL), "database" or "database.table" (MySQL/MariaDB), key glob patterns (Redis). Each must be in the backup (Redis patterns excepted).',
      ),
    overwrite: z
      .boolean({ error: 'expected true or false' })
      .default(false)
      .describe('Allow restoring onto the source or into a non-empty target.'),
    confirm: z
      .string({ error: 'expected the database name, as a string' })
      .max(LIMITS.confirmChars, { error: 'expected the database name', abort: true })
      .optional()
      .describe('Must equal "database" for an overwrite to go ahead.'),
    requestedBy: z
      .string({ error: 'expected free text such as "alice, INC-1234"' })
      .max(LIMITS.requestedByChars, { error: `expected at most ${LIMITS.requestedByChars} characters` })
      .optional()
      .describe('Free text recorded in the audit trail next to the execution that started the restore.'),
    privileges: z
      .enum(PRIVILEGE_MODES, { error: 'expected "restore" (the default) or "skip"' })
      .default('restore')
      .describe(
        'PostgreSQL: "restore" brings back GRANT/REVOKE, default privileges and owners, and refuses a target that lacks a role they name; "skip" restores without privileges and owners (pg_restore --no-privileges --no-owner).',
      ),
    roles: z
      .enum(ROLE_MODES, { error: 'expected "require" (the default) or "create"' })
      .default('require')
      .describe(
        'PostgreSQL: "require" refuses a target that lacks a role the backup names; "create" first creates the missing roles from the backup\'s stored role definitions (without passwords), as for a DR restore into a fresh cluster.',
      ),
    definers: z
      .enum(DEFINER_MODES, { error: 'expected "require" (the default) or "ignore"' })
      .default('require')
      .describe(
        'MySQL/MariaDB: "require" refuses a target that lacks a DEFINER account of the backup\'s views, triggers, routines or events; "ignore" restores anyway and records the missing accounts in the audit trail.',
      ),
  })
  .superRefine((input, ctx) => {
    const given = RECOVERY_POINT_FIELDS.filter((field) => input[field] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: given.length === 0 ? [] : [given[1]],
        message:
          given.length === 0
            ? 'expected a recovery point: exactly one of "backupId", "pointInTime" or "latest": true'
            : `expected exactly one recovery point, but ${given.map((f) => `"${f}"`).join(' and ')} are both set; keep one`,
      });
    }
    const owner = input.backupId && BackupIdSchema.safeParse(input.backupId).success ? parseBackupId(input.backupId).database : undefined;
    if (owner !== undefined && owner !== input.database) {
      ctx.addIssue({
        code: 'custom',
        path: ['backupId'],
        message: `expected a backup of "${input.database}"; this backupId belongs to "${owner}"`,
      });
    }
    if (input.confirm !== undefined && input.overwrite !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['confirm'],
        message: 'expected "overwrite": true alongside "confirm"; confirm alone allows nothing',
      });
    }
  })
  .describe('Input of the Strongbox restore state machine.');
export type RestoreInput = z.output<typeof RestoreInputSchema>;

/** The JSON Schema of the console input, for the README and for editors. */
export function restoreInputJsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(RestoreInputSchema, { io: 'input', unrepresentable: 'any' }), title: 'Strongbox restore input' };
}

/** The execution context as the restore and DR state machines pass it ($$.Execution.*). */
export const RestoreExecutionSchema = ExecutionContextSchema.extend({
  name: z.string().min(1),
});
export type RestoreExecution = z.infer<typeof RestoreExecutionSchema>;

/** Resolve's event: the raw input, so that a malformed one fails at this first state with a readable cause. */
export const ResolveEventSchema = z.strictObject({
  input: z.unknown(),
  execution: RestoreExecutionSchema,
});

/** Container environment overrides of a RunTask (restore and drill tasks). */
export const EnvironmentSchema = z.array(z.strictObject({ Name: z.string(), Value: z.string() }));

/** The replay phase of a restore to an instant, a position or a GTID, as Resolve plans it and a dry run returns it. */
export const ReplayPlanSchema = z.strictObject({
  stop: ReplayStopSchema,
  /** The full dump's log coordinates: replay starts with the event there. */
  from: LogCoordinatesSchema.optional(),
  /** The segments, in replay order (empty: the dump alone is the point). */
  segmentIds: z.array(z.string()),
  segmentBytes: z.number().int().min(0),
  /**
   * What the last replayed transaction is expected to be, from the segment manifests: the last segment and the
   * newest event time (or the GTID, or the position) replay can reach; the task reports the exact event it applied.
   */
  expectedEnd: z
    .strictObject({
      segmentId: z.string(),
      lastEventAt: z.string().optional(),
      gtid: z.string().optional(),
      position: LogCoordinatesSchema.optional(),
    })
    .optional(),
});
export type ReplayPlanPayload = z.infer<typeof ReplayPlanSchema>;

// --- PostgreSQL restore to an instant, an LSN or a restore point (issue #13 step 5) ---
const LSN_TEXT = z.string().regex(LSN_INPUT);

/**
 * What a WAL recovery stops at, as the console asked for it (the instant as given; whole seconds are the rule, see
 * RecoveryPlanSchema.target).
 */
export const RecoveryStopSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('instant'), at: z.iso.datetime({ offset: true }) }),
  z.strictObject({ kind: z.literal('lsn'), lsn: LSN_TEXT }),
  z.strictObject({ kind: z.literal('name'), name: z.string().min(1) }),
]);
export type RecoveryStop = z.infer<typeof RecoveryStopSchema>;

/**
 * A PostgreSQL point-in-time restore as Resolve plans it and a dry run returns it: the base backup the task
 * recovers, the WAL it is expected to fetch, the task's disk, and the stop in the task's terms.
 */
export const RecoveryPlanSchema = z.strictObject({
  baseId: BaseIdSchema,
  timeline: z.number().int().min(1),
  stop: RecoveryStopSchema,
  /**
   * The recovery target the task receives (STRONGBOX_RECOVERY_*). An instant becomes the last millisecond of its
   * second (every commit logged in that second is applied, as for a binlog replay), held to what the archived WAL
   * covers; an instant in the quiet tail after the last WAL segment, which the archiver's cursor vouches for, is
   * the end of the archived WAL, because nothing was written between.
   */
  target: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('time'), at: z.iso.datetime({ offset: true }) }),
    z.strictObject({ kind: z.literal('lsn'), lsn: LSN_TEXT }),
    z.strictObject({ kind: z.literal('name'), name: z.string().min(1) }),
    z.strictObject({ kind: z.literal('end') }),
  ]),
  /** The base's start and stop LSN: recovery replays from the first, and is consistent from the second on. */
  baseStartLsn: LSN_TEXT,
  baseStopLsn: LSN_TEXT,
  /** The compressed tar fetched, and the cluster it extracts to. */
  baseBytes: z.number().int().min(0),
  clusterBytes: z.number().int().min(0),
  /** WAL segments from the base's start to the end of their contiguous run, in replay order (PostgreSQL stops at the target). */
  segmentIds: z.array(z.string()),
  segmentBytes: z.number().int().min(0),
  /** What the recovery needs of the task's disk (contracts/recovery.ts recoveryDiskBytes) and what the task has. */
  diskBytes: z.number().int().min(0),
  ephemeralStorageGiB: z.number().int().min(1),
  /** The newest point that WAL run reaches: its last segment, the newest instant it covers and its end LSN. */
  expectedEnd: z.strictObject({ segmentId: z.string(), coveredUntil: z.iso.datetime({ offset: true }), lsn: LSN_TEXT }),
});
export type RecoveryPlanPayload = z.infer<typeof RecoveryPlanSchema>;

/** What Resolve hands to every later state: the input with the recovery point and the target settled. */
export const ResolvedRestoreSchema = z.strictObject({
  database: DatabaseNameSchema,
  engine: z.enum(ENGINES),
  backupId: BackupIdSchema,
  takenAt: z.iso.datetime({ offset: true }),
  /** How the recovery point was asked for, as written in the audit trail. */
  requested: z.string(),
  /** The target; TLS as the source's (a restore target is reached the way the database itself is). */
  target: z.strictObject({
    host: z.string(),
    port: z.number().int(),
    database: z.string().optional(),
    secretArn: z.string().optional(),
    tls: z.enum(TLS_MODES).optional(),
  }),
  include: z.array(z.string()),
  overwrite: z.boolean(),
  /** overwrite:true AND confirm equal to the database name; the only thing that lets a restore replace data. */
  overwriteConfirmed: z.boolean(),
  requestedBy: z.string().optional(),
  /** The input's options where they differ from the defaults (restore, require, require). */
  privileges: z.enum(PRIVILEGE_MODES).optional(),
  roles: z.enum(ROLE_MODES).optional(),
  definers: z.enum(DEFINER_MODES).optional(),
  taskFamily: z.string(),
  taskTimeoutSeconds: z.number().int().positive(),
  /** The database's restore role, passed as the RunTask TaskRoleArn override: it cannot write a backup. */
  taskRoleArn: z.string(),
  /** Container environment overrides of the restore task (identifiers only, never a credential). */
  environment: EnvironmentSchema,
  execution: RestoreExecutionSchema,
  auditKey: z.string(),
  /**
   * The database the backup was dumped from, when the config names one. A single MySQL/MariaDB database is
   * dumped without its name and may be restored under another; `include` and the manifest use this name.
   */
  sourceDatabase: z.string().optional(),
  /**
   * The DR plan that started this restore (see drPlanOfRestore), so that a refusal tells what the plan's own
   * input needs rather than this nested restore's.
   */
  drPlan: z.string().optional(),
  // --- restore to an instant (pitr-restore) ---
  /** A database with logs: the log replay after the full dump, as planned from the vault (planReplayTo). */
  replay: ReplayPlanSchema.optional(),
  /** The input asked for the plan only: the machine ends after Resolve, the target untouched. */
  dryRun: z.literal(true).optional(),
  // --- PostgreSQL restore to an instant, an LSN or a restore point (issue #13 step 5) ---
  /** A PostgreSQL WAL recovery: `backupId` is then the base's id, and the task recovers it (no logical backup is read). */
  recovery: RecoveryPlanSchema.optional(),
});
export type ResolvedRestore = z.infer<typeof ResolvedRestoreSchema>;

export const GuardResultSchema = z.strictObject({
  sameAsSource: z.boolean(),
  drPlanTarget: z.string().optional().describe('The DR plan whose target this is, when it is one.'),
  decision: z.enum(['fresh-target', 'overwrite-confirmed']),
  /** MySQL/MariaDB with `definers: "ignore"`: DEFINER accounts the target lacks, for the audit record and chat. */
  ignoredDefiners: z.array(z.string()).optional(),
});
export type GuardResult = z.infer<typeof GuardResultSchema>;

export const ValidateResultSchema = z.strictObject({
  matched: z.boolean(),
  compared: z.number().int().min(0),
  mismatches: z.array(MismatchSchema),
});
export type ValidateResult = z.infer<typeof ValidateResultSchema>;

/** Notify's event: the outcome of a run, or of a run stopped from the console (EventBridge status change). */
export const RestoreNotifyEventSchema = z.strictObject({
  outcome: z.enum(['restored', 'failed']),
  resolved: ResolvedRestoreSchema,
  validate: ValidateResultSchema.optional(),
  /** Guard's result, on the success path: carries `ignoredDefiners` into the audit record and chat. */
  guard: GuardResultSchema.optional(),
  error: z.strictObject({ Error: z.string(), Cause: z.string().optional() }).optional(),
});
export type RestoreNotifyEvent = z.infer<typeof RestoreNotifyEventSchema>;

export const RestoreAuditSchema = z.strictObject({
  schemaVersion: z.literal(1),
  database: DatabaseNameSchema,
  outcome: z.enum(['restored', 'failed', 'aborted', 'refused']),
  /** Step Functions' context has no caller identity: the execution ARN is what CloudTrail's StartExecution event is keyed by. */
  startedBy: z.strictObject({ executionArn: z.string(), executionName: z.string(), requestedBy: z.string().optional() }),
  startedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }),
  restoreSeconds: z.number().min(0),
  backupId: BackupIdSchema.optional(),
  requested: z.string().optional(),
  target: z.strictObject({ host: z.string(), port: z.number().int(), database: z.string().optional() }).optional(),
  include: z.array(z.string()),
  overwrite: z.boolean(),
  validation: ValidateResultSchema.optional(),
  /** DEFINER accounts the target lacked when the input said `definers: "ignore"`. */
  ignoredDefiners: z.array(z.string()).optional(),
  /** A restore to an instant, a position or a GTID: the stop and every log segment replayed after the full dump, as planned. */
  replay: ReplayPlanSchema.optional(),
  /** A PostgreSQL point-in-time restore: the base, the stop and every WAL segment planned, the task's disk. */
  recovery: RecoveryPlanSchema.optional(),
  /** The error type (RestoreRefusedError, ChecksumMismatchError, ...), as the execution's Error shows it. */
  errorType: z.string().optional(),
  /** What went wrong, in the execution cause's words (message lines, no stack trace). */
  error: z.string().optional(),
});
export type RestoreAudit = z.infer<typeof RestoreAuditSchema>;
