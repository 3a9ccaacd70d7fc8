import type { Plan } from '../../../contracts/plan';
import { parseConfig } from '../../../infra/config/load';
import { buildPlan } from '../../../infra/config/plan';

/**
 * A plan with one database per tier, built from YAML through the real config schema and plan builder, so the
 * monitoring tests see the same tier presets and overrides a deployment does.
 */
export function monitoringPlan(): Plan {
  return buildPlan(
    parseConfig(`
app:
  name: acme
vault:
  primaryRegion: eu-west-1
  replicaRegion: eu-central-1
alerts:
  pageOnImportant: false
databases:
  - name: orders
    engine: postgres
    tier: critical
    connection:
      host: orders.internal
      secretArn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-AbCdEf
    schedule:
      expression: rate(15 minutes)
    drill:
      expression: cron(0 4 ? * SUN *)
  - name: billing
    engine: mariadb
    tier: important
    rto: 2h
    connection:
      host: billing.internal
      secretArn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing-AbCdEf
    schedule:
      expression: rate(1 hour)
  - name: cache
    engine: redis
    tier: general
    connection:
      host: cache.internal
    schedule:
      expression: rate(1 day)
`),
  );
}
