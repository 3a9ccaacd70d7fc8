import { afterEach, describe, expect, it } from 'vitest';
import { FUNCTION_ENV, MissingEnvironmentError, restoreRoleArn } from '../../contracts/function-env';

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
