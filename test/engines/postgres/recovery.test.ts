import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextWalFile } from '../../../contracts/wal';
import { type ArchivingPostgres, startArchivingPostgres } from '../../../dev/servers/postgres-archive';
import {
  directoryWalSource,
  type RecoveredServer,
  RecoveryFailedError,
  recoverPostgres,
  recoverySettings,
  WAL_FETCH_CONCURRENCY,
  WAL_READ_AHEAD_FILES,
  type WalSource,
} from '../../../engines/postgres/recovery';

/**
 * Recovery from stock-tool files (pg_basebackup's tar, archive_command copies) on a real PostgreSQL 15: rows written
 * before, during and after the base backup, then a destructive DELETE; the recovery must stop exactly before it,
 * by instant, by LSN and by restore point name.
 */
let source: ArchivingPostgres;
let work: string;
let base: string;
const counts = { before: 0, during: 0, after: 0 };
let beforeDelete: { at: string; lsn: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rows(server: RecoveredServer): Promise<{ n: number; max: number }> {
  const client = new Client({
    host: server.connection.host,
    port: server.connection.port,
    user: server.connection.username,
    database: 'postgres',
  });
  await client.connect();
  try {
    const out = await client.query<{ n: string; max: number | null }>('SELECT count(*) AS n, max(id) AS max FROM public.ledger');
    return { n: Number(out.rows[0].n), max: out.rows[0].max ?? 0 };
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'strongbox-recovery-test-'));
  source = await startArchivingPostgres();
  await source.query('CREATE TABLE public.ledger (id serial PRIMARY KEY, note text NOT NULL)');
  await source.query("INSERT INTO public.ledger (note) SELECT 'before ' || g FROM generate_series(1, 500) g");
  counts.before = 500;
  base = join(work, 'base.tar');
  // Rows keep arriving while pg_basebackup copies (a slow rate keeps it running for a few hundred ms at least).
  let copying = true;
  const backup = source.baseBackup(base, '20M').finally(() => {
    copying = false;
  });
  while (copying) {
    await source.query("INSERT INTO public.ledger (note) VALUES ('during')");
    counts.during += 1;
    await sleep(5);
  }
  await backup;
  await source.query("INSERT INTO public.ledger (note) SELECT 'after ' || g FROM generate_series(1, 250) g");
  counts.after = 250;
  await source.query("SELECT pg_create_restore_point('before-delete')");
  const [mark] = await source.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
  await sleep(1100);
  const [deleted] = await source.query<{ at: Date }>("DELETE FROM public.ledger WHERE note LIKE 'before%' RETURNING now() AS at");
  beforeDelete = { at: new Date(deleted.at.getTime() - 1000).toISOString(), lsn: mark.lsn };
  await source.query("INSERT INTO public.ledger (note) VALUES ('after the delete')");
  await source.archiveNow();
});

afterAll(async () => {
  await source?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('recoverPostgres', () => {
  it('recovers to one second before a destructive DELETE, exact to the row, with rows written during the base backup', async () => {
    // Prepare
    const expected = counts.before + counts.during + counts.after;
    // Act
    const server = await recoverPostgres({ base, wal: directoryWalSource(source.archive), target: { kind: 'time', at: beforeDelete.at } });
    try {
      // Assess
      expect(counts.during).toBeGreaterThan(0);
      expect(await rows(server)).toEqual({ n: expected, max: expected });
      expect(server.fetched.length).toBeGreaterThan(0);
      expect(server.connection.username).toBe('postgres');
    } finally {
      await server.stop();
    }
  });

  it('recovers to an LSN and to a named restore point, both before the DELETE', async () => {
    // Prepare
    const expected = counts.before + counts.during + counts.after;
    // Act
    const byLsn = await recoverPostgres({ base, wal: directoryWalSource(source.archive), target: { kind: 'lsn', lsn: beforeDelete.lsn } });
    const lsnRows = await rows(byLsn).finally(() => byLsn.stop());
    const byName = await recoverPostgres({
      base,
      wal: directoryWalSource(source.archive),
      target: { kind: 'name', name: 'before-delete' },
    });
    const nameRows = await rows(byName).finally(() => byName.stop());
    // Assess
    expect(lsnRows).toEqual({ n: expected, max: expected });
    expect(nameRows).toEqual({ n: expected, max: expected });
  });

  it('recovers to the end of the WAL offered: the DELETE and the row after it are there', async () => {
    // Act
    const server = await recoverPostgres({ base, wal: directoryWalSource(source.archive), target: { kind: 'end' } });
    try {
      // Assess
      const expected = counts.during + counts.after + 1;
      expect((await rows(server)).n).toBe(expected);
    } finally {
      await server.stop();
    }
  });

  it("reads ahead through the source's own file copy, a bounded number of files and fetches at a time", async () => {
    // Prepare: the directory source, watched
    const plain = directoryWalSource(source.archive);
    const copies: string[] = [];
    let streams = 0;
    let running = 0;
    let most = 0;
    const watched: WalSource = Object.assign(
      async (name: string) => {
        streams += 1;
        return plain(name);
      },
      {
        fetchTo: async (name: string, path: string) => {
          copies.push(name);
          running += 1;
          most = Math.max(most, running);
          try {
            return await (plain.fetchTo as NonNullable<WalSource['fetchTo']>)(name, path);
          } finally {
            running -= 1;
          }
        },
      },
    );
    // Act
    const server = await recoverPostgres({ base, wal: watched, target: { kind: 'end' } });
    try {
      // Assess
      const replayed = server.fetched.filter((name) => /^[0-9A-F]{24}$/.test(name)).sort();
      const newest = replayed.at(-1) as string;
      let furthest = newest;
      for (let i = 0; i < WAL_READ_AHEAD_FILES; i++) {
        furthest = nextWalFile(furthest);
      }
      expect(replayed.length).toBeGreaterThan(1);
      expect(streams).toBe(0);
      expect(most).toBeLessThanOrEqual(WAL_FETCH_CONCURRENCY);
      expect(copies).toEqual(expect.arrayContaining(replayed));
      expect(copies.filter((name) => /^[0-9A-F]{24}$/.test(name) && name > furthest)).toEqual([]);
      expect((await rows(server)).n).toBe(counts.during + counts.after + 1);
    } finally {
      await server.stop();
    }
  });

  it('fails with the segment named when the source cannot deliver a WAL file intact', async () => {
    // Prepare
    const archived = readdirSync(source.archive).filter((name) => /^[0-9A-F]{24}$/.test(name));
    const broken = archived.at(-1) as string;
    const plain = directoryWalSource(source.archive);
    const tampered = async (name: string) => {
      if (name === broken) {
        throw new Error('sha256 mismatch');
      }
      return plain(name);
    };
    // Act
    const attempt = recoverPostgres({ base, wal: tampered, target: { kind: 'time', at: beforeDelete.at } });
    // Assess
    await expect(attempt).rejects.toThrow(RecoveryFailedError);
    await expect(attempt).rejects.toThrow(`${broken}: sha256 mismatch`);
  });

  it('refuses a target the WAL never reaches with PostgreSQL’s reason', async () => {
    // Prepare
    const future = new Date(Date.now() + 3600_000).toISOString();
    // Act
    const attempt = recoverPostgres({ base, wal: directoryWalSource(source.archive), target: { kind: 'time', at: future } });
    // Assess
    await expect(attempt).rejects.toThrow(/recovery ended before configured recovery target was reached/);
  });

  it('refuses a tar that is not a data directory', async () => {
    // Prepare
    const notBase = join(work, 'empty.tar');
    writeFileSync(notBase, Buffer.alloc(10240));
    // Act
    const attempt = recoverPostgres({ base: notBase, wal: directoryWalSource(source.archive), target: { kind: 'end' } });
    // Assess
    await expect(attempt).rejects.toThrow('the base backup has no PG_VERSION');
  });
});

describe('directoryWalSource', () => {
  it('copies a file by name to the path given, and answers false for a name it does not hold', async () => {
    // Prepare
    const directory = mkdtempSync(join(tmpdir(), 'strongbox-wal-source-'));
    try {
      const wal = Buffer.alloc(64 * 1024, 3);
      writeFileSync(join(directory, '000000010000000000000003'), wal);
      const source = directoryWalSource(directory);
      const copy = join(directory, 'copy');
      // Act
      const found = await source.fetchTo?.('000000010000000000000003', copy);
      const missing = await source.fetchTo?.('000000010000000000000004', join(directory, 'none'));
      // Assess
      expect(found).toBe(true);
      expect(readFileSync(copy).equals(wal)).toBe(true);
      expect(missing).toBe(false);
      expect(existsSync(join(directory, 'none'))).toBe(false);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('recoverySettings', () => {
  it('turns each target into PostgreSQL settings and refuses malformed ones', () => {
    // Act
    const time = recoverySettings({ kind: 'time', at: '2026-12-01T10:00:00+01:00' }, 'cmd');
    const lsn = recoverySettings({ kind: 'lsn', lsn: '16/B374D848' }, 'cmd');
    // Assess
    expect(time).toContain('recovery_target_time=2026-12-01 09:00:00.000+00');
    expect(lsn).toContain('recovery_target_lsn=16/B374D848');
    expect(recoverySettings({ kind: 'end' }, 'cmd')).toEqual([
      'restore_command=cmd',
      'recovery_target_action=promote',
      'recovery_target_timeline=latest',
    ]);
    expect(() => recoverySettings({ kind: 'lsn', lsn: '16-B3' }, 'cmd')).toThrow('"16-B3" is not an LSN');
    expect(() => recoverySettings({ kind: 'name', name: 'x'.repeat(64) }, 'cmd')).toThrow('expected 1 to 63 bytes');
    expect(() => recoverySettings({ kind: 'time', at: 'yesterday' }, 'cmd')).toThrow('is not a date-time');
  });
});
