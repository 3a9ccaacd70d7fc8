import type { ResolvedRestore } from '../../contracts/payloads/restore';
import type { Connection, SecretReader } from '../../engines/connection';

/**
 * The restore target as Guard and Validate reach it: the settled host, port and database, with the user name
 * and password read from the target's secret (never from the input). TLS is the source's unless Resolve set it.
 */
export async function restoreTargetConnection(resolved: ResolvedRestore, readSecret: SecretReader): Promise<Connection> {
  const credentials = resolved.target.secretArn ? (JSON.parse(await readSecret(resolved.target.secretArn)) as Record<string, unknown>) : {};
  return {
    host: resolved.target.host,
    port: resolved.target.port,
    database: resolved.target.database,
    tls: resolved.target.tls ?? 'require',
    username: typeof credentials.username === 'string' ? credentials.username : undefined,
    password: typeof credentials.password === 'string' ? credentials.password : undefined,
  };
}
