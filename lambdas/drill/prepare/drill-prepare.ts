import type { S3Client } from '@aws-sdk/client-s3';
import { InputValidationError, parseInput, StrongboxError } from '../../../contracts/errors';
import { DrillInputSchema, type DrillPrepared } from '../../../contracts/payloads/drill';
import type { RestoreExecution } from '../../../contracts/payloads/restore';
import type { Plan } from '../../../contracts/plan';
import { TASK_ENV } from '../../../contracts/task-env';
import { listStoredBackups, newestVerified } from '../../restore/resolve/recovery-points';

/** There is nothing to drill: the database has no verified backup. The drill fails, so its alarm fires. */
export class NothingToDrillError extends StrongboxError {}

export interface DrillPrepareDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly plan: Plan;
  /** ARN of the database's restore role (the RunTask TaskRoleArn override). */
  readonly restoreRoleArn: (database: string) => string;
}

/** Picks the newest verified backup of the database and the drill task's environment. */
export async function prepareDrill(rawInput: unknown, execution: RestoreExecution, deps: DrillPrepareDeps): Promise<DrillPrepared> {
  const input = parseInput(DrillInputSchema, rawInput, 'drill input');
  const db = deps.plan.databases[input.database];
  if (!db) {
    throw new InputValidationError(
      `Invalid drill input:\ndatabase: found ${JSON.stringify(input.database)}; expected one of the configured databases: ${Object.keys(deps.plan.databases).join(', ')}`,
    );
  }
  const newest = await newestVerified(deps.s3, deps.bucket, await listStoredBackups(deps.s3, deps.bucket, input.database));
  if (!newest) {
    throw new NothingToDrillError(`"${input.database}" has no verified backup to drill; the newest backups failed or are not verified yet`);
  }
  return {
    database: input.database,
    engine: db.engine,
    backupId: newest.backupId,
    taskFamily: db.taskFamily,
    taskTimeoutSeconds: db.taskTimeoutSeconds,
    taskRoleArn: deps.restoreRoleArn(input.database),
    environment: [
      { Name: TASK_ENV.command, Value: 'drill' },
      { Name: TASK_ENV.backupId, Value: newest.backupId },
      { Name: TASK_ENV.trigger, Value: `drill:${execution.name}` },
    ],
  };
}
