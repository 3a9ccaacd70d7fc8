import { Client, type ClientConfig } from 'pg';
import { type Connection, requireUsername } from '../connection';
import { CONNECT_TIMEOUT_SECONDS, connectError } from '../engine';

export function clientConfig(connection: Connection, database = connection.database ?? 'postgres'): ClientConfig {
  return {
    host: connection.host,
    port: connection.port,
    user: connection.username,
    password: connection.password,
    database,
    connectionTimeoutMillis: CONNECT_TIMEOUT_SECONDS * 1000,
    ssl: connection.tls === 'disable' ? false : { rejectUnauthorized: connection.tls === 'verify-full' },
    application_name: 'strongbox',
  };
}

/** A connected client with Strongbox's TLS, timeout and password scrubbing; the database defaults to the connection's. */
export async function connect(connection: Connection, database?: string): Promise<Client> {
  requireUsername(connection, 'postgres');
  const client = new Client(clientConfig(connection, database));
  // An error event after connect (server gone) must not crash the task; the pending query rejects instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw connectError('postgres', connection, error);
  }
  return client;
}
