import type { GetSecretValueCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { TASK_ENV, type TaskEnv, TaskEnvError } from '../contracts/task-env';

export interface Credentials {
  readonly username?: string;
  readonly password?: string;
}

/** Where a connection points: the source database, or the restore target (falling back to the source). */
export interface Connection extends Credentials {
  readonly host: string;
  readonly port: number;
  readonly database?: string;
  readonly tls: TaskEnv['STRONGBOX_DB_TLS'];
}

export type SecretReader = (secretArn: string) => Promise<string>;

/** A secret that could not be read: one line naming the secret (its ARN, never its value) and the fault. */
export class SecretReadError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'SecretReadError';
  }
}

export interface SecretRetryOptions {
  /** Calls in all, the first included. @default 5 */
  readonly maxAttempts?: number;
  /** Ceiling of the first pause; each retry doubles it. @default 200 */
  readonly baseDelayMs?: number;
  /** Ceiling of any pause. @default 5000 */
  readonly maxDelayMs?: number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default Math.random */
  readonly random?: () => number;
}

const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded']);
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'TimeoutError', 'RequestTimeout']);

/** Throttling, Secrets Manager's 5xx (InternalServiceError) and dropped connections pass; anything else will not. */
function isTransient(error: unknown): boolean {
  const e = error as { name?: string; code?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode ?? 0;
  return (
    THROTTLING.has(e?.name ?? '') ||
    status === 429 ||
    status >= 500 ||
    e?.$fault === 'server' ||
    NETWORK.has(e?.name ?? '') ||
    NETWORK.has(e?.code ?? '')
  );
}

/**
 * @param client created on the first read: most tasks get their credentials from ECS secrets and never read
 * one, so the SDK module is loaded then too: evaluated at start-up, it delayed every dump's first byte.
 *
 * Transient faults are retried here with exponential backoff and full jitter (a pause drawn from 0 to
 * min(maxDelay, base * 2^retry)), so a fleet's tasks starting on the same schedule spread their retries out.
 * The client's own retries are off (maxAttempts 1): one loop decides how often and how long, and the loop is
 * what the tests drive. GetSecretValue only reads, so a repeated call changes nothing.
 */
export function secretsManagerReader(client?: SecretsManagerClient, retry: SecretRetryOptions = {}): SecretReader {
  let reader = client;
  const maxAttempts = retry.maxAttempts ?? 5;
  const baseDelayMs = retry.baseDelayMs ?? 200;
  const maxDelayMs = retry.maxDelayMs ?? 5000;
  const sleep = retry.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = retry.random ?? Math.random;
  return async (secretArn) => {
    const sdk = await import('@aws-sdk/client-secrets-manager');
    reader ??= new sdk.SecretsManagerClient({ maxAttempts: 1 });
    for (let attempt = 1; ; attempt++) {
      let out: GetSecretValueCommandOutput;
      try {
        out = await reader.send(new sdk.GetSecretValueCommand({ SecretId: secretArn }));
      } catch (error) {
        // Access denied, no such secret and the like: no retry fixes them, and they surface as they always did.
        if (!isTransient(error)) {
          throw error;
        }
        if (attempt >= maxAttempts) {
          const e = error as { name?: string; message?: string };
          const what = `${e?.name ?? 'Error'}: ${String(e?.message ?? error).split('\n')[0]}`;
          throw new SecretReadError(
            `secret ${secretArn}: GetSecretValue still failing after ${attempt} attempts (${what}); Secrets Manager is throttling or unavailable, run the task again later`,
          );
        }
        await sleep(Math.floor(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1))));
        continue;
      }
      if (out.SecretString === undefined) {
        throw new Error(`secret ${secretArn} has no string value; expected JSON with "username" and "password"`);
      }
      return out.SecretString;
    }
  };
}

async function fromSecret(secretArn: string, read: SecretReader): Promise<Credentials> {
  const text = await read(secretArn);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Never echo the text: it is the secret.
    throw new Error(`secret ${secretArn} is not JSON; expected {"username": "...", "password": "..."}`);
  }
  const record = (value ?? {}) as Record<string, unknown>;
  const username = typeof record.username === 'string' ? record.username : undefined;
  const password = typeof record.password === 'string' ? record.password : undefined;
  return { username, password };
}

/**
 * Source credentials: ECS `secrets` inject STRONGBOX_DB_USERNAME/PASSWORD; STRONGBOX_DB_SECRET_ARN is read
 * through the SDK when they are absent.
 */
export async function sourceConnection(env: TaskEnv, read: SecretReader = secretsManagerReader()): Promise<Connection> {
  const base = { host: env.STRONGBOX_DB_HOST, port: env.STRONGBOX_DB_PORT, database: env.STRONGBOX_DB_NAME, tls: env.STRONGBOX_DB_TLS };
  if (env.STRONGBOX_DB_USERNAME !== undefined || env.STRONGBOX_DB_PASSWORD !== undefined || !env.STRONGBOX_DB_SECRET_ARN) {
    return { ...base, username: env.STRONGBOX_DB_USERNAME, password: env.STRONGBOX_DB_PASSWORD };
  }
  return { ...base, ...(await fromSecret(env.STRONGBOX_DB_SECRET_ARN, read)) };
}

/** Restore target: STRONGBOX_TARGET_* with STRONGBOX_TARGET_SECRET_ARN, each falling back to the source's. */
export async function targetConnection(env: TaskEnv, read: SecretReader = secretsManagerReader()): Promise<Connection> {
  const source = await sourceConnection(env, read);
  const credentials = env.STRONGBOX_TARGET_SECRET_ARN ? await fromSecret(env.STRONGBOX_TARGET_SECRET_ARN, read) : source;
  return {
    host: env.STRONGBOX_TARGET_HOST ?? source.host,
    port: env.STRONGBOX_TARGET_PORT ?? source.port,
    database: env.STRONGBOX_TARGET_NAME ?? source.database,
    tls: source.tls,
    username: credentials.username,
    password: credentials.password,
  };
}

/** Engines that cannot log in without a user name say so before any tool starts. */
export function requireUsername(connection: Connection, engine: string): string {
  if (!connection.username) {
    throw new TaskEnvError(
      `${TASK_ENV.username}: not set; ${engine} needs a user: set it (ECS secrets inject it) or set ${TASK_ENV.secretArn} to a secret with "username" and "password"`,
    );
  }
  return connection.username;
}
