import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
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

/**
 * @param client created on the first read: most tasks get their credentials from ECS secrets and never read
 * one, so the SDK module is loaded then too: evaluated at start-up, it delayed every dump's first byte.
 */
export function secretsManagerReader(client?: SecretsManagerClient): SecretReader {
  let reader = client;
  return async (secretArn) => {
    const sdk = await import('@aws-sdk/client-secrets-manager');
    reader ??= new sdk.SecretsManagerClient({});
    const out = await reader.send(new sdk.GetSecretValueCommand({ SecretId: secretArn }));
    if (out.SecretString === undefined) {
      throw new Error(`secret ${secretArn} has no string value; expected JSON with "username" and "password"`);
    }
    return out.SecretString;
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
