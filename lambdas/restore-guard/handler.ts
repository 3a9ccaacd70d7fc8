import { lookup } from 'node:dns/promises';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { secretsManagerReader } from '../../tasks/src/credentials';
import { ADAPTERS } from '../../tasks/src/engines/index';
import { assertTargetWritable } from '../../tasks/src/restore-guard';
import { loadPlan } from '../shared/plan';
import { logger, metrics, tracer } from '../shared/powertools';
import { includeOnTarget, type ResolvedRestore, ResolvedRestoreSchema } from '../shared/restore-payloads';
import { restoreTargetConnection } from '../shared/restore-target';
import { guardRestore } from './restore-guard';

const resolveAddresses = async (host: string) => (await lookup(host, { all: true })).map((entry) => entry.address);
const readSecret = secretsManagerReader();

/** The task's own non-empty check, run from the VPC against the target before the task is started. */
const checkTarget = async (resolved: ResolvedRestore) =>
  assertTargetWritable({
    database: resolved.database,
    engine: resolved.engine,
    adapter: ADAPTERS[resolved.engine],
    connection: await restoreTargetConnection(resolved, readSecret),
    include: includeOnTarget(resolved.include, resolved.engine, resolved.sourceDatabase, resolved.target.database),
    overwrite: resolved.overwriteConfirmed,
  });

// Resolve produced this payload, so it is trusted and parsed by the Powertools parser.
export const handler = middy(async (event: ResolvedRestore) =>
  guardRestore(event, { plan: loadPlan(), lookup: resolveAddresses, checkTarget }),
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer))
  .use(parser({ schema: ResolvedRestoreSchema }));
