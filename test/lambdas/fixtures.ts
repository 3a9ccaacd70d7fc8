import { parseConfig } from '../../infra/config/load';
import { buildPlan } from '../../infra/config/plan';
import type { Plan } from '../../lambdas/shared/plan';

/** A small, valid config for the workflow tests: three databases in three time zones and tiers. */
export const TEST_CONFIG_YAML = `
app:
  name: sbx
vault:
  primaryRegion: eu-west-1
  replicaRegion: eu-central-1
  graceHours: 6
alerts:
  pageOnImportant: false
databases:
  - name: orders
    engine: postgres
    tier: critical
    connection: { host: orders.example.com, database: orders, secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-AbCdEf" }
    schedule: { expression: rate(15 minutes), timezone: Europe/Dublin, flexibleWindowMinutes: 0 }
    drill: { expression: cron(30 4 ? * SUN *), timezone: Europe/Dublin }
    retention: { daily: 7, weekly: 4, monthly: 12, yearly: 7, complianceArchive: forever }
    task: { timeoutMinutes: 60 }
  - name: billing
    engine: mariadb
    tier: important
    connection: { host: billing.example.com, secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing-AbCdEf" }
    schedule:
      expression: cron(0 * * * ? *)
      timezone: Europe/Berlin
      blackouts: [{ start: "23:50", end: "00:10" }]
    task: { timeoutMinutes: 180 }
  - name: cache
    engine: redis
    tier: general
    connection: { host: cache.example.com }
    schedule: { expression: cron(0 3 * * ? *), timezone: America/New_York, flexibleWindowMinutes: 30 }
    rpo: 2d
`;

export function testConfig() {
  return parseConfig(TEST_CONFIG_YAML, 'test.yaml');
}

export function testPlan(): Plan {
  return buildPlan(testConfig());
}
