import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from '../connection';
import type { EngineAdapter } from '../engine';

/**
 * MongoDB: `mongodump --archive` / `mongorestore --archive`. No mongod can run on the build machines, so this
 * adapter is argv building plus unit tests; its dump/restore throw until it is exercised against a real server.
 * The password goes in a 0600 YAML file passed with `--config` (database tools >= 100.3), never in argv or a URI.
 */
export function mongoConfigFile(connection: Connection): { path: string; remove(): void } {
  const directory = mkdtempSync(join(tmpdir(), 'strongbox-mongo-'));
  const path = join(directory, 'config.yaml');
  writeFileSync(path, `password: ${JSON.stringify(connection.password ?? '')}\n`, { mode: 0o600 });
  return { path, remove: () => rmSync(directory, { recursive: true, force: true }) };
}

function common(connection: Connection, configPath: string): string[] {
  return [
    `--host=${connection.host}`,
    `--port=${connection.port}`,
    ...(connection.username ? [`--username=${connection.username}`, '--authenticationDatabase=admin'] : []),
    `--config=${configPath}`,
    ...(connection.tls === 'disable' ? [] : ['--ssl', ...(connection.tls === 'require' ? ['--sslAllowInvalidCertificates'] : [])]),
  ];
}

/** `--oplog` gives a point-in-time archive of a whole replica set; it is not allowed together with `--db`. */
export function mongodumpArgs(connection: Connection, configPath: string): string[] {
  return [...common(connection, configPath), '--archive', ...(connection.database ? [`--db=${connection.database}`] : ['--oplog'])];
}

export function mongorestoreArgs(connection: Connection, configPath: string, include: readonly string[], oplog: boolean): string[] {
  return [
    ...common(connection, configPath),
    '--archive',
    ...(oplog ? ['--oplogReplay'] : []),
    ...include.map((ns) => `--nsInclude=${ns.includes('.') ? ns : `${ns}.*`}`),
  ];
}

const unsupported = async (): Promise<never> => {
  throw new Error('the MongoDB adapter builds mongodump/mongorestore commands but has not been run against a real mongod yet');
};

export const mongodbAdapter: EngineAdapter = {
  name: 'mongodb',
  serverVersion: unsupported,
  inventory: unsupported,
  dump: unsupported,
  restore: unsupported,
  targetHoldsData: unsupported,
};
