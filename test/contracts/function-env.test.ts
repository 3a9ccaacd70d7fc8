import { afterEach, describe, expect, it } from 'vitest';
import {
  DrillPrepareEnvSchema,
  DrillReportEnvSchema,
  DrPlanEnvSchema,
  FUNCTION_ENV,
  type FunctionEnvSchema,
  GuardEnvSchema,
  InvalidEnvironmentError,
  MissingEnvironmentError,
  NotifyEnvSchema,
  PrepareEnvSchema,
  parseFunctionEnv,
  ReleaseLockEnvSchema,
  ReplicateEnvSchema,
  ResolveEnvSchema,
  RestoreNotifyEnvSchema,
  RetainEnvSchema,
  restoreRoleArn,
  ValidateEnvSchema,
  VerifyEnvSchema,
  WatchdogEnvSchema,
} from '../../contracts/function-env';
import { loadConfig } from '../../infra/config/load';
import { synthesize } from '../../local/synth';

const SCHEMAS: Record<string, FunctionEnvSchema<unknown>> = {
  'lambdas/backup/prepare/handler.ts': PrepareEnvSchema,
  'lambdas/backup/verify/handler.ts': VerifyEnvSchema,
  'lambdas/backup/replicate/handler.ts': ReplicateEnvSchema,
  'lambdas/backup/retain/handler.ts': RetainEnvSchema,
  'lambdas/backup/notify/handler.ts': NotifyEnvSchema,
  'lambdas/backup/release-lock/handler.ts': ReleaseLockEnvSchema,
  'lambdas/restore/resolve/handler.ts': ResolveEnvSchema,
  'lambdas/restore/guard/handler.ts': GuardEnvSchema,
  'lambdas/restore/validate/handler.ts': ValidateEnvSchema,
  'lambdas/restore/notify/handler.ts': RestoreNotifyEnvSchema,
  'lambdas/drill/prepare/handler.ts': DrillPrepareEnvSchema,
  'lambdas/drill/report/handler.ts': DrillReportEnvSchema,
  'lambdas/dr-plan/handler.ts': DrPlanEnvSchema,
  'lambdas/watchdog/handler.ts': WatchdogEnvSchema,
};

/** Set by the Lambda runtime (AWS_REGION) or only by the local runtime (STRONGBOX_OBJECT_LOCK), never by a construct. */
const NOT_FROM_CONSTRUCTS = new Set(['AWS_REGION', 'STRONGBOX_OBJECT_LOCK']);

/**
 * Set only when the construct is given the topic: the app leaves paging to the composite alarms
 * (infra/stacks/primary-stack.ts), so Notify has no pager topic there.
 */
const SET_WHEN_GIVEN = new Set(['STRONGBOX_PAGER_TOPIC_ARN']);

const CHAT = 'arn:aws:sns:eu-west-1:123456789012:chat';

describe('function env schemas', () => {
  it('list exactly the variables each function construct sets, for all 14 functions of the synthesized app', () => {
    // Prepare
    const app = synthesize(loadConfig('strongbox.config.yaml'));
    const functions = [...new Map([...app.functions.values()].map((fn) => [fn.handlerModule, fn])).values()];

    // Act
    const compared = functions.map((fn) => ({
      module: fn.handlerModule,
      set: Object.keys(fn.environment)
        .filter((name) => !name.startsWith('POWERTOOLS_'))
        .sort(),
      listed: (SCHEMAS[fn.handlerModule]?.names ?? []).filter((name) => !NOT_FROM_CONSTRUCTS.has(name) && !SET_WHEN_GIVEN.has(name)).sort(),
    }));

    // Assess
    expect(compared.map((c) => c.module).sort()).toEqual(Object.keys(SCHEMAS).sort());
    for (const { module, set, listed } of compared) {
      expect({ module, names: set }).toEqual({ module, names: listed });
    }
  });

  it('turn the variables into typed settings under their short names', () => {
    // Prepare
    const source = {
      STRONGBOX_VAULT_BUCKET: 'vault',
      STRONGBOX_CHAT_TOPIC_ARN: CHAT,
      STRONGBOX_PAGE_ON_IMPORTANT: 'true',
      AWS_REGION: 'eu-west-1',
      UNRELATED: 'x',
    };

    // Act
    const env = parseFunctionEnv(NotifyEnvSchema, source);

    // Assess
    expect(env).toEqual({
      vaultBucket: 'vault',
      chatTopicArn: CHAT,
      pagerTopicArn: undefined,
      pageOnImportant: 'true',
      region: 'eu-west-1',
    });
  });

  it('name every missing (or empty) variable in a MissingEnvironmentError', () => {
    // Prepare
    const source = { STRONGBOX_VAULT_BUCKET: 'vault', STRONGBOX_REPLICA_BUCKET: '' };

    // Act
    const attempt = () => parseFunctionEnv(ReplicateEnvSchema, source);

    // Assess
    expect(attempt).toThrow(MissingEnvironmentError);
    expect(attempt).toThrow(
      'STRONGBOX_REPLICA_BUCKET, STRONGBOX_REPLICA_REGION, STRONGBOX_REPLICA_KMS_KEY is not set: the function was deployed without it',
    );
  });

  it('name a malformed variable, what was found and what is expected', () => {
    // Prepare
    const source = { STRONGBOX_VAULT_BUCKET: 'vault', STRONGBOX_REPLICA_BUCKET: 'replica', STRONGBOX_REPLICA_REGION: 'Frankfurt' };

    // Act
    const attempt = () => parseFunctionEnv(RetainEnvSchema, source);

    // Assess
    expect(attempt).toThrow(InvalidEnvironmentError);
    expect(attempt).toThrow(
      'Invalid function environment:\nSTRONGBOX_REPLICA_REGION: found "Frankfurt"; expected an AWS region code such as "eu-west-1"',
    );
  });

  it('accept the local runtime\'s "off" for Object Lock and refuse anything else there', () => {
    // Prepare
    const base = { STRONGBOX_VAULT_BUCKET: 'vault', STRONGBOX_REPLICA_BUCKET: 'replica', STRONGBOX_REPLICA_REGION: 'eu-central-1' };

    // Act
    const off = parseFunctionEnv(RetainEnvSchema, { ...base, STRONGBOX_OBJECT_LOCK: 'off' });
    const other = () => parseFunctionEnv(RetainEnvSchema, { ...base, STRONGBOX_OBJECT_LOCK: 'no' });

    // Assess
    expect(off.objectLock).toBe('off');
    expect(other).toThrow('STRONGBOX_OBJECT_LOCK: found "no"; expected "off" (or leave the variable unset)');
  });
});

const saved = { ...process.env };

describe('restoreRoleArn', () => {
  afterEach(() => {
    process.env = { ...saved };
  });

  it('fills the database into the role ARN template, whatever the fleet size', () => {
    // Prepare
    process.env[FUNCTION_ENV.restoreRoleArnTemplate] = 'arn:aws:iam::123456789012:role/strongbox/sb/restore/sb.{database}';
    process.env[FUNCTION_ENV.restoreRoles] = JSON.stringify({ orders: 'arn:aws:iam::123456789012:role/from-the-map' });

    // Act
    const arns = [restoreRoleArn('orders'), restoreRoleArn('db-0499')];

    // Assess
    expect(arns).toEqual([
      'arn:aws:iam::123456789012:role/strongbox/sb/restore/sb.orders',
      'arn:aws:iam::123456789012:role/strongbox/sb/restore/sb.db-0499',
    ]);
  });

  it('falls back to the STRONGBOX_RESTORE_ROLES map, and names a missing entry', () => {
    // Prepare
    delete process.env[FUNCTION_ENV.restoreRoleArnTemplate];
    process.env[FUNCTION_ENV.restoreRoles] = JSON.stringify({ orders: 'arn:aws:iam::123456789012:role/orders-restore' });

    // Act
    const found = restoreRoleArn('orders');
    const missing = () => restoreRoleArn('billing');

    // Assess
    expect(found).toBe('arn:aws:iam::123456789012:role/orders-restore');
    expect(missing).toThrow(MissingEnvironmentError);
    expect(missing).toThrow('STRONGBOX_RESTORE_ROLES entry for "billing" is not set');
  });
});
