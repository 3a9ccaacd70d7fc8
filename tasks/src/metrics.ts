import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE } from '../../contracts/metrics';

/**
 * The task's own Metrics (EMF on stdout, which CloudWatch turns into metrics), with the namespace and service
 * name of the shared instance in lambdas/runtime/powertools. That module also builds a Tracer, whose X-Ray SDK
 * enables async_hooks when it loads: in the task bundle that taxes every stream callback of every backup and
 * restore, and the task never traces.
 */
let instance: Metrics | undefined;
export function taskMetrics(): Metrics {
  instance ??= new Metrics({ namespace: METRICS_NAMESPACE, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'strongbox' });
  return instance;
}
