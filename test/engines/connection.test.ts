import {
  GetSecretValueCommand,
  InternalServiceError,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TaskEnv } from '../../contracts/task-env';
import { SecretReadError, secretsManagerReader, sourceConnection } from '../../engines/connection';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:strongbox/orders-AbCdEf';
const PASSWORD = 'pa55-w0rd-never-printed';
const SECRET = JSON.stringify({ username: 'backup', password: PASSWORD });

const sm = mockClient(SecretsManagerClient);

function throttled(): SecretsManagerServiceException {
  return new SecretsManagerServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'Rate exceeded',
  });
}

function env(): TaskEnv {
  return {
    STRONGBOX_DB_HOST: 'db.internal',
    STRONGBOX_DB_PORT: 5432,
    STRONGBOX_DB_NAME: 'orders',
    STRONGBOX_DB_TLS: 'require',
    STRONGBOX_DB_SECRET_ARN: SECRET_ARN,
  } as unknown as TaskEnv;
}

/** Every pause the reader asks for, with no real waiting; random() = 1 makes each pause its ceiling. */
function pauses(): { sleep: (ms: number) => Promise<void>; waited: number[] } {
  const waited: number[] = [];
  return { waited, sleep: async (ms) => void waited.push(ms) };
}

let written: string[];

beforeEach(() => {
  sm.reset();
  written = [];
  const record = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(record);
  vi.spyOn(process.stderr, 'write').mockImplementation(record);
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void written.push(args.map(String).join(' ')));
  }
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('secretsManagerReader', () => {
  it('retries a GetSecretValue throttled twice with growing, jittered pauses and returns the secret', async () => {
    // Prepare
    sm.on(GetSecretValueCommand, { SecretId: SECRET_ARN })
      .rejectsOnce(throttled())
      .rejectsOnce(throttled())
      .resolves({ SecretString: SECRET });
    const { sleep, waited } = pauses();
    const read = secretsManagerReader(new SecretsManagerClient({}), { sleep, random: () => 1, baseDelayMs: 200, maxDelayMs: 5000 });

    // Act
    const connection = await sourceConnection(env(), read);

    // Assess
    expect(connection).toMatchObject({ host: 'db.internal', username: 'backup', password: PASSWORD });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
    expect(waited).toEqual([200, 400]);
    expect(written.join('')).not.toContain(PASSWORD);
  });

  it('draws each pause between zero and its ceiling (full jitter), capped by maxDelayMs', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).rejects(throttled());
    const { sleep, waited } = pauses();
    const draws = [0.5, 0, 0.25, 1, 1];
    const read = secretsManagerReader(new SecretsManagerClient({}), {
      sleep,
      random: () => draws.shift() ?? 1,
      maxAttempts: 6,
      baseDelayMs: 100,
      maxDelayMs: 1000,
    });

    // Act
    const failure = await read(SECRET_ARN).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(SecretReadError);
    // Ceilings 100, 200, 400, 800, then 1600 capped at 1000.
    expect(waited).toEqual([50, 0, 100, 800, 1000]);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(6);
  });

  it('ends a throttling that never stops in one clear line: the ARN and the fault, no stack, no secret', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).rejects(throttled());
    const { sleep } = pauses();
    const read = secretsManagerReader(new SecretsManagerClient({}), { sleep });

    // Act
    const failure = (await sourceConnection(env(), read).catch((error: unknown) => error)) as Error;

    // Assess
    expect(failure).toBeInstanceOf(SecretReadError);
    expect(failure.name).toBe('SecretReadError');
    expect(failure.message).toBe(
      `secret ${SECRET_ARN}: GetSecretValue still failing after 5 attempts (ThrottlingException: Rate exceeded); Secrets Manager is throttling or unavailable, run the task again later`,
    );
    expect(failure.message).not.toContain('\n');
    expect(failure.message).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(5);
    expect(written).toEqual([]);
  });

  it('retries Secrets Manager 5xx (InternalServiceError) the same way', async () => {
    // Prepare
    sm.on(GetSecretValueCommand)
      .rejectsOnce(new InternalServiceError({ $metadata: { httpStatusCode: 500 }, message: 'internal' }))
      .resolves({ SecretString: SECRET });
    const { sleep, waited } = pauses();
    const read = secretsManagerReader(new SecretsManagerClient({}), { sleep, random: () => 1 });

    // Act
    const value = await read(SECRET_ARN);

    // Assess
    expect(JSON.parse(value)).toEqual({ username: 'backup', password: PASSWORD });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(waited).toEqual([200]);
  });

  it('does not retry what no retry fixes: a missing secret fails at once, as before', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).rejects(
      new ResourceNotFoundException({ $metadata: { httpStatusCode: 400 }, message: "Secrets Manager can't find the specified secret." }),
    );
    const { sleep, waited } = pauses();
    const read = secretsManagerReader(new SecretsManagerClient({}), { sleep });

    // Act
    const failure = (await read(SECRET_ARN).catch((error: unknown) => error)) as Error;

    // Assess
    expect(failure.name).toBe('ResourceNotFoundException');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(waited).toEqual([]);
  });
});
