import type { Engine } from '../../contracts/engines';

/**
 * Engines the config names but Strongbox refuses, with the reason and what to use meanwhile. The MongoDB
 * adapter (engines/mongodb/adapter.ts) builds mongodump/mongorestore argv and is unit-tested, but it has never
 * run against a real server (none can run where Strongbox is tested), and a backup tool that has not restored
 * a real backup is not one to rely on.
 */
export const REFUSED_ENGINES: Readonly<Partial<Record<Engine, string>>> = {
  mongodb:
    'expected postgres, mysql, mariadb or redis: Strongbox refuses mongodb because its adapter has not been tested against a real MongoDB server (none runs where Strongbox is tested); meanwhile back MongoDB up outside Strongbox (mongodump --archive --oplog on a schedule of your own, or AWS Backup for Amazon DocumentDB) and leave it out of databases',
};

/** Amazon RDS, Aurora and RDS Proxy endpoints (`*.rds.amazonaws.com`, `.com.cn` in China): managed servers without superuser or physical replication. */
export const RDS_ENDPOINT = /\.rds\.amazonaws\.com(\.cn)?$/i;

export function isRdsEndpoint(host: string): boolean {
  return RDS_ENDPOINT.test(host);
}
