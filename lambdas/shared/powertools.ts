import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { METRICS_NAMESPACE } from './metrics';

/**
 * One Logger, Metrics and Tracer per process, shared by every handler and by the dump task, so that log
 * shape, metric namespace and service name are the same everywhere. The service name comes from
 * POWERTOOLS_SERVICE_NAME, which each function sets.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'strongbox' });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'strongbox' });
export const tracer = new Tracer({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'strongbox',
  enabled: process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined,
});
