import { describe, expect, it } from 'vitest';
import { TaskEnvError } from '../../../../contracts/task-env';
import { mintBackupId } from '../../../../contracts/vault';
import { chainDrillLsn } from '../../../../tasks/src/commands/drill-wal-chain';
import { manifestFor } from '../../../lambdas/fixtures';

describe('chainDrillLsn', () => {
  const dump = (engine: 'postgres' | 'mariadb', position?: { lsn?: string }) => {
    const manifest = manifestFor(mintBackupId('orders', 'full', new Date('2026-03-02T03:00:00Z')), Buffer.from('dump'), 12, { engine });
    return { ...manifest, ...(position && { position }) };
  };

  it('gives the LSN a PostgreSQL dump recorded, the target of the base recovery', () => {
    // Act
    const lsn = chainDrillLsn(dump('postgres', { lsn: '0/4001150' }));

    // Assess
    expect(lsn).toBe('0/4001150');
  });

  it.each([
    ['a PostgreSQL dump without an LSN', dump('postgres', {})],
    ['a MariaDB dump', dump('mariadb', { lsn: '0/4001150' })],
  ])('refuses %s in one line naming the variable and the fix', (_what, manifest) => {
    // Act
    const error = (() => {
      try {
        return chainDrillLsn(manifest);
      } catch (e) {
        return e;
      }
    })();

    // Assess
    expect(error).toBeInstanceOf(TaskEnvError);
    expect((error as Error).message).toBe(
      `STRONGBOX_RECOVERY_BASE_ID: set, but ${manifest.backupId} records no PostgreSQL LSN; the chain drill needs a PostgreSQL dump with its snapshot's LSN (unset STRONGBOX_RECOVERY_BASE_ID to drill the dump alone)`,
    );
  });
});
