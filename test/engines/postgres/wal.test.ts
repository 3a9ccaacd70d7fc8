import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startPostgres } from '../../../dev/servers/engines';
import { connect } from '../../../engines/postgres/connection';
import {
  BaseBackupManifestMissingError,
  backupFileBytes,
  backupWalRange,
  readBackupManifest,
  receiveArgs,
  startBaseBackup,
  type WalServer,
  walServerProblems,
} from '../../../engines/postgres/wal';
import { ToolFailedError } from '../../../engines/tools';
import { followFile } from '../../../tasks/src/stream/follow-file';
import { connectionTo } from '../../support/engine-vault';

const READY: WalServer = {
  serverVersion: '15.10',
  majorVersion: 15,
  walLevel: 'replica',
  maxWalSenders: 10,
  maxReplicationSlots: 10,
  maxSlotWalKeepSize: '-1',
  replication: true,
  inRecovery: false,
  segmentBytes: 16 * 1024 * 1024,
  timeline: 1,
};

describe('startBaseBackup', () => {
  it('writes a zstd tar that the follower reads whole while it grows, and backup_manifest as a file of its own', async () => {
    // Prepare
    const server = await startPostgres();
    const work = mkdtempSync(join(tmpdir(), 'strongbox-base-test-'));
    try {
      // Act
      const run = startBaseBackup(connectionTo(server, 'postgres'), { directory: join(work, 'base'), level: 3, workers: 2 });
      const parts: Buffer[] = [];
      const followed = followFile(run.archive, run.tool.exited, { chunkBytes: 64 * 1024 });
      followed.on('data', (chunk: Buffer) => parts.push(chunk));
      await Promise.all([run.tool.succeeded(), new Promise((resolve) => followed.on('end', resolve))]);
      const manifest = readBackupManifest(run);

      // Assess: what was followed is the whole archive, a zstd tar of the cluster; the manifest is PostgreSQL's
      const archive = readFileSync(run.archive);
      expect(Buffer.concat(parts).equals(archive)).toBe(true);
      const tar = execFileSync('zstd', ['-d', '-c', '-q'], { input: archive, maxBuffer: 256 * 1024 * 1024 });
      const listed = execFileSync('tar', ['-t', '-f', '-'], { input: tar, maxBuffer: 64 * 1024 * 1024 })
        .toString()
        .split('\n');
      expect(listed).toContain('PG_VERSION');
      expect(listed).toContain('backup_label');
      expect(backupWalRange(manifest.toString('utf8')).stopLsn).toBeGreaterThan(0n);
      const files = (JSON.parse(manifest.toString('utf8')) as { Files: { Size: number }[] }).Files;
      expect(backupFileBytes(manifest.toString('utf8'))).toBe(files.reduce((sum, file) => sum + file.Size, 0));
      expect(backupFileBytes(manifest.toString('utf8'))).toBeGreaterThan(1_000_000);
    } finally {
      rmSync(work, { recursive: true, force: true });
      await server.stop();
    }
  });

  it('fails as pg_basebackup when the server refuses it, and leaves no backup_manifest to read', async () => {
    // Prepare: a role that may log in but not replicate
    const server = await startPostgres();
    const work = mkdtempSync(join(tmpdir(), 'strongbox-base-test-'));
    try {
      const admin = await connect(connectionTo(server, 'postgres'));
      await admin.query("CREATE ROLE no_replication LOGIN PASSWORD 'pw'");
      await admin.end();

      // Act
      const run = startBaseBackup(
        { ...connectionTo(server, 'postgres'), username: 'no_replication', password: 'pw' },
        { directory: join(work, 'base'), level: 3, workers: 1 },
      );
      const error = await run.tool.succeeded().catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ToolFailedError);
      expect((error as ToolFailedError).tool).toBe('pg_basebackup');
      expect(() => readBackupManifest(run)).toThrow(BaseBackupManifestMissingError);
    } finally {
      rmSync(work, { recursive: true, force: true });
      await server.stop();
    }
  });
});

describe('backupWalRange', () => {
  it("reads the start, stop and timeline from PostgreSQL's WAL-Ranges", () => {
    // Act
    const range = backupWalRange('{"WAL-Ranges": [{"Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000138"}]}');

    // Assess
    expect(range).toEqual({ timeline: 1, startLsn: 0x2000028n, stopLsn: 0x2000138n });
  });

  it('says which server writes WAL-Ranges when the manifest has none', () => {
    expect(() => backupWalRange('{}')).toThrow(/PostgreSQL 13 or later/);
  });
});

describe('walServerProblems', () => {
  it('finds nothing on a ready server', () => {
    expect(walServerProblems(READY)).toEqual([]);
  });

  it('names each missing setting with its fix, then what the server needs', () => {
    // Act
    const problems = walServerProblems({ ...READY, walLevel: 'minimal', replication: false, maxWalSenders: 0, maxReplicationSlots: 0 });

    // Assess
    expect(problems.slice(0, 4)).toEqual([
      'wal_level is minimal: set wal_level=replica and restart the server',
      'the role has no REPLICATION attribute: ALTER ROLE <user> REPLICATION',
      'max_wal_senders is 0: set it to at least 2 and restart the server',
      'max_replication_slots is 0: set it to at least 1 and restart the server',
    ]);
    expect(problems.at(-1)).toMatch(/max_slot_wal_keep_size/);
  });
});

describe('receiveArgs', () => {
  it('stops one byte before the end (pg_receivewal stops past --endpos), holds no password and no slot', () => {
    // Act
    const args = receiveArgs(
      { host: 'db.internal', port: 5432, username: 'strongbox', password: 'hunter2', tls: 'require' },
      { from: { file: '000000010000000000000002', position: 0 }, endLsn: 0x2000100n, directory: '/tmp/w', segmentBytes: 16 * 1024 * 1024 },
    );

    // Assess
    expect(args).toContain('--endpos=0/20000FF');
    expect(args.join(' ')).not.toContain('hunter2');
    expect(args.join(' ')).not.toContain('--slot');
  });
});
