import type mysql from 'mysql2/promise';
import { type Connection, requireUsername } from '../connection';
import { CONNECT_TIMEOUT_SECONDS, connectError } from '../engine';

function sslOption(connection: Connection): mysql.ConnectionOptions['ssl'] {
  if (connection.tls === 'disable') {
    return undefined;
  }
  return { rejectUnauthorized: connection.tls === 'verify-full' };
}

/** A connection with Strongbox's TLS, timeout and password scrubbing. */
export async function connect(connection: Connection, database?: string): Promise<mysql.Connection> {
  // Loaded on first use: every task start would otherwise evaluate mysql2 (and keep its ~3 MB of heap, which
  // each full GC of a PostgreSQL or Redis stream then walks).
  const { createConnection } = await import('mysql2/promise');
  try {
    return await createConnection({
      host: connection.host,
      port: connection.port,
      user: requireUsername(connection, 'mysql'),
      password: connection.password,
      database,
      connectTimeout: CONNECT_TIMEOUT_SECONDS * 1000,
      ssl: sslOption(connection),
      multipleStatements: false,
    });
  } catch (error) {
    if (error instanceof Error && error.name === 'TaskEnvError') {
      throw error;
    }
    throw connectError('mysql', connection, error);
  }
}

/** A backquoted identifier. */
export function quote(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}
