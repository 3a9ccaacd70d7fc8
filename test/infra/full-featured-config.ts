import { readFileSync } from 'node:fs';
import { isMap, isSeq, parseDocument } from 'yaml';
import { parseConfig } from '../../infra/config/load';
import type { StrongboxConfig } from '../../infra/config/schema';

const ENGINES = ['postgres', 'mariadb', 'mysql', 'redis'] as const;

/** Config edits for an existing network and imported vault keys, so that the app creates neither. */
export const EXISTING_NETWORK_AND_KEYS: [(string | number)[], unknown][] = [
  [
    ['network'],
    {
      vpcId: 'vpc-0abc12345def67890',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      subnetIds: ['subnet-0abc12345def67890', 'subnet-0abc12345def67891'],
      securityGroupIds: ['sg-0abc12345def67890'],
    },
  ],
  [
    ['vault', 'kms'],
    {
      mode: 'import',
      keyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000001',
      replicaKeyArn: 'arn:aws:kms:eu-central-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000002',
    },
  ],
];

/** Binlog archiving for the example's MariaDB database and every extra MariaDB one, so both shards schedule it. */
const LOGS = { intervalMinutes: 5, windowDays: 7 };
/** WAL archiving and base backups for every extra PostgreSQL database, so both shards schedule the base-backup machine. */
const WAL_LOGS = { ...LOGS, baseBackup: { expression: 'cron(0 2 * * ? *)' } };

/**
 * The example config (every engine, a DR plan, a replica region, chat, pager and e-mail alerts, binlog and WAL archiving)
 * with `extra` more databases, so that the fleet spans more than one database shard (16 databases each).
 */
export function fullFeaturedConfig(extra = 17, edits: [(string | number)[], unknown][] = []): StrongboxConfig {
  const doc = parseDocument(readFileSync('strongbox.config.yaml', 'utf8'));
  const databases = doc.get('databases');
  if (!isSeq(databases)) {
    throw new Error('strongbox.config.yaml: databases is not a list');
  }
  for (let i = 0; i < extra; i++) {
    const engine = ENGINES[i % ENGINES.length];
    databases.add(
      doc.createNode({
        name: `extra-${i}`,
        engine,
        tier: 'general',
        connection: {
          host: `extra-${i}.internal`,
          ...(engine === 'postgres' ? { database: 'app' } : {}),
          ...(engine === 'redis' ? {} : { secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:strongbox/extra-${i}-AbCdEf` }),
        },
        schedule: { expression: 'cron(0 3 * * ? *)' },
        drill: { expression: `cron(${i} 4 ? * SUN *)`, timezone: 'Europe/Dublin' },
        ...(engine === 'mariadb' ? { logs: LOGS } : {}),
        ...(engine === 'postgres' ? { logs: WAL_LOGS } : {}),
      }),
    );
  }
  const billing = databases.items.findIndex((item) => isMap(item) && item.get('name') === 'billing');
  if (billing === -1) {
    throw new Error('strongbox.config.yaml: no database "billing" (the MariaDB one that archives its binlog here)');
  }
  doc.setIn(['databases', billing, 'logs'], doc.createNode(LOGS));
  for (const [path, value] of edits) {
    doc.setIn(path, doc.createNode(value));
  }
  return parseConfig(doc.toString(), 'full-featured.yaml');
}
