import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type RestoreAudit, RestoreAuditSchema } from '../../contracts/payloads/restore';
import { getJson } from '../../contracts/vault-io';
import type { EngineServer } from '../../dev/servers/engines';
import { parseLocalConfig } from '../../local/local-config';
import { type LocalStrongbox, type LocalStrongboxOptions, startLocalStrongbox } from '../../local/local-strongbox';

/**
 * End-to-end runs: the synthesized app for a config naming real throwaway engines, run by the local
 * runtime against s3rver, with the vault and the outbox in a temp directory.
 */
export interface E2eDatabase {
  readonly name: string;
  readonly server: EngineServer;
  /** Database to dump (PostgreSQL, MariaDB); left out for Redis. */
  readonly database?: string;
  /** YAML of the retention block. @default daily 7, weekly 4, monthly 12, yearly 2 */
  readonly retention?: string;
  /** YAML of the dump block, such as `{ redisMode: logical }`. @default none (the config's defaults) */
  readonly dump?: string;
  /** YAML of the logs block, such as `{ intervalMinutes: 5, windowDays: 7 }`. @default no log archiving */
  readonly logs?: string;
}

export interface E2e {
  readonly strongbox: LocalStrongbox;
  readonly directory: string;
  stop(): Promise<void>;
}

/** @param extraYaml top-level config sections after `databases`, such as `drPlans:`. */
export function e2eConfigYaml(databases: readonly E2eDatabase[], extraYaml = ''): string {
  const entries = databases.map((db) => {
    const engine = db.server.engine;
    return `  - name: ${db.name}
    engine: ${engine}
    tier: important
    connection:
      host: ${db.server.host}
      port: ${db.server.port}
${db.database ? `      database: ${db.database}\n` : ''}      tls: disable
    schedule:
      expression: rate(1 hour)
    retention: ${db.retention ?? '{ daily: 7, weekly: 4, monthly: 12, yearly: 2 }'}
${db.dump ? `    dump: ${db.dump}\n` : ''}${db.logs ? `    logs: ${db.logs}\n` : ''}    task:
      timeoutMinutes: 10`;
  });
  const credentials = databases.map(
    (db) => `    ${db.name}: { ${db.server.username ? `username: "${db.server.username}", ` : ''}password: "${db.server.password}" }`,
  );
  return `vault: { primaryRegion: eu-west-1, replicaRegion: eu-central-1 }
alerts: { email: [] }
databases:
${entries.join('\n')}
${extraYaml}
local:
  credentials:
${credentials.join('\n')}
`;
}

export async function startE2e(
  databases: readonly E2eDatabase[],
  options: Partial<LocalStrongboxOptions> = {},
  extraYaml = '',
): Promise<E2e> {
  const directory = mkdtempSync(join(tmpdir(), 'strongbox-e2e-'));
  const local = parseLocalConfig(e2eConfigYaml(databases, extraYaml), 'e2e.yaml', {}, directory);
  const strongbox = await startLocalStrongbox({ local, ...options });
  return {
    strongbox,
    directory,
    stop: async () => {
      await strongbox.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    found.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return found;
}

export async function getBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

/**
 * Multipart uploads still open in a bucket. s3rver has no ListMultipartUploads; it keeps each open upload as a
 * folder under `<bucket>/._S3rver_uploads/`, removed on completion or abort.
 */
export function openMultipartUploads(strongbox: LocalStrongbox, bucket: string): string[] {
  const uploads = join(strongbox.vault.directory, bucket, '._S3rver_uploads');
  return existsSync(uploads) ? readdirSync(uploads) : [];
}

export const targetSecretArn = (name: string, region = 'eu-west-1') =>
  `arn:aws:secretsmanager:${region}:000000000000:secret:${name}-AbCdEf`;

/** Registers a restore target's secret (the server's superuser) with the local Secrets Manager; returns its ARN. */
export function targetSecret(strongbox: LocalStrongbox, name: string, server: EngineServer): string {
  const arn = targetSecretArn(name, strongbox.app.region);
  strongbox.secrets.put(arn, JSON.stringify({ ...(server.username && { username: server.username }), password: server.password }));
  return arn;
}

/** Runs the backup state machine and returns the backupId it made (fails the test when it made none). */
export async function backedUp(strongbox: LocalStrongbox, database: string): Promise<string> {
  const execution = await strongbox.backup({ database, kind: 'full', trigger: 'manual' });
  const backupId = (execution.output as { prepare?: { backupId?: string } } | undefined)?.prepare?.backupId;
  if (execution.status !== 'SUCCEEDED' || !backupId) {
    throw new Error(`backup of ${database} did not succeed: ${execution.status} ${execution.error ?? ''} ${execution.cause ?? ''}`);
  }
  return backupId;
}

/**
 * The message a failed execution reported. The state machines' Fail states show the message itself; a Lambda
 * state's own cause (a transition's) is Lambda's error object as JSON.
 */
export function causeMessage(cause: string | undefined): string {
  try {
    return String((JSON.parse(cause ?? '') as { errorMessage?: unknown }).errorMessage ?? cause);
  } catch {
    return String(cause);
  }
}

/** The audit record a restore execution wrote under restores/<database>/, found by the execution's name. */
export async function auditOf(strongbox: LocalStrongbox, database: string, executionName: string): Promise<RestoreAudit | undefined> {
  const s3 = strongbox.vault.client();
  const bucket = strongbox.app.buckets.primary;
  // Audit records only: a failed restore task's error record sits below, under task-errors/.
  const audits = (await listKeys(s3, bucket, `restores/${database}/`)).filter(
    (key) => !key.slice(`restores/${database}/`.length).includes('/'),
  );
  for (const key of audits) {
    const audit = await getJson(s3, bucket, key, RestoreAuditSchema);
    if (audit?.value.startedBy.executionName === executionName) {
      return audit.value;
    }
  }
  return undefined;
}
