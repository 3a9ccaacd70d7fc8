import { isAbsolute, join, resolve } from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { z } from 'zod';
import { describeZodIssues } from '../contracts/errors';
import { SECRET_ARN } from '../contracts/payloads/restore';
import { DATABASE_NAME } from '../contracts/vault';
import { ConfigError, parseConfig, readConfigText } from '../infra/config/load';
import { ENGINES_NEEDING_CREDENTIALS, type StrongboxConfig } from '../infra/config/schema';
import { LOCAL_ACCOUNT } from './executor/intrinsics';

/**
 * A local config is a normal `strongbox.config.yaml` plus one `local:` section with what the cloud gets from
 * Secrets Manager: the credentials of each database. Example:
 *
 *   local:
 *     dataDir: .strongbox            # vault, outbox and embedded servers (default .strongbox)
 *     credentials:
 *       orders:                      # a database name from `databases`
 *         username: backup
 *         passwordEnv: ORDERS_PASSWORD   # or `password: ...` (the file is then a secret itself)
 *     secrets:                       # restore targets: what their secretArn holds in Secrets Manager
 *       arn:aws:secretsmanager:eu-west-1:000000000000:secret:orders-scratch-AbCdEf:
 *         username: restorer
 *         passwordEnv: SCRATCH_PASSWORD
 *
 * A database that has local credentials may leave `connection.secretArn` out; the runtime gives it a
 * placeholder ARN, so the synthesized task definition still carries a `secrets` entry that the local task
 * runner fills from these credentials. Passwords never reach argv, logs or the state machine input.
 */

export const LocalCredentialsSchema = z
  .strictObject({
    username: z
      .string()
      .min(1, { error: 'expected the user name the backup connects as' })
      .optional()
      .describe('Left out for Redis AUTH with a password only.'),
    password: z.string().optional(),
    passwordEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected the name of an environment variable holding the password' })
      .optional(),
  })
  .refine((c) => !(c.password !== undefined && c.passwordEnv !== undefined), {
    error: 'expected either password or passwordEnv, not both',
  });

export const LocalSectionSchema = z.strictObject({
  dataDir: z.string().min(1).default('.strongbox').describe('Where the vault, the outbox and embedded servers keep their files.'),
  credentials: z
    .record(z.string().regex(DATABASE_NAME, { error: 'expected a database name from `databases`' }), LocalCredentialsSchema)
    .default({}),
  secrets: z
    .record(
      z.string().regex(SECRET_ARN, { error: 'expected a Secrets Manager ARN: arn:aws:secretsmanager:<region>:<account>:secret:<name>' }),
      LocalCredentialsSchema,
    )
    .default({})
    .describe('Restore targets: the value of each secretArn a restore input may name, served by the local Secrets Manager.'),
});
export type LocalSection = z.output<typeof LocalSectionSchema>;

export interface LocalCredentials {
  readonly username?: string;
  readonly password?: string;
}

export interface LocalConfig {
  readonly file: string;
  readonly config: StrongboxConfig;
  /** Absolute. */
  readonly dataDir: string;
  readonly credentials: Readonly<Record<string, LocalCredentials>>;
  /** Restore-target secrets by ARN. */
  readonly secrets: Readonly<Record<string, LocalCredentials>>;
}

export function placeholderSecretArn(region: string, database: string): string {
  return `arn:aws:secretsmanager:${region}:${LOCAL_ACCOUNT}:secret:strongbox-local/${database}-000000`;
}

export function loadLocalConfig(file: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): LocalConfig {
  return parseLocalConfig(readConfigText(file), file, env, cwd);
}

export function parseLocalConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): LocalConfig {
  const doc = parseDocument(text, { uniqueKeys: true });
  const localNode = doc.get('local', true);
  const localInput = (doc.toJS() as { local?: unknown } | null)?.local ?? {};
  const section = LocalSectionSchema.safeParse(localInput);
  if (!section.success) {
    throw new ConfigError(
      file,
      describeZodIssues(section.error, localInput)
        .split('\n')
        .map((line) => `local.${line}`),
    );
  }
  doc.delete('local');
  // Databases with local credentials need no Secrets Manager ARN; give them a placeholder the runtime maps back.
  const region = String(doc.getIn(['vault', 'primaryRegion']) ?? 'eu-west-1');
  const databases = doc.get('databases', true);
  if (localNode && isSeq(databases)) {
    for (const item of databases.items) {
      if (isMap(item)) {
        const name = item.get('name');
        if (typeof name === 'string' && section.data.credentials[name] && !item.getIn(['connection', 'secretArn'])) {
          item.setIn(['connection', 'secretArn'], placeholderSecretArn(region, name));
        }
      }
    }
  }
  const config = parseConfig(doc.toString(), file);

  const problems: string[] = [];
  const credentials: Record<string, LocalCredentials> = {};
  const names = new Set(config.databases.map((db) => db.name));
  for (const [name, entry] of Object.entries(section.data.credentials)) {
    if (!names.has(name)) {
      problems.push(`local.credentials.${name}: found a database name that is not in databases; expected one of ${[...names].join(', ')}`);
      continue;
    }
    credentials[name] = withPassword(entry, `local.credentials.${name}`, env, problems);
  }
  const secrets: Record<string, LocalCredentials> = {};
  for (const [arn, entry] of Object.entries(section.data.secrets)) {
    secrets[arn] = withPassword(entry, `local.secrets.${arn}`, env, problems);
  }
  for (const db of config.databases) {
    if (ENGINES_NEEDING_CREDENTIALS.includes(db.engine) && !credentials[db.name] && !problems.some((p) => p.includes(`.${db.name}.`))) {
      problems.push(`local.credentials.${db.name}: found nothing; expected the username and password (or passwordEnv) ${db.engine} needs`);
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(file, problems);
  }
  const dataDir = isAbsolute(section.data.dataDir) ? section.data.dataDir : resolve(cwd, section.data.dataDir);
  return { file, config, dataDir, credentials, secrets };
}

function withPassword(
  entry: z.output<typeof LocalCredentialsSchema>,
  path: string,
  env: NodeJS.ProcessEnv,
  problems: string[],
): LocalCredentials {
  if (entry.passwordEnv === undefined) {
    return { username: entry.username, password: entry.password };
  }
  const password = env[entry.passwordEnv];
  if (password === undefined) {
    problems.push(`${path}.passwordEnv: found ${entry.passwordEnv}, which is not set; expected it to hold the password`);
  }
  return { username: entry.username, password };
}

/** The demo's own config, next to this file: one PostgreSQL database on the embedded server. */
export const DEMO_CONFIG_FILE = join(__dirname, 'demo', 'demo.config.yaml');
