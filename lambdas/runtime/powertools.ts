import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { METRICS_NAMESPACE } from '../../contracts/metrics';

/**
 * One Logger, Metrics and Tracer per process, shared by every handler and by the dump task, so that log
 * shape, metric namespace and service name are the same everywhere. The service name comes from
 * POWERTOOLS_SERVICE_NAME, which each function sets.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'strongbox' });
/**
 * Powertools warns at every flush that holds no metric. A Strongbox function that publishes nothing on a path
 * (a skipped backup, a refused restore) is normal, so that one warning is dropped; every other line goes to the
 * Logger. (One CI run printed it 204 times.)
 */
const EMPTY_FLUSH_WARNING = 'No application metrics to publish';
const metricsLog = {
  debug: (message: string, ...rest: unknown[]) => logger.debug(message, ...(rest as [])),
  info: (message: string, ...rest: unknown[]) => logger.info(message, ...(rest as [])),
  error: (message: string, ...rest: unknown[]) => logger.error(message, ...(rest as [])),
  warn: (message: string, ...rest: unknown[]) => {
    if (!String(message).startsWith(EMPTY_FLUSH_WARNING)) {
      logger.warn(message, ...(rest as []));
    }
  },
};
export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'strongbox',
  logger: metricsLog,
});
export const tracer = new Tracer({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'strongbox',
  enabled: process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined,
});
