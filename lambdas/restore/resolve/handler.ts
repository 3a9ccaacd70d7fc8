import { ResolveEnvSchema, restoreRoleArn } from '../../../contracts/function-env';
import { ResolveEventSchema } from '../../../contracts/payloads/restore';
import { loadPlan } from '../../../contracts/plan';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { tracer } from '../../runtime/powertools';
import { vaultS3Client } from '../../runtime/vault-client';
import { resolveRestore } from './restore-resolve';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

// The envelope is parsed here, but the console input inside it is untrusted: resolveRestore validates it so that
// a typo surfaces as a readable InputValidationError cause naming the input's own fields.
export const handler = lambdaHandler({ name: 'Resolve event', schema: ResolveEventSchema, env: ResolveEnvSchema }, async (event, env) =>
  resolveRestore(event.input, event.execution, {
    s3,
    bucket: env.vaultBucket,
    plan: loadPlan(),
    restoreRoleArn,
    postgresTaskStorageGiB: env.postgresTaskStorageGiB,
  }),
);
