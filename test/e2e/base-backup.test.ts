import type { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson } from '../../contracts/vault-io';
import {
  BaseBackupManifestSchema,
  BaseVerificationSchema,
  baseKeys,
  classifyBaseKey,
  LatestBaseSchema,
  latestBaseKey,
} from '../../contracts/wal';
import { type EngineServer, startPostgres } from '../../dev/servers/engines';
import { connect } from '../../engines/postgres/connection';
import { connectionTo } from '../support/engine-vault';
import { type E2e, listKeys, startE2e } from './harness';

/**
 * The base-backup state machine on its synthesized definition, on the local runtime against a real PostgreSQL 15
 * (wal_level=replica): the task runs pg_basebackup into the local vault, and the real VerifyBase, ReplicateBase and
 * RetainBases follow; a base backup whose walsender is terminated fails the run without leaving a base.
 */

let pgServer: EngineServer;
let pg: Client;
let e2e: E2e;

beforeAll(async () => {
  pgServer = await startPostgres();
  pg = await connect(connectionTo(pgServer, 'postgres'));
  await pg.query('CREATE TABLE ledger AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 20000) g');
  e2e = await startE2e([
    {
      name: 'orders',
      server: pgServer,
      database: 'postgres',
      logs: '{ intervalMinutes: 5, windowDays: 7, baseBackup: { expression: "cron(0 2 * * ? *)" } }',
    },
  ]);
}, 240_000);

afterAll(async () => {
  await pg?.end();
  await e2e?.stop();
  await pgServer?.stop();
});

describe('base-backup state machine for PostgreSQL, end to end', () => {
  it('takes a verified base with its verification.json, the latest-base pointer and the replica copy, and releases the lock', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const { primary, replica } = e2e.strongbox.app.buckets;
    const machine = e2e.strongbox.stateMachine('bases');

    // Act
    const execution = await machine.execute({ database: 'orders', trigger: 'manual' });
    const baseIds = [...new Set((await listKeys(s3, primary, 'bases/orders/')).map((key) => classifyBaseKey(key)?.baseId))];
    const baseId = baseIds[0] as string;
    const manifest = (await getJson(s3, primary, baseKeys.manifest(baseId), BaseBackupManifestSchema))?.value;
    const verification = (await getJson(s3, primary, baseKeys.verification(baseId), BaseVerificationSchema))?.value;
    const pointer = (await getJson(s3, primary, latestBaseKey('orders'), LatestBaseSchema))?.value;
    const copied = await listKeys(s3, replica, `bases/orders/`);
    // No logical dump yet: only the verified base keeps the recovery point within the RPO.
    const watchdog = await e2e.strongbox.watchdog();

    // Assess
    expect(execution.status, execution.cause).toBe('SUCCEEDED');
    expect(execution.path).toEqual([
      'PrepareBase',
      'Skipped?',
      'BaseBackup',
      'VerifyBase',
      'ReplicateBase',
      'RetainBases',
      'ReleaseLock',
      'BaseBackedUp',
    ]);
    expect(baseIds).toHaveLength(1);
    expect(baseId).toMatch(/^orders-\d{8}T\d{6}Z-base$/);
    expect(manifest?.trigger).toBe('manual');
    expect(manifest?.artifact.bytes).toBeGreaterThan(0);
    expect(verification).toMatchObject({ baseId, passed: true, checks: { bytes: true, sha256: true, backupManifest: true } });
    expect(pointer).toMatchObject({ database: 'orders', baseId, finishedAt: manifest?.finishedAt, bytes: manifest?.artifact.bytes });
    expect(copied.sort()).toEqual(
      [baseKeys.artifact(baseId), baseKeys.backupManifest(baseId), baseKeys.verification(baseId), baseKeys.manifest(baseId)].sort(),
    );
    expect(watchdog).toEqual({ databases: 1, beyondRpo: [] });
    expect(await listKeys(s3, primary, 'locks/')).toEqual([]);
  });

  it('fails a base backup whose walsender is terminated: no manifest, a BackupFailed alert, the lock released', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const manifestsBefore = (await listKeys(s3, bucket, 'bases/orders/')).filter((key) => key.endsWith('/manifest.json'));
    const outboxBefore = e2e.strongbox.outbox.read().length;
    await pg.query('INSERT INTO ledger SELECT g, md5(g::text) FROM generate_series(20001, 40000) g');
    let terminated = 0;
    let running = true;
    const killer = (async () => {
      while (running && terminated === 0) {
        // pg_basebackup's walsender, as a failover or an administrator would end it.
        const result = await pg.query(
          "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE backend_type = 'walsender' AND pid <> pg_backend_pid()",
        );
        terminated += result.rows.filter((row) => row.done).length;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    // Act
    const execution = await e2e.strongbox.stateMachine('bases').execute({ database: 'orders', trigger: 'manual' });
    running = false;
    await killer;
    const manifestsAfter = (await listKeys(s3, bucket, 'bases/orders/')).filter((key) => key.endsWith('/manifest.json'));

    // Assess
    expect(terminated).toBeGreaterThan(0);
    expect(execution.status).toBe('FAILED');
    expect(execution.path).toEqual(['PrepareBase', 'Skipped?', 'BaseBackup', 'NotifyFailure', 'ReleaseLockAfterFailure', 'Failed']);
    expect(manifestsAfter).toEqual(manifestsBefore);
    expect(
      e2e.strongbox.outbox
        .read()
        .slice(outboxBefore)
        .map((m) => m.subject),
    ).toEqual(['Base backup failed: orders']);
    expect(await listKeys(s3, bucket, 'locks/')).toEqual([]);
  });
});
