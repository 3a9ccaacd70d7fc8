import type { FunctionEnvSchema, ReplicateEnvSchema } from '../../../contracts/function-env';
import { loadPlan } from '../../../contracts/plan';
import { metrics, tracer } from '../../runtime/powertools';
import { regionalVaultS3Client, vaultS3Client } from '../../runtime/vault-client';
import type { ReplicateDeps } from './replicate';

const source = tracer.captureAWSv3Client(vaultS3Client());

/** What every replicating function (backups, bases, segments) copies with: the vaults of its environment and the plan. */
export function replicateDeps(env: typeof ReplicateEnvSchema extends FunctionEnvSchema<infer T> ? T : never): ReplicateDeps {
  return {
    source,
    replica: regionalVaultS3Client(env.replicaRegion),
    sourceBucket: env.vaultBucket,
    replicaBucket: env.replicaBucket,
    replicaKmsKey: env.replicaKmsKey,
    metrics,
    plan: loadPlan(),
  };
}
