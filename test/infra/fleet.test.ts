import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetConfigYaml } from '../../bench/fleet-config';
import { buildApp } from '../../infra/app';
import { AWS_LIMITS, checkFleetLimits, FLEET_LIMITS } from '../../infra/config/limits';
import { parseConfig } from '../../infra/config/load';

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}
interface Template {
  Resources: Record<string, Resource>;
  Parameters?: Record<string, unknown>;
  Outputs?: Record<string, unknown>;
}
interface Statement {
  Action: string | string[];
  Resource: unknown;
}

/** Every template of a synthesized fleet (top-level and nested), with its file size. */
function synthFleet(count: number, outdir: string): { name: string; template: Template; bytes: number }[] {
  const { app } = buildApp(parseConfig(fleetConfigYaml(count), `fleet-${count}.yaml`), { bundling: false, outdir });
  const assembly = app.synth();
  // Top-level stacks and the nested shard stacks, which the assembly holds as file assets.
  const files = readdirSync(assembly.directory).filter((file) => file.endsWith('.template.json'));
  return files.map((file) => {
    const path = join(assembly.directory, file);
    return { name: file, template: JSON.parse(readFileSync(path, 'utf8')) as Template, bytes: statSync(path).size };
  });
}

const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
/** IAM counts policy size without whitespace; the unresolved token JSON overstates it, which is the safe side. */
const policyCharacters = (document: unknown) => JSON.stringify(document).replace(/\s/g, '').length;

describe('a 500-database fleet', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'strongbox-fleet-'));
  let fleet: ReturnType<typeof synthFleet>;
  let small: ReturnType<typeof synthFleet>;

  beforeAll(() => {
    // Prepare: the real synth (cdk-nag included), without bundling.
    fleet = synthFleet(500, join(outdir, '500'));
    small = synthFleet(4, join(outdir, '4'));
  }, 600_000);
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const resourcesOf = (type: string) =>
    fleet.flatMap(({ template }) => Object.entries(template.Resources).filter(([, r]) => r.Type === type));
  const shards = () => fleet.filter(({ name }) => name.includes('Databases'));
  const roleStatements = (template: Template, roleLogicalId: string): Statement[] =>
    Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties?.Roles).includes(`"${roleLogicalId}"`))
      .flatMap((r) => (r.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement);

  it('keeps every template under 450 resources and 800 KB, with no parameters or outputs to grow', () => {
    // Act
    const figures = fleet.map(({ name, template, bytes }) => ({
      name,
      resources: Object.keys(template.Resources).length,
      bytes,
      parameters: Object.keys(template.Parameters ?? {}).filter((p) => p !== 'BootstrapVersion').length,
      outputs: Object.keys(template.Outputs ?? {}).length,
    }));

    // Assess
    expect(shards()).toHaveLength(32);
    for (const figure of figures) {
      expect(figure.resources, figure.name).toBeLessThan(FLEET_LIMITS.resourcesPerStack);
      expect(figure.bytes, figure.name).toBeLessThan(FLEET_LIMITS.templateBytes);
      expect(figure.parameters, figure.name).toBe(0);
      expect(figure.outputs, figure.name).toBe(0);
    }
  });

  it('keeps every role policy within IAM, every function environment within 4 KB, and the dashboard within CloudWatch', () => {
    // Act
    const byRole = new Map<string, number>();
    for (const { name, template } of fleet) {
      for (const r of Object.values(template.Resources).filter((r) => r.Type === 'AWS::IAM::Policy')) {
        for (const role of list(r.Properties?.Roles as unknown[])) {
          const key = `${name}:${JSON.stringify(role)}`;
          byRole.set(key, (byRole.get(key) ?? 0) + policyCharacters(r.Properties?.PolicyDocument));
        }
      }
    }
    const environments = resourcesOf('AWS::Lambda::Function').map(([, r]) => JSON.stringify(r.Properties?.Environment ?? {}).length);
    const [[, dashboard]] = resourcesOf('AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties?.DashboardBody);

    // Assess
    expect(Math.max(...byRole.values())).toBeLessThan(AWS_LIMITS.rolePolicyCharacters);
    expect(Math.max(...environments)).toBeLessThan(AWS_LIMITS.lambdaEnvironmentBytes);
    expect((body.match(/\\"type\\":/g) ?? []).length).toBeLessThan(AWS_LIMITS.dashboardWidgets);
  });

  it('has state machine definitions of the same size as a 4-database fleet', () => {
    // Act
    const sizes = (templates: ReturnType<typeof synthFleet>) =>
      templates
        .flatMap(({ template }) => Object.values(template.Resources))
        .filter((r) => r.Type === 'AWS::StepFunctions::StateMachine')
        .map((r) => [String((r.Properties?.StateMachineName as string) ?? ''), JSON.stringify(r.Properties?.DefinitionString).length])
        .sort();

    // Assess
    expect(sizes(fleet)).toEqual(sizes(small));
    // Backup, restore and drill (the generated fleet has no DR plans).
    expect(sizes(fleet)).toHaveLength(3);
  });

  it.each([['db-0000'], ['db-0257'], ['db-0498']])(
    'lets %s dump only under its own prefix and read only its own secret, and restore it without writing a backup',
    (database) => {
      // Prepare
      const shard = shards().find(({ template }) => JSON.stringify(template).includes(`"${database}"`));
      expect(shard).toBeDefined();
      const template = shard!.template;
      const id = database.replace(/-/g, '');
      const roleId = (kind: string) =>
        Object.keys(template.Resources).find(
          (k) => k.startsWith(`DumpTask${id}${kind}`) && template.Resources[k].Type === 'AWS::IAM::Role',
        )!;

      // Act
      const dump = roleStatements(template, roleId('TaskRole'));
      const restore = roleStatements(template, roleId('RestoreRole'));
      const text = (statements: Statement[]) => JSON.stringify(statements);
      const s3 = (statements: Statement[]) => statements.filter((s) => list(s.Action).some((a) => a.startsWith('s3:')));

      // Assess: the dump role writes under backups/<database>/ only, reads nothing, and knows one secret.
      expect(
        s3(dump)
          .flatMap((s) => list(s.Action))
          .sort(),
      ).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
      expect(text(s3(dump))).toContain(`/backups/${database}/*`);
      expect(text(s3(dump)).match(/\/backups\/[^"*]*/g)).toEqual([`/backups/${database}/`]);
      const secrets = dump.filter((s) => list(s.Action).includes('secretsmanager:GetSecretValue'));
      expect(text(secrets).match(/secret:strongbox\/db-\d{4}/g)).toEqual([`secret:strongbox/${database}`]);
      // The restore role reads its own prefix and may write nothing but a backup's drill.json.
      const writes = s3(restore).filter((s) => list(s.Action).some((a) => /Put|Delete|Abort/.test(a)));
      expect(writes.flatMap((s) => list(s.Action))).toEqual(['s3:PutObject']);
      expect(text(writes)).toContain(`/backups/${database}/*/drill.json`);
      expect(
        text(s3(restore))
          .match(/\/backups\/[^"*]*/g)
          ?.every((prefix) => prefix === `/backups/${database}/`),
      ).toBe(true);
    },
  );

  it('lets retention delete and tag but read no object body except verification.json', () => {
    // Prepare
    const primary = fleet.find(({ name }) => name === 'strongbox-primary.template.json')!.template;
    const retainRole = Object.entries(primary.Resources).find(
      ([k, r]) => r.Type === 'AWS::IAM::Role' && k.startsWith('BackupRetainFunctionServiceRole'),
    )![0];

    // Act
    const reads = roleStatements(primary, retainRole).filter((s) => list(s.Action).includes('s3:GetObject'));

    // Assess
    expect(reads).toHaveLength(1);
    expect(JSON.stringify(reads[0].Resource)).toMatch(/\/backups\/\*\/verification\.json"\]\]\}$/);
  });

  it('counts the same figures validate checks: 32 shards and a raised IAM roles quota', () => {
    // Act
    const report = checkFleetLimits(parseConfig(fleetConfigYaml(500), 'fleet.yaml'));

    // Assess
    expect(report.problems).toEqual([]);
    expect(report.figures).toMatchObject({ databases: 500, shards: 32 });
    expect(report.warnings[0]).toContain('the default quota is 1000 roles per account');
  });
});
