import * as z from 'zod';
import { ENGINES, REDIS_MODES, TLS_MODES } from './engines';
import { BackupIdSchema, DatabaseNameSchema } from './vault';
import { BaseIdSchema } from './wal';

/**
 * The dump task's input contract: environment variables, because that is what ECS container overrides
 * carry. The task definition sets the static part per database; the state machine overrides the command
 * and the per-run part; ECS `secrets` inject the credentials. The workflow constructs, the local runtime and
 * `tasks/src/main.ts` all build or read the environment through these names.
 */
export const TASK_ENV = {
  command: 'STRONGBOX_COMMAND',
  database: 'STRONGBOX_DATABASE',
  engine: 'STRONGBOX_ENGINE',
  host: 'STRONGBOX_DB_HOST',
  port: 'STRONGBOX_DB_PORT',
  dbName: 'STRONGBOX_DB_NAME',
  tls: 'STRONGBOX_DB_TLS',
  username: 'STRONGBOX_DB_USERNAME',
  password: 'STRONGBOX_DB_PASSWORD',
  secretArn: 'STRONGBOX_DB_SECRET_ARN',
  bucket: 'STRONGBOX_VAULT_BUCKET',
  s3Endpoint: 'STRONGBOX_S3_ENDPOINT',
  compressionLevel: 'STRONGBOX_COMPRESSION_LEVEL',
  restoreJobs: 'STRONGBOX_RESTORE_JOBS',
  redisMode: 'STRONGBOX_REDIS_MODE',
  progressIntervalSeconds: 'STRONGBOX_PROGRESS_INTERVAL_SECONDS',
  backupId: 'STRONGBOX_BACKUP_ID',
  trigger: 'STRONGBOX_TRIGGER',
  targetHost: 'STRONGBOX_TARGET_HOST',
  targetPort: 'STRONGBOX_TARGET_PORT',
  targetName: 'STRONGBOX_TARGET_NAME',
  targetSecretArn: 'STRONGBOX_TARGET_SECRET_ARN',
  include: 'STRONGBOX_INCLUDE',
  /** "true" only when the restore input had overwrite:true AND confirm equal to the database name. */
  restoreOverwrite: 'STRONGBOX_RESTORE_OVERWRITE',
  /** "skip": restore without privileges and owners (PostgreSQL); see RestoreInputSchema.privileges. */
  restorePrivileges: 'STRONGBOX_RESTORE_PRIVILEGES',
  /** "true": create the roles the backup names and the target lacks, from the stored roles artifact (PostgreSQL). */
  restoreCreateRoles: 'STRONGBOX_RESTORE_CREATE_ROLES',
  /** "ignore": restore even when the target lacks DEFINER accounts (MySQL/MariaDB). */
  restoreDefiners: 'STRONGBOX_RESTORE_DEFINERS',
  /** Where a Redis RDB restore writes dump.rdb for a fresh redis-server (drills); an RDB cannot be pushed into a live server. */
  restorePath: 'STRONGBOX_RESTORE_PATH',
  /** Name of the restore execution that started the task: the key of the error record a failed restore writes. */
  executionName: 'STRONGBOX_EXECUTION_NAME',
  /** archive-logs: the database's `logs.intervalMinutes`; the run checks the server keeps binlogs for a few intervals. */
  logIntervalMinutes: 'STRONGBOX_LOG_INTERVAL_MINUTES',
  // --- logs.mode continuous (stream-logs) ---
  /** stream-logs: the database's `logs.flushSeconds`, how often the streamer uploads the binlog tail. */
  logFlushSeconds: 'STRONGBOX_LOG_FLUSH_SECONDS',
  // --- restore to an instant (pitr-restore) ---
  /**
   * restore: JSON of the log stop (contracts/logs.ts ReplayStopSchema) after the full dump of STRONGBOX_BACKUP_ID.
   * The segment list does not travel (RunTask overrides are 8 KiB): the task re-plans it from the vault with the
   * same planReplayTo, held to the dump Resolve chose.
   */
  replayStop: 'STRONGBOX_REPLAY_STOP',
  /** Bench only: `null` discards the compressed dump instead of uploading it. */
  sink: 'STRONGBOX_SINK',
  // --- Chain drill (issue 12 step 6) ---
  /** drill: the next full dump; the drill replays the log from STRONGBOX_BACKUP_ID's coordinates up to this one's and compares with its inventory. */
  drillChainTo: 'STRONGBOX_DRILL_CHAIN_TO',
  // PostgreSQL point-in-time restore (issue #13): recover this base with archived WAL inside the task, then deliver
  // the recovered database into the target. Exactly one stop point, or none: the end of the archived WAL.
  /** The base backup (contracts/wal.ts baseId) to recover; set only for a point-in-time restore. */
  recoveryBaseId: 'STRONGBOX_RECOVERY_BASE_ID',
  /** recovery_target_time, ISO 8601. */
  recoveryTime: 'STRONGBOX_RECOVERY_TIME',
  /** recovery_target_lsn, `16/B374D848`. */
  recoveryLsn: 'STRONGBOX_RECOVERY_LSN',
  /** recovery_target_name: a restore point made with pg_create_restore_point. */
  recoveryName: 'STRONGBOX_RECOVERY_NAME',
} as const;

export const TASK_COMMANDS = [
  'backup',
  'restore',
  'inventory',
  'drill',
  'archive-logs',
  'base-backup',
  // logs.mode continuous: the long-running streamer of the log-archive service
  'stream-logs',
] as const;
export type TaskCommand = (typeof TASK_COMMANDS)[number];

/** Name of the container in every Strongbox task definition; overrides address it by this name. */
export const TASK_CONTAINER_NAME = 'dump';

/** The CloudWatch log group of a database's task, where its JSON lines (progress included) go. */
export function taskLogGroupName(app: string, database: string): string {
  return `/strongbox/${app}/dump/${database}`;
}

/** One task's stream in that group: the awslogs driver names it `<streamPrefix>/<container>/<task id>`, the prefix being the database. */
export function taskLogStreamName(database: string, taskId: string): string {
  return `${database}/${TASK_CONTAINER_NAME}/${taskId}`;
}

const port = z.coerce.number().int().min(1).max(65535);

export const TaskEnvSchema = z.object({
  [TASK_ENV.command]: z.enum(TASK_COMMANDS, { error: `expected one of ${TASK_COMMANDS.join(', ')}` }),
  [TASK_ENV.database]: DatabaseNameSchema,
  [TASK_ENV.engine]: z.enum(ENGINES),
  [TASK_ENV.host]: z.string().min(1),
  [TASK_ENV.port]: port,
  [TASK_ENV.dbName]: z.string().min(1).optional(),
  [TASK_ENV.tls]: z.enum(TLS_MODES).default('require'),
  [TASK_ENV.username]: z.string().optional(),
  [TASK_ENV.password]: z.string().optional(),
  [TASK_ENV.secretArn]: z.string().optional(),
  [TASK_ENV.bucket]: z.string().min(3),
  [TASK_ENV.s3Endpoint]: z.url().optional(),
  [TASK_ENV.compressionLevel]: z.coerce.number().int().min(1).max(19).default(3),
  [TASK_ENV.restoreJobs]: z.coerce.number().int().min(1).max(32).default(2),
  [TASK_ENV.redisMode]: z.enum(REDIS_MODES).default('auto'),
  [TASK_ENV.progressIntervalSeconds]: z.coerce.number().min(0.1).default(5),
  [TASK_ENV.backupId]: BackupIdSchema.optional(),
  [TASK_ENV.trigger]: z.string().default('manual'),
  [TASK_ENV.targetHost]: z.string().optional(),
  [TASK_ENV.targetPort]: port.optional(),
  [TASK_ENV.targetName]: z.string().optional(),
  [TASK_ENV.targetSecretArn]: z.string().optional(),
  [TASK_ENV.include]: z.string().optional().describe('JSON array of schemas/tables, databases/tables or key patterns.'),
  [TASK_ENV.restoreOverwrite]: z.enum(['true', 'false']).default('false').describe('Lets a restore write into a non-empty target.'),
  [TASK_ENV.restorePrivileges]: z.enum(['restore', 'skip']).default('restore'),
  [TASK_ENV.restoreCreateRoles]: z.enum(['true', 'false']).default('false'),
  [TASK_ENV.restoreDefiners]: z.enum(['require', 'ignore']).default('require'),
  [TASK_ENV.restorePath]: z.string().min(1).optional(),
  [TASK_ENV.sink]: z.enum(['s3', 'null']).default('s3'),
  [TASK_ENV.executionName]: z.string().min(1).max(80).optional(),
  [TASK_ENV.logIntervalMinutes]: z.coerce.number().int().min(1).max(1440).optional(),
  // --- logs.mode continuous (stream-logs) ---
  [TASK_ENV.logFlushSeconds]: z.coerce.number().int().min(5).max(300).optional(),
  [TASK_ENV.replayStop]: z.string().min(1).optional(),
  // --- Chain drill (issue 12 step 6) ---
  [TASK_ENV.drillChainTo]: BackupIdSchema.optional(),
  // PostgreSQL point-in-time restore (issue #13)
  [TASK_ENV.recoveryBaseId]: BaseIdSchema.optional(),
  [TASK_ENV.recoveryTime]: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 date-time with a zone' }).optional(),
  [TASK_ENV.recoveryLsn]: z
    .string()
    .regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, { error: 'expected an LSN such as "16/B374D848"' })
    .optional(),
  [TASK_ENV.recoveryName]: z.string().min(1).max(63).optional(),
});
export type TaskEnv = z.infer<typeof TaskEnvSchema>;

/** A bad or missing environment variable: main prints the message (naming the variable) and exits 2. */
export class TaskEnvError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'TaskEnvError';
  }
}
