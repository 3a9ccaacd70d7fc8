import { RetainEnvSchema } from '../../../contracts/function-env';
import { RetainEventSchema, type RetainResult } from '../../../contracts/payloads/backup';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { tracer } from '../../runtime/powertools';
import { regionalVaultS3Client, vaultS3Client } from '../../runtime/vault-client';
import { retain } from './retain';
import { retainSegments } from './segments';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

export const handler = lambdaHandler(
  { name: 'Retain event', schema: RetainEventSchema, env: RetainEnvSchema },
  async (event, env): Promise<RetainResult> => {
    // The full plan goes to the log (retain.ts); the state payload keeps the capped summary.
    const plan = loadPlan();
    const replica = { s3: regionalVaultS3Client(env.replicaRegion), bucket: env.replicaBucket };
    const objectLock = env.objectLock !== 'off';
    const { plan: decisions, ...result } = await retain(event, { s3, bucket: env.vaultBucket, replica, plan, objectLock });
    const db = plan.databases[event.database];
    // WAL is pruned by the base-backup machine's RetainBases, whose chain starts are bases, never logical dumps.
    if (!db?.logs || db.logs.kind === 'wal') {
      return result;
    }
    // After the GFS decisions: the segments kept are those the kept full dumps and the window need.
    const kept = decisions.decisions.filter((d) => d.action !== 'delete').map((d) => d.backupId);
    const segments = await retainSegments(db, kept, event.now ? new Date(event.now) : new Date(), event.dryRun, {
      s3,
      bucket: env.vaultBucket,
      replica,
      objectLock,
      graceSeconds: plan.graceSeconds,
      concurrency: 16,
    });
    return {
      ...result,
      segments: { ...segments, deleted: segments.deleted.slice(0, 100), skippedLocked: segments.skippedLocked.slice(0, 100) },
    };
  },
);
