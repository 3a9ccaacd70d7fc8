import type { StrongboxConfig } from './schema';

/**
 * AWS limits a fleet deploy must fit, as documented (the README cites the pages), and the margins Strongbox
 * keeps below them. Checked by `npm run validate` and by synth, before CloudFormation or IAM would refuse a
 * half-deployed change.
 */
export const AWS_LIMITS = {
  /** CloudFormation: resources per stack (template). */
  resourcesPerStack: 500,
  /** CloudFormation: template body in S3, the way CDK deploys it. */
  templateBytes: 1_000_000,
  /** IAM: roles per account, default and maximum quota (adjustable through Service Quotas). */
  rolesPerAccountDefault: 1000,
  rolesPerAccountMax: 5000,
  /** IAM: aggregate inline policy size of one role, in non-whitespace characters. */
  rolePolicyCharacters: 10_240,
  /** Lambda: all environment variables of one function together. */
  lambdaEnvironmentBytes: 4096,
  /** CloudWatch: widgets in one dashboard body. */
  dashboardWidgets: 500,
  /** CloudWatch Metrics Insights: time series one query returns (an alarm beyond it evaluates PARTIAL_DATA). */
  metricsInsightsSeriesPerQuery: 500,
} as const;

/** Strongbox's own ceilings, with margin below AWS_LIMITS. */
export const FLEET_LIMITS = {
  resourcesPerStack: 450,
  templateBytes: 800_000,
} as const;

/** Databases per nested stack (infra/stacks/database-shard.ts); 16 keep a shard near 300 resources and 480 KB. */
export const DATABASES_PER_SHARD = 16;
/** Most resources the primary stack has besides its shards (measured: 117 with a created VPC, chat and pager; DR plans add 10). */
const PRIMARY_FIXED_RESOURCES = 150;
/** IAM roles that do not grow with the fleet: 14 function roles, 4 state machines, Chatbot, flow logs, CDK helpers. */
const FIXED_ROLES = 30;
/** Per shard: the shared execution role and one Scheduler role per target state machine. */
const ROLES_PER_SHARD = 3;
/** Per database: the dump role and the restore role. */
const ROLES_PER_DATABASE = 2;

export interface FleetFigures {
  readonly databases: number;
  readonly shards: number;
  readonly primaryResources: number;
  readonly iamRoles: number;
}

export function fleetFigures(databases: number): FleetFigures {
  const shards = Math.ceil(databases / DATABASES_PER_SHARD);
  return {
    databases,
    shards,
    primaryResources: PRIMARY_FIXED_RESOURCES + shards,
    iamRoles: FIXED_ROLES + shards * ROLES_PER_SHARD + databases * ROLES_PER_DATABASE,
  };
}

export interface LimitReport {
  /** Limits the config would exceed: validate and synth fail with these lines. */
  readonly problems: readonly string[];
  /** Adjustable quotas the config exceeds at their default: deploy works once the quota is raised. */
  readonly warnings: readonly string[];
  readonly figures: FleetFigures;
}

/** One line per limit, naming the limit, the count and what to change. */
export function checkFleetLimits(config: Pick<StrongboxConfig, 'databases'>): LimitReport {
  const figures = fleetFigures(config.databases.length);
  const problems: string[] = [];
  const warnings: string[] = [];
  const perTier = new Map<string, number>();
  for (const db of config.databases) {
    perTier.set(db.tier, (perTier.get(db.tier) ?? 0) + 1);
  }
  for (const [tier, count] of perTier) {
    if (tier !== undefined && count > AWS_LIMITS.metricsInsightsSeriesPerQuery) {
      problems.push(tierAlarmProblem(tier, count));
    }
  }
  if (figures.primaryResources > FLEET_LIMITS.resourcesPerStack) {
    const most = (FLEET_LIMITS.resourcesPerStack - PRIMARY_FIXED_RESOURCES) * DATABASES_PER_SHARD;
    problems.push(
      `databases: ${figures.databases} databases need ${figures.shards} shard stacks, and the primary stack would hold ${figures.primaryResources} resources; CloudFormation allows ${AWS_LIMITS.resourcesPerStack} per stack (Strongbox keeps under ${FLEET_LIMITS.resourcesPerStack}): deploy at most ${most} databases per app, splitting the rest into a second config with another app.name`,
    );
  }
  if (figures.iamRoles > AWS_LIMITS.rolesPerAccountMax) {
    problems.push(
      `databases: ${figures.databases} databases need ${figures.iamRoles} IAM roles (a dump and a restore role each); IAM allows at most ${AWS_LIMITS.rolesPerAccountMax} roles per account even with a raised quota: split the fleet across accounts (one config per account)`,
    );
  } else if (figures.iamRoles > AWS_LIMITS.rolesPerAccountDefault) {
    warnings.push(
      `databases: ${figures.databases} databases need ${figures.iamRoles} IAM roles (a dump and a restore role each), plus the account's other roles; the default quota is ${AWS_LIMITS.rolesPerAccountDefault} roles per account: request "Roles per account" of at least ${figures.iamRoles + 100} in Service Quotas (IAM, us-east-1) before deploying`,
    );
  }
  return { problems, warnings, figures };
}

/**
 * A tier's databases are the contributors of one Metrics Insights alarm (infra/constructs/monitoring.ts), which
 * evaluates at most AWS_LIMITS.metricsInsightsSeriesPerQuery time series.
 */
export function tierAlarmProblem(tier: string, count: number): string {
  const most = AWS_LIMITS.metricsInsightsSeriesPerQuery;
  return `databases: ${count} databases of tier "${tier}"; one Metrics Insights alarm evaluates at most ${most} time series, so the tier alarm would miss some: keep at most ${most} databases per tier, splitting the rest into a second config with another app.name`;
}
