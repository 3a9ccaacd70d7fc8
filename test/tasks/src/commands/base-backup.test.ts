import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restorableRanges, type SegmentManifest, SegmentManifestSchema } from '../../../../contracts/logs';
import { classifySegmentKey } from '../../../../contracts/vault';
import { getJson, listObjects } from '../../../../contracts/vault-io';
import { BaseBackupManifestSchema, baseKeys, parseLsn, walSlotName } from '../../../../contracts/wal';
import { type EngineServer, startPostgres } from '../../../../dev/servers/engines';
import type { LocalS3 } from '../../../../dev/servers/s3rver';
import { PG_BIN } from '../../../../engines/postgres/bin';
import { connect } from '../../../../engines/postgres/connection';
import { readSlot } from '../../../../engines/postgres/wal';
import { archiveWal } from '../../../../tasks/src/commands/archive-wal';
import { connectionTo, type EngineVault, objectBytes, startEngineVault } from '../../../support/engine-vault';
import { runTask, vaultTaskEnv } from '../../run-task';

const BUCKET = 'vault';
const DB = 'orders';

describe('base-backup on PostgreSQL 15 into the local vault', () => {
  let vault: EngineVault;
  let server: EngineServer;
  let s3rver: LocalS3;
  let s3: S3Client;
  let pg: Client;
  let work: string;
  const connection = () => connectionTo(server, 'postgres');
  const archive = () => archiveWal({ s3, bucket: BUCKET, database: DB, connection: connection(), compressionLevel: 3, workDir: work });
  const taskEnv = (extra: Record<string, string> = {}) => vaultTaskEnv(server, s3rver.endpoint, BUCKET, 'base-backup', DB, extra);

  beforeAll(async () => {
    vault = await startEngineVault(startPostgres, BUCKET, 'strongbox-base-test-');
    ({ server, s3rver, s3, work } = vault);
    pg = await connect(connection());
    await pg.query('SET synchronous_commit = on');
    await pg.query('CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g');
  });

  afterAll(async () => {
    await pg?.end();
    await vault?.stop();
  });

  it('stores the tar, PostgreSQL backup_manifest and a manifest whose WAL the archive holds: pg_verifybackup passes on it', async () => {
    // Prepare: the slot exists and archiving runs; writes continue while the base is taken
    await archive();
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing; i += 1) {
        await pg.query('INSERT INTO t VALUES ($1, $2)', [100000 + i, 'during']);
      }
    })();

    // Act
    const task = await runTask(taskEnv());
    writing = false;
    await writes;
    await pg.query("INSERT INTO t VALUES (999999, 'after')");
    await archive();

    // Assess
    expect(task.stderr).toBe('');
    expect(task.code).toBe(0);
    expect(task.stdout).not.toContain(server.password);
    const baseId = task.result.baseId as string;
    const manifest = (await getJson(s3, BUCKET, baseKeys.manifest(baseId), BaseBackupManifestSchema))?.value;
    expect(manifest?.engine.majorVersion).toBe(15);
    expect(manifest?.timeline).toBe(1);
    expect(manifest?.slot).toBe(walSlotName(DB));
    expect(parseLsn(manifest?.stopLsn as string)).toBeGreaterThan(parseLsn(manifest?.startLsn as string));
    expect(manifest?.tool.args).toEqual(expect.arrayContaining(['-Ft', '-X', 'none']));
    expect(manifest?.tool.args.join(' ')).not.toContain(server.password);
    const tar = await objectBytes(s3, BUCKET, manifest?.artifact.key as string);
    expect(createHash('sha256').update(tar).digest('hex')).toBe(manifest?.artifact.sha256);
    const backupManifest = await objectBytes(s3, BUCKET, baseKeys.backupManifest(baseId));
    expect(createHash('sha256').update(backupManifest).digest('hex')).toBe(manifest?.backupManifest.sha256);

    // The stock tools: extract the tar, lay out the archived WAL files (per file the copy reaching furthest), verify.
    const data = join(work, 'extracted');
    const wal = join(work, 'wal');
    mkdirSync(data, { mode: 0o700 });
    mkdirSync(wal);
    writeFileSync(join(work, 'base.tar.zst'), tar);
    execFileSync('bash', ['-c', `zstd -d -q -c '${join(work, 'base.tar.zst')}' | tar -x -C '${data}'`]);
    const segments: SegmentManifest[] = [];
    for await (const object of listObjects(s3, BUCKET, `logs/${DB}/`)) {
      if (classifySegmentKey(object.key)?.file === 'manifest.json') {
        segments.push((await getJson(s3, BUCKET, object.key, SegmentManifestSchema))?.value as SegmentManifest);
      }
    }
    const best = new Map<string, SegmentManifest>();
    for (const segment of segments) {
      const held = best.get(segment.serverFile);
      if (!held || segment.endPosition > held.endPosition) {
        best.set(segment.serverFile, segment);
      }
    }
    for (const [file, segment] of best) {
      writeFileSync(join(work, 'segment.zst'), await objectBytes(s3, BUCKET, segment.artifact.key));
      execFileSync('zstd', ['-d', '-q', '-f', join(work, 'segment.zst'), '-o', join(wal, file)]);
    }
    writeFileSync(join(work, 'backup_manifest.stored'), backupManifest);
    const verified = execFileSync(join(PG_BIN, 'pg_verifybackup'), ['-w', wal, '-m', join(work, 'backup_manifest.stored'), data], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
    expect(verified).toMatch(/backup successfully verified/);
    const ranges = restorableRanges({
      fulls: [{ backupId: baseId, at: new Date(manifest?.finishedAt as string), position: manifest?.start }],
      segments,
      windowStart: new Date(0),
    });
    expect(ranges).toHaveLength(1);
    expect(Date.parse(ranges[0].to)).toBeGreaterThanOrEqual(Math.floor(Date.parse(manifest?.finishedAt as string) / 1000) * 1000);
  });

  it('creates the slot before the backup, so its WAL is kept even when no archiving run came first', async () => {
    // Prepare
    await pg.query(
      `SELECT pg_drop_replication_slot('${walSlotName('fresh')}') FROM pg_replication_slots WHERE slot_name = '${walSlotName('fresh')}'`,
    );

    // Act
    const task = await runTask(taskEnv({ STRONGBOX_DATABASE: 'fresh' }));

    // Assess
    expect(task.code).toBe(0);
    const slot = await readSlot(pg, walSlotName('fresh'));
    expect(slot.exists).toBe(true);
    expect(slot.restartLsn).toBeLessThanOrEqual(parseLsn(task.result.startLsn as string));
    await pg.query(`SELECT pg_drop_replication_slot('${walSlotName('fresh')}')`);
  });

  it('exits 2 naming the engine when the database is not PostgreSQL', async () => {
    // Act
    const task = await runTask(taskEnv({ STRONGBOX_ENGINE: 'redis' }));

    // Assess
    expect(task.code).toBe(2);
    expect(task.stderr).toBe("strongbox: STRONGBOX_ENGINE: base-backup is PostgreSQL's physical backup, not redis; use backup\n");
  });
});
