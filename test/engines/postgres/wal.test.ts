import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startPostgres } from '../../../dev/servers/engines';
import { backupWalRange, receiveArgs, startBaseBackup, TarMembers, type WalServer, walServerProblems } from '../../../engines/postgres/wal';
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

describe('TarMembers', () => {
  it('picks the named members out of a tar however the stream is cut, and nothing else', () => {
    // Prepare: a real tar of three files, fed in chunks of every size from 1 byte to 1000
    const dir = mkdtempSync(join(tmpdir(), 'strongbox-tar-'));
    try {
      writeFileSync(join(dir, 'backup_label'), 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n');
      writeFileSync(join(dir, 'big'), Buffer.alloc(70_000, 7));
      writeFileSync(join(dir, 'backup_manifest'), '{"PostgreSQL-Backup-Manifest-Version": 1}\n');
      const tar = execFileSync('tar', ['-c', '-C', dir, 'backup_label', 'big', 'backup_manifest']);
      for (const size of [1, 7, 511, 512, 513, 1000, tar.length]) {
        const members = new TarMembers(new Set(['backup_label', 'backup_manifest']));

        // Act
        for (let at = 0; at < tar.length; at += size) {
          members.add(tar.subarray(at, at + size));
        }

        // Assess
        expect(members.get('backup_label')?.toString()).toMatch(/^START WAL LOCATION: 0\/2000028/);
        expect(members.get('backup_manifest')?.toString()).toBe('{"PostgreSQL-Backup-Manifest-Version": 1}\n');
        expect(members.get('big')).toBeUndefined();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("picks backup_manifest out of a real pg_basebackup tar cut at chunk sizes that split its members' headers and bodies", async () => {
    // Prepare: pg_basebackup's own tar (about a thousand members, backup_manifest appended last), and tar's reading of it
    const server = await startPostgres();
    let tar: Buffer;
    try {
      const tool = startBaseBackup(connectionTo(server, 'postgres'));
      const parts: Buffer[] = [];
      tool.child.stdout?.on('data', (chunk: Buffer) => parts.push(chunk));
      await tool.succeeded();
      tar = Buffer.concat(parts);
    } finally {
      await server.stop();
    }
    const expected = execFileSync('tar', ['-xO', '-f', '-', 'backup_manifest'], { input: tar, maxBuffer: 64 * 1024 * 1024 });
    for (const size of [511, 4097, 33_687, 65_535]) {
      const members = new TarMembers(new Set(['backup_manifest']));

      // Act
      for (let at = 0; at < tar.length; at += size) {
        members.add(tar.subarray(at, at + size));
      }

      // Assess
      expect(members.get('backup_manifest')?.equals(expected)).toBe(true);
      expect(backupWalRange(expected.toString('utf8')).stopLsn).toBeGreaterThan(0n);
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
