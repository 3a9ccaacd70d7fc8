import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintBackupId } from '../../../../contracts/vault';
import { parseLsn, walCoordinates } from '../../../../contracts/wal';
import { type EngineServer, startPostgres } from '../../../../dev/servers/engines';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { connect } from '../../../../engines/postgres/connection';
import { archiveWal } from '../../../../tasks/src/commands/archive-wal';
import { walSegments } from '../../../../tasks/src/commands/recover-postgres';
import { baseEnv, runTask } from '../../run-task';

/**
 * Point-in-time restore and the chain drill through the task entrypoint, on real PostgreSQL 15 servers and s3rver:
 * the base and WAL come from the sibling commands (base-backup, archiveWal), the restore lands in a new database of
 * another server, exact to the row, one second before a destructive DELETE and at an LSN; the chain drill agrees
 * with a logical dump to the row, and fails once one WAL file in the vault is changed.
 */
const BUCKET = 'vault';
const DB = 'orders';

describe('point-in-time restore of PostgreSQL from the vault', () => {
  let source: EngineServer;
  let target: EngineServer;
  let s3rver: LocalS3;
  let s3: S3Client;
  let pg: Client;
  let work: string;
  let baseId: string;
  let backupId: string;
  let expected: number;
  let beforeDelete: { at: string; lsn: string };
  const sourceConnection = () => ({
    host: source.host,
    port: source.port,
    username: source.username,
    password: source.password,
    database: 'postgres',
    tls: 'disable' as const,
  });
  const archive = () =>
    archiveWal({ s3, bucket: BUCKET, database: DB, connection: sourceConnection(), compressionLevel: 3, workDir: work });
  const taskEnv = (extra: Record<string, string>) => ({
    ...baseEnv(),
    ...source.taskEnv(),
    STRONGBOX_DATABASE: DB,
    STRONGBOX_VAULT_BUCKET: BUCKET,
    STRONGBOX_S3_ENDPOINT: s3rver.endpoint,
    STRONGBOX_PROGRESS_INTERVAL_SECONDS: '60',
    ...extra,
  });
  const restoreInto = (database: string, stop: Record<string, string>) =>
    runTask(
      taskEnv({
        STRONGBOX_COMMAND: 'restore',
        STRONGBOX_RECOVERY_BASE_ID: baseId,
        STRONGBOX_TARGET_HOST: '127.0.0.1',
        STRONGBOX_TARGET_PORT: String(target.port),
        STRONGBOX_TARGET_NAME: database,
        // The target's login: the task reads it as the source's when no target secret is given.
        STRONGBOX_DB_PASSWORD: target.password,
        ...stop,
      }),
    );
  const countIn = async (database: string) => {
    const client = new Client({ host: '127.0.0.1', port: target.port, user: target.username, password: target.password, database });
    await client.connect();
    try {
      const out = await client.query<{ n: string; max: number }>('SELECT count(*) AS n, max(id) AS max FROM public.ledger');
      return { n: Number(out.rows[0].n), max: Number(out.rows[0].max) };
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    [source, target, s3rver] = await Promise.all([startPostgres(), startPostgres(), startS3rver([BUCKET])]);
    s3 = s3rver.client();
    work = mkdtempSync(join(tmpdir(), 'strongbox-pitr-test-'));
    pg = await connect(sourceConnection());
    await pg.query('SET synchronous_commit = on');
    await pg.query('CREATE TABLE public.ledger (id serial PRIMARY KEY, note text NOT NULL)');
    await pg.query("INSERT INTO public.ledger (note) SELECT 'before ' || g FROM generate_series(1, 500) g");
    await archive();
    let writing = true;
    let during = 0;
    const writes = (async () => {
      while (writing) {
        await pg.query("INSERT INTO public.ledger (note) VALUES ('during')");
        during += 1;
      }
    })();
    const base = await runTask(taskEnv({ STRONGBOX_COMMAND: 'base-backup' }));
    writing = false;
    await writes;
    expect(base.code, base.stderr).toBe(0);
    baseId = base.result.baseId as string;
    await pg.query("INSERT INTO public.ledger (note) SELECT 'after ' || g FROM generate_series(1, 250) g");
    expected = 500 + during + 250;
    backupId = mintBackupId(DB, 'full', new Date());
    const dump = await runTask(taskEnv({ STRONGBOX_COMMAND: 'backup', STRONGBOX_BACKUP_ID: backupId, STRONGBOX_DB_NAME: 'postgres' }));
    expect(dump.code, dump.stderr).toBe(0);
    const [mark] = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const deleted = await pg.query<{ at: Date }>("DELETE FROM public.ledger WHERE note LIKE 'before%' RETURNING now() AS at");
    beforeDelete = { at: new Date(deleted.rows[0].at.getTime() - 1000).toISOString(), lsn: mark.lsn };
    await pg.query("INSERT INTO public.ledger (note) VALUES ('after the delete')");
    await pg.query('SELECT pg_switch_wal()');
    await archive();
  });

  afterAll(async () => {
    await pg?.end();
    await Promise.all([source?.stop(), target?.stop(), s3rver?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it('restores to one second before a destructive DELETE into a new database of another server, exact to the row', async () => {
    // Act
    const run = await restoreInto('recovered_time', { STRONGBOX_RECOVERY_TIME: beforeDelete.at });

    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain(source.password);
    expect(run.result).toMatchObject({ ok: true, baseId, target: { kind: 'time', at: beforeDelete.at } });
    expect(await countIn('recovered_time')).toEqual({ n: expected, max: expected });
  });

  it('restores to an LSN', async () => {
    // Act
    const run = await restoreInto('recovered_lsn', { STRONGBOX_RECOVERY_LSN: beforeDelete.lsn });

    // Assess
    expect(run.code, run.stderr).toBe(0);
    expect(await countIn('recovered_lsn')).toEqual({ n: expected, max: expected });
  });

  it('runs the chain drill: base + WAL to the dump’s LSN agree with the dump to the row, pg_verifybackup and pg_amcheck pass', async () => {
    // Act
    const run = await runTask(
      taskEnv({
        STRONGBOX_COMMAND: 'drill',
        STRONGBOX_BACKUP_ID: backupId,
        STRONGBOX_RECOVERY_BASE_ID: baseId,
        STRONGBOX_DB_NAME: 'postgres',
      }),
    );

    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.result).toMatchObject({ mode: 'wal-chain', passed: true });
    expect((run.result.checks as { name: string; passed: boolean }[]).map((c) => [c.name, c.passed])).toEqual([
      ['pg_verifybackup', true],
      ['recovery', true],
      ['pg_amcheck', true],
    ]);
  });

  it('fails the chain drill once one WAL file in the vault was changed', async () => {
    // Prepare: the file holding the LSN marked right after the dump, which the recovery to the dump's LSN must replay
    const segments = await walSegments(s3, BUCKET, DB);
    const file = walCoordinates(1, parseLsn(beforeDelete.lsn)).file;
    const segment = segments.get(file);
    expect(segment).toBeDefined();
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: segment?.artifact.key, Body: Buffer.from('tampered WAL') }));

    // Act
    const run = await runTask(
      taskEnv({
        STRONGBOX_COMMAND: 'drill',
        STRONGBOX_BACKUP_ID: backupId,
        STRONGBOX_RECOVERY_BASE_ID: baseId,
        STRONGBOX_DB_NAME: 'postgres',
      }),
    );

    // Assess
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`chain drill of ${baseId} against ${backupId} failed`);
    expect(run.stderr).toContain(file);
  });
});
