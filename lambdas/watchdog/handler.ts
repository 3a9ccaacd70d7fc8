import { WatchdogEnvSchema } from '../../contracts/function-env';
import { loadPlan } from '../../contracts/plan';
import { lambdaHandler } from '../runtime/lambda-handler';
import { logger, metrics, tracer } from '../runtime/powertools';
import { vaultS3Client } from '../runtime/vault-client';
import { runWatchdog } from './watchdog';

const s3 = tracer.captureAWSv3Client(vaultS3Client());

// The scheduled event carries nothing the watchdog needs, so it has no schema.
export const handler = lambdaHandler({ name: 'watchdog event', env: WatchdogEnvSchema }, async (_event, env) => {
  const points = await runWatchdog({ s3, bucket: env.vaultBucket, plan: loadPlan(), metrics, logger });
  return { databases: points.length, beyondRpo: points.filter((p) => !p.withinRpo).map((p) => p.database) };
});
