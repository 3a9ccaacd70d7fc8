import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { z } from 'zod';
import { parseInput } from '../../contracts/errors';
import { type FunctionEnvSchema, parseFunctionEnv } from '../../contracts/function-env';
import { logger, metrics, tracer } from './powertools';

export interface HandlerOptions<S extends z.ZodType | undefined, E> {
  /** What the event is, for the message of one that fails its schema: "Verify event". */
  readonly name: string;
  /**
   * The event's schema. Left out where the handler checks its input itself (Resolve and the drill's Prepare
   * validate the console input inside so that a typo reads as an InputValidationError cause, not an envelope error).
   */
  readonly schema?: S;
  /** The function's environment (contracts/function-env.ts), checked before the first event is handled. */
  readonly env: FunctionEnvSchema<E>;
}

type EventOf<S> = S extends z.ZodType ? z.output<S> : unknown;

/**
 * Every Strongbox Lambda handler: Powertools' logger context, metrics flush and tracing, the function's
 * environment checked, and the event parsed, before `fn` sees either.
 *
 * The event is parsed with parseInput rather than the Powertools parser middleware so that a bad event fails with
 * the same `field: found X; expected Y` lines as every other input (the parser's error carries zod's raw JSON).
 *
 * The environment is parsed at the first invocation of a cold start and kept; the local runtime imports each
 * handler module once and sets the function's variables per call, so the parse is redone only if they changed.
 */
export function lambdaHandler<S extends z.ZodType | undefined, E, R>(
  options: HandlerOptions<S, E>,
  fn: (event: EventOf<S>, env: E) => Promise<R>,
) {
  let parsed: { key: string; env: E } | undefined;
  const environment = (): E => {
    const key = JSON.stringify(options.env.names.map((name) => process.env[name] ?? null));
    if (parsed?.key !== key) {
      parsed = { key, env: parseFunctionEnv(options.env) };
    }
    return parsed.env;
  };
  return middy(async (raw: unknown): Promise<R> => {
    const env = environment();
    const event = (options.schema ? parseInput(options.schema, raw, options.name) : raw) as EventOf<S>;
    return fn(event, env);
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics))
    .use(captureLambdaHandler(tracer));
}
