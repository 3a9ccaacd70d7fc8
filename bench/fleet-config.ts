import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';

const ENGINES = ['postgres', 'mariadb', 'mysql', 'redis'] as const;
const TIERS = ['critical', 'important', 'general'] as const;
const SCHEDULES: Record<(typeof TIERS)[number], string> = {
  critical: 'rate(15 minutes)',
  important: 'cron(0 * * * ? *)',
  general: 'cron(0 3 * * ? *)',
};

/**
 * The example config with `count` generated databases instead of its own: engines and tiers cycling, each with
 * a backup schedule that meets its tier's RPO, a weekly drill, and an `estimate.sizeGiB` from 1 to 50 GiB
 * (an assumption for the cost estimate; real fleets read sizes from the vault). Used by the fleet test, the
 * bench and `npm run estimate` demonstrations.
 */
export function fleetConfigYaml(count: number): string {
  const doc = parseDocument(readFileSync(join(__dirname, '..', 'strongbox.config.yaml'), 'utf8'));
  const databases = Array.from({ length: count }, (_, i) => {
    const engine = ENGINES[i % ENGINES.length];
    const tier = TIERS[i % TIERS.length];
    const name = `db-${String(i).padStart(4, '0')}`;
    return {
      name,
      engine,
      tier,
      connection: {
        host: `${name}.fleet.internal`,
        ...(engine === 'postgres' ? { database: 'app' } : {}),
        ...(engine === 'redis' ? {} : { secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:strongbox/${name}-AbCdEf` }),
      },
      schedule: { expression: SCHEDULES[tier], timezone: 'Europe/Dublin' },
      drill: { expression: `cron(${i % 60} ${i % 6} ? * SUN *)`, timezone: 'Europe/Dublin' },
      estimate: { sizeGiB: 1 + ((i * 7) % 50) },
    };
  });
  doc.set('databases', doc.createNode(databases));
  doc.delete('drPlans');
  return doc.toString();
}
