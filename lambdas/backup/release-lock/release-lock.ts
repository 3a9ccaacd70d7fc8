import type { S3Client } from '@aws-sdk/client-s3';
import { PrepareResultSchema, type ReleaseLockEvent, type ReleaseLockResult } from '../../../contracts/payloads/backup';
import { releaseLock } from '../../runtime/lock';

export interface ReleaseLockDeps {
  readonly s3: S3Client;
  readonly bucket: string;
}

/**
 * Runs on both paths. On the failure path Prepare may not have run or may have skipped, in which case this
 * run holds no lock and there is nothing to release.
 */
export async function releaseWorkflowLock(event: ReleaseLockEvent, deps: ReleaseLockDeps): Promise<ReleaseLockResult> {
  const prepare = PrepareResultSchema.safeParse(event.state.prepare);
  if (!prepare.success || prepare.data.status !== 'ready') {
    return { released: false, reason: 'this execution took no lock' };
  }
  return releaseLock(deps.s3, deps.bucket, prepare.data.database, prepare.data.backupId, prepare.data.lockKey);
}
