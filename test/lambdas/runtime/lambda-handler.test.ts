import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { WatchdogEnvSchema } from '../../../contracts/function-env';
import { lambdaHandler } from '../../../lambdas/runtime/lambda-handler';

const context = { functionName: 'test', awsRequestId: '1' } as unknown as Parameters<ReturnType<typeof lambdaHandler>>[1];
const EventSchema = z.strictObject({ database: z.string({ error: 'expected a database name' }) });

describe('lambdaHandler', () => {
  afterEach(() => {
    delete process.env.STRONGBOX_VAULT_BUCKET;
  });

  it('hands the parsed event and the typed environment to the function', async () => {
    // Prepare
    process.env.STRONGBOX_VAULT_BUCKET = 'vault';
    const handler = lambdaHandler({ name: 'Test event', schema: EventSchema, env: WatchdogEnvSchema }, async (event, env) => ({
      database: event.database,
      bucket: env.vaultBucket,
    }));

    // Act
    const result = await handler({ database: 'orders' }, context);

    // Assess
    expect(result).toEqual({ database: 'orders', bucket: 'vault' });
  });

  it('fails a missing variable with a MissingEnvironmentError naming it, before the function runs', async () => {
    // Prepare
    let called = false;
    const handler = lambdaHandler({ name: 'Test event', schema: EventSchema, env: WatchdogEnvSchema }, async () => {
      called = true;
    });

    // Act
    const attempt = handler({ database: 'orders' }, context);

    // Assess
    await expect(attempt).rejects.toMatchObject({
      name: 'MissingEnvironmentError',
      message: expect.stringContaining('STRONGBOX_VAULT_BUCKET is not set'),
    });
    expect(called).toBe(false);
  });

  it('fails an event that does not match its schema with an InputValidationError naming the field', async () => {
    // Prepare
    process.env.STRONGBOX_VAULT_BUCKET = 'vault';
    let called = false;
    const handler = lambdaHandler({ name: 'Test event', schema: EventSchema, env: WatchdogEnvSchema }, async () => {
      called = true;
    });

    // Act
    const attempt = handler({ database: 7 }, context);

    // Assess
    await expect(attempt).rejects.toMatchObject({
      name: 'InputValidationError',
      message: 'Invalid Test event:\ndatabase: found 7; expected a database name',
    });
    expect(called).toBe(false);
  });

  it('passes the raw event on when there is no schema, and reads a changed environment anew', async () => {
    // Prepare
    const handler = lambdaHandler({ name: 'Test event', env: WatchdogEnvSchema }, async (event, env) => ({
      event,
      bucket: env.vaultBucket,
    }));
    process.env.STRONGBOX_VAULT_BUCKET = 'first';
    const first = await handler('anything', context);
    process.env.STRONGBOX_VAULT_BUCKET = 'second';

    // Act
    const second = await handler({ any: 'thing' }, context);

    // Assess
    expect(first).toEqual({ event: 'anything', bucket: 'first' });
    expect(second).toEqual({ event: { any: 'thing' }, bucket: 'second' });
  });
});
