import { describe, expect, it } from 'vitest';
import { FARGATE_EPHEMERAL_STORAGE_GIB, RECOVERY_WAL_GIB, recoveryDiskBytes, recoveryDiskRefusal } from '../../contracts/recovery';

const GIB = 1024 ** 3;

describe('recoveryDiskBytes', () => {
  it('counts the cluster, the WAL budget and headroom, and the archive only when the delivery needs a file', () => {
    // Act
    const streamed = recoveryDiskBytes(10 * GIB, { file: false });
    const selective = recoveryDiskBytes(10 * GIB, { file: true, databaseBytes: 6 * GIB });
    // Assess
    expect(streamed).toBe(Math.ceil((10 + RECOVERY_WAL_GIB) * GIB * 1.1));
    expect(selective).toBe(Math.ceil((16 + RECOVERY_WAL_GIB) * GIB * 1.1));
  });
});

describe('recoveryDiskRefusal', () => {
  it('lets a cluster that fits through', () => {
    // Act
    const refusal = recoveryDiskRefusal({ database: 'orders', clusterBytes: 50 * GIB, file: false, ephemeralGiB: 100 });
    // Assess
    expect(refusal).toBeUndefined();
  });

  it('names the sizes and asks for more storage when Fargate allows it', () => {
    // Act
    const refusal = recoveryDiskRefusal({ database: 'orders', clusterBytes: 120 * GIB, file: false, ephemeralGiB: 100 });
    // Assess
    expect(refusal).toBe(
      'a point-in-time recovery of "orders" needs about 136.4 GiB of task disk (cluster 120.0 GiB at its base backup, 4 GiB of WAL and 10% headroom) but the restore task has 100 GiB; raise the restore task\'s ephemeral storage to at least 137 GiB (Fargate allows up to 200 GiB)',
    );
  });

  it('points to a logical backup when even the Fargate ceiling is too small', () => {
    // Act
    const refusal = recoveryDiskRefusal({
      database: 'orders',
      clusterBytes: 150 * GIB,
      databaseBytes: 100 * GIB,
      file: true,
      ephemeralGiB: 200,
    });
    // Assess
    expect(FARGATE_EPHEMERAL_STORAGE_GIB).toEqual({ default: 20, min: 21, max: 200 });
    expect(refusal).toContain('plus the pg_dump archive a selective or parallel delivery writes');
    expect(refusal).toMatch(/exceeds Fargate's 200 GiB ephemeral-storage ceiling, so restore a logical backup/);
  });
});
