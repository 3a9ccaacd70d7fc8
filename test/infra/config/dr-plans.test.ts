import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PlanSchema } from '../../../contracts/plan';
import { ConfigError, parseConfig } from '../../../infra/config/load';
import { buildDeploymentPlan, buildPlan, runtimePlan } from '../../../infra/config/plan';

const ARN = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:strongbox/${name}-AbCdEf`;

/** The repository's example config (four databases: orders, billing, inventory, sessions) plus `drPlans`. */
function configWith(drPlans: unknown): string {
  const base = parse(readFileSync('strongbox.config.yaml', 'utf8')) as Record<string, unknown>;
  return stringify({ ...base, drPlans });
}

function problemsOf(text: string): readonly string[] {
  try {
    parseConfig(text);
  } catch (error) {
    if (error instanceof ConfigError) {
      return error.problems;
    }
    throw error;
  }
  return [];
}

const goodPlan = {
  name: 'region-loss',
  groups: [{ databases: ['orders', 'billing'] }, { databases: ['sessions'] }],
  targets: {
    orders: { host: 'orders.dr.internal', database: 'orders', secretArn: ARN('orders-dr') },
    billing: { host: 'billing.dr.internal', port: 3307, secretArn: ARN('billing-dr') },
    sessions: { host: 'sessions.dr.internal' },
  },
};

describe('drPlans config section', () => {
  it('accepts a plan with ordered groups and one target per database, and defaults to no plans', () => {
    // Prepare
    const withPlan = configWith([goodPlan]);
    const without = configWith(undefined);

    // Act
    const config = parseConfig(withPlan);
    const bare = parseConfig(without);

    // Assess
    expect(config.drPlans).toHaveLength(1);
    expect(config.drPlans[0].groups.map((g) => g.databases)).toEqual([['orders', 'billing'], ['sessions']]);
    expect(config.drPlans[0].targets.billing.port).toBe(3307);
    expect(bare.drPlans).toEqual([]);
  });

  it.each([
    [
      'an unknown database in a group',
      { ...goodPlan, groups: [{ databases: ['ordrs'] }], targets: {} },
      'drPlans[0].groups[0].databases[0]: found "ordrs"; expected the name of a database in databases[]; known: orders, billing, inventory, sessions (did you mean "orders"?)',
    ],
    [
      'an empty group',
      { ...goodPlan, groups: [...goodPlan.groups, { databases: [] }] },
      'drPlans[0].groups[2].databases: found []; expected at least one database in the group; remove the empty group',
    ],
    [
      'a plan without groups',
      { ...goodPlan, groups: [], targets: {} },
      'drPlans[0].groups: found []; expected at least one group of databases',
    ],
    [
      'a database twice in a plan',
      { ...goodPlan, groups: [...goodPlan.groups, { databases: ['orders'] }] },
      'drPlans[0].groups[2].databases[0]: found "orders"; expected each database once per plan; groups[0].databases[0] already restores it',
    ],
    [
      'a malformed target secret ARN',
      { ...goodPlan, targets: { ...goodPlan.targets, orders: { host: 'orders.dr.internal', secretArn: 'arn:aws:secretsmanager:orders' } } },
      'drPlans[0].targets.orders.secretArn: found "arn:aws:secretsmanager:orders"; expected a Secrets Manager ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>',
    ],
    [
      'a missing target',
      { ...goodPlan, targets: { orders: goodPlan.targets.orders, billing: goodPlan.targets.billing } },
      'drPlans[0].targets: found {"orders":{"host":"orders.dr.internal","database":"orders","secretArn":"arn:a...; expected a target for "sessions": every database of the plan needs exactly one target',
    ],
    [
      'a target for a database outside the plan',
      { ...goodPlan, targets: { ...goodPlan.targets, inventory: { host: 'x', secretArn: ARN('x') } } },
      'drPlans[0].targets.inventory: found {"host":"x","secretArn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret...; expected a target only for a database listed in the plan\'s groups; add it to a group or remove the target',
    ],
    [
      'a target keyed by an unknown database',
      { ...goodPlan, targets: { ...goodPlan.targets, nope: { host: 'x' } } },
      'drPlans[0].targets.nope: found {"host":"x"}; expected targets keyed by a database in databases[]; known: orders, billing, inventory, sessions',
    ],
    [
      'a credential-less target for PostgreSQL',
      { ...goodPlan, targets: { ...goodPlan.targets, orders: { host: 'orders.dr.internal', database: 'orders' } } },
      'drPlans[0].targets.orders.secretArn: found nothing; expected a Secrets Manager ARN: postgres needs credentials',
    ],
    [
      'a misspelt target field',
      { ...goodPlan, targets: { ...goodPlan.targets, sessions: { hots: 'sessions.dr.internal' } } },
      'drPlans[0].targets.sessions.host: found nothing; expected the host name or address of the DR target',
    ],
    [
      'an rto that is not a duration',
      { ...goodPlan, rto: '2 hours' },
      'drPlans[0].rto: found "2 hours"; expected a duration such as "15m", "4h" or "1d"',
    ],
    [
      'an rto as a number',
      { ...goodPlan, rto: 7200 },
      'drPlans[0].rto: found 7200; expected a duration with its unit, such as "15m", "4h" or "1d"',
    ],
    [
      'a rehearsal schedule that does not parse',
      { ...goodPlan, rehearsal: { expression: 'every sunday' } },
      'drPlans[0].rehearsal.expression: found "every sunday"; expected a valid schedule expression: expected cron(<min> <hour> <day-of-month> <month> <day-of-week> <year>) or rate(<n> <unit>)',
    ],
    [
      'a rehearsal in an unknown time zone',
      { ...goodPlan, rehearsal: { expression: 'cron(0 4 ? * SUN *)', timezone: 'Mars/Olympus' } },
      'drPlans[0].rehearsal.timezone: found "Mars/Olympus"; expected an IANA time zone such as "UTC" or "Europe/Berlin"',
    ],
    [
      'a rehearsal written as a bare expression',
      { ...goodPlan, rehearsal: 'cron(0 4 ? * SUN *)' },
      'drPlans[0].rehearsal: found "cron(0 4 ? * SUN *)"; expected a schedule object such as { expression: "cron(0 4 ? * SUN *)", timezone: "UTC" }',
    ],
    [
      'a bad plan name',
      { ...goodPlan, name: 'Region Loss' },
      'drPlans[0].name: found "Region Loss"; expected a plan name of lowercase letters, digits and "-", starting with a letter, at most 40 characters',
    ],
  ])('rejects %s with the path and the fix', (_what, plan, message) => {
    // Prepare
    const text = configWith([plan]);

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems.map((p) => p.replace(/^line \d+: /, ''))).toContain(message);
  });

  it('rejects two plans with the same name', () => {
    // Prepare
    const text = configWith([goodPlan, goodPlan]);

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/drPlans\[1\]\.name: found "region-loss"; expected a unique plan name; drPlans\[0\] already uses it$/);
  });

  it('reports every plan problem in one pass, each with its line', () => {
    // Prepare
    const text = configWith([{ ...goodPlan, groups: [{ databases: ['nope'] }, { databases: [] }] }]);

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems.length).toBeGreaterThanOrEqual(2);
    expect(problems.every((p) => /^line \d+: drPlans\[0\]/.test(p))).toBe(true);
  });

  it('bakes each plan into the runtime plan with the engine port filled in', () => {
    // Prepare
    const config = parseConfig(configWith([goodPlan]));

    // Act
    const plan = PlanSchema.parse(buildPlan(config));

    // Assess
    expect(plan.drPlans?.['region-loss'].groups).toEqual([['orders', 'billing'], ['sessions']]);
    expect(plan.drPlans?.['region-loss'].targets.orders.port).toBe(5432);
    expect(plan.drPlans?.['region-loss'].targets.billing.port).toBe(3307);
    expect(plan.drPlans?.['region-loss'].targets.sessions).toEqual({ host: 'sessions.dr.internal', port: 6379 });
  });

  it('bakes the plan RTO into the runtime plan and the rehearsal schedule into the deployment plan only', () => {
    // Prepare
    const config = parseConfig(
      configWith([
        { ...goodPlan, rto: '2h', rehearsal: { expression: 'cron(0 4 ? * SUN *)', timezone: 'Europe/Berlin' } },
        { ...goodPlan, name: 'az-loss' },
      ]),
    );

    // Act
    const deployment = buildDeploymentPlan(config);
    const runtime = PlanSchema.parse(runtimePlan(deployment));

    // Assess
    expect(runtime.drPlans?.['region-loss'].rtoSeconds).toBe(7200);
    expect(runtime.drPlans?.['az-loss']).not.toHaveProperty('rtoSeconds');
    expect(deployment.rehearsals).toEqual({ 'region-loss': { expression: 'cron(0 4 ? * SUN *)', timezone: 'Europe/Berlin' } });
    expect(runtime).not.toHaveProperty('rehearsals');
  });
});
