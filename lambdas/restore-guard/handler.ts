import { lookup } from 'node:dns/promises';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { loadPlan } from '../shared/plan';
import { logger, metrics, tracer } from '../shared/powertools';
import { type ResolvedRestore, ResolvedRestoreSchema } from '../shared/restore-payloads';
import { guardRestore } from './restore-guard';

const resolveAddresses = async (host: string) => (await lookup(host, { all: true })).map((entry) => entry.address);

// Resolve produced this payload, so it is trusted and parsed by the Powertools parser.
export const handler = middy(async (event: ResolvedRestore) => guardRestore(event, { plan: loadPlan(), lookup: resolveAddresses }))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(captureLambdaHandler(tracer))
  .use(parser({ schema: ResolvedRestoreSchema }));
