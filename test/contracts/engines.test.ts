import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { DATABASE_NAME, DEFAULT_PORTS, ENGINES, REDIS_MODES, RESTORE_RULES, TLS_MODES } from '../../contracts/engines';
import { PrepareResultSchema } from '../../contracts/payloads/backup';
import { DrillPreparedSchema } from '../../contracts/payloads/drill';
import { ResolvedRestoreSchema } from '../../contracts/payloads/restore';
import { DatabasePlanSchema } from '../../contracts/plan';
import { TASK_ENV, TaskEnvSchema } from '../../contracts/task-env';
import { DatabaseNameSchema, ManifestSchema, parseBackupId } from '../../contracts/vault';
import { DatabaseSchema } from '../../infra/config/schema';

/** The values of a z.enum, through whatever optional/default wrappers sit around it. */
function enumValues(schema: z.ZodType): readonly string[] {
  let current = schema as unknown as { options?: readonly string[]; unwrap?: () => unknown; def?: { innerType?: unknown } };
  for (let depth = 0; depth < 5 && !current.options; depth++) {
    current = (current.def?.innerType ?? current.unwrap?.()) as typeof current;
  }
  return current.options ?? [];
}

describe('contracts/engines.ts', () => {
  it('is the engine list of the config, the plan, the manifest, the task environment and every payload', () => {
    // Prepare
    const [ready] = PrepareResultSchema.options;

    // Act
    const lists = {
      config: enumValues(DatabaseSchema.shape.engine),
      plan: enumValues(DatabasePlanSchema.shape.engine),
      manifest: enumValues(ManifestSchema.shape.engine.shape.name),
      taskEnv: enumValues(TaskEnvSchema.shape[TASK_ENV.engine]),
      prepare: enumValues(ready.shape.engine),
      resolved: enumValues(ResolvedRestoreSchema.shape.engine),
      drill: enumValues(DrillPreparedSchema.shape.engine),
    };

    // Assess
    for (const [where, values] of Object.entries(lists)) {
      expect({ where, values }).toEqual({ where, values: [...ENGINES] });
    }
    expect(Object.keys(DEFAULT_PORTS).sort()).toEqual([...ENGINES].sort());
  });

  it('is the TLS and Redis mode list of the config, the plan and the task environment', () => {
    // Prepare
    const config = DatabaseSchema.shape;

    // Act
    const tls = [
      enumValues(config.connection.shape.tls),
      enumValues(DatabasePlanSchema.shape.connection.shape.tls),
      enumValues(TaskEnvSchema.shape[TASK_ENV.tls]),
      enumValues(ResolvedRestoreSchema.shape.target.shape.tls),
    ];
    const redis = [enumValues(DatabasePlanSchema.shape.redisMode), enumValues(TaskEnvSchema.shape[TASK_ENV.redisMode])];

    // Assess
    expect(tls).toEqual(Array(4).fill([...TLS_MODES]));
    expect(redis).toEqual(Array(2).fill([...REDIS_MODES]));
  });

  it('gives the database name rule to the name schema and to the backupId', () => {
    // Prepare
    const names = ['orders', 'a', `a${'b'.repeat(39)}`, `a${'b'.repeat(40)}`, 'Orders', '1orders', 'or_ders'];

    // Act
    const byRule = names.map((name) => DATABASE_NAME.test(name));
    const bySchema = names.map((name) => DatabaseNameSchema.safeParse(name).success);
    const byBackupId = names.map((name) => {
      try {
        return parseBackupId(`${name}-20261121T030405Z-full`).database === name;
      } catch {
        return false;
      }
    });

    // Assess
    expect(byRule).toEqual([true, true, true, false, false, false, false]);
    expect(bySchema).toEqual(byRule);
    expect(byBackupId).toEqual(byRule);
  });

  it('gives every engine its restore rules, and the role and DEFINER options only to the engines whose backups have them', () => {
    // Act
    const withRoles = ENGINES.filter((engine) => RESTORE_RULES[engine].roles);
    const withDefiners = ENGINES.filter((engine) => RESTORE_RULES[engine].definers);
    const needingTarget = ENGINES.filter((engine) => RESTORE_RULES[engine].targetDatabase.rule === 'required');
    const globs = ENGINES.filter((engine) => RESTORE_RULES[engine].include.kind === 'glob');

    // Assess
    expect(Object.keys(RESTORE_RULES).sort()).toEqual([...ENGINES].sort());
    expect(withRoles).toEqual(['postgres']);
    expect(withDefiners).toEqual(['mysql', 'mariadb']);
    expect(needingTarget).toEqual(['postgres']);
    expect(globs).toEqual(['redis']);
    expect(RESTORE_RULES.postgres.identifierLimit).toEqual({ unit: 'bytes', max: 63 });
    expect(RESTORE_RULES.mariadb.identifierLimit).toEqual({ unit: 'characters', max: 64 });
  });
});
