import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, VerificationSchema } from '../../contracts/vault';
import { getJson } from '../../contracts/vault-io';
import { type EngineServer, startPostgres } from '../../dev/servers/engines';
import { seedSampleDatabase } from '../../local/demo/seed';
import { type E2e, getBytes, listKeys, openMultipartUploads, startE2e } from './harness';

let pg: EngineServer;
let e2e: E2e;
/** Set by a test to tamper with the vault just before a state runs. */
let beforeState: ((stateName: string, input: unknown) => Promise<void>) | undefined;

function pgClient(database: string): Client {
  return new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database });
}

beforeAll(async () => {
  pg = await startPostgres();
  const admin = pgClient('postgres');
  await admin.connect();
  await admin.query('CREATE DATABASE small');
  await admin.query('CREATE DATABASE big');
  await admin.end();
  const small = pgClient('small');
  await small.connect();
  await small.query(
    "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 500) i",
  );
  await small.end();
  // Large enough that pg_dump is still streaming when the test terminates it.
  await seedSampleDatabase(() => pgClient('big'), { scale: 0.15 });
  e2e = await startE2e(
    [
      { name: 'small', server: pg, database: 'small' },
      { name: 'big', server: pg, database: 'big' },
    ],
    { beforeState: (stateName, input) => beforeState?.(stateName, input) },
  );
});

afterAll(async () => {
  await e2e?.stop();
  await pg?.stop();
});

function subjects(): string[] {
  return e2e.strongbox.outbox.read().map((m) => m.subject ?? '');
}

describe('backup state machine failures, end to end', () => {
  it('a dump killed mid-stream fails the execution: no manifest, no open upload, stderr tail in the alert, lock released', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const before = e2e.strongbox.outbox.read().length;
    const watcher = pgClient('postgres');
    await watcher.connect();
    let terminated = 0;
    const stopAt = Date.now() + 60_000;
    const killer = (async () => {
      while (terminated === 0 && Date.now() < stopAt) {
        // pg_dump (the task names its connections "strongbox") in the middle of a COPY: terminate its backend,
        // as a failover or an administrator would.
        const result = await watcher.query(
          "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE datname = 'big' AND pid <> pg_backend_pid() AND query LIKE 'COPY %' AND state = 'active'",
        );
        terminated += result.rows.filter((r) => r.done).length;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();

    // Act
    const execution = await e2e.strongbox.backup({ database: 'big', kind: 'full' });
    await killer;
    await watcher.end();

    // Assess
    expect(terminated).toBe(1);
    expect(execution.status).toBe('FAILED');
    expect(execution.path).toEqual(['Prepare', 'Skipped?', 'Dump', 'NotifyFailure', 'ReleaseLockAfterFailure', 'Failed']);
    const written = await listKeys(s3, bucket, 'backups/big/');
    expect(written.filter((k) => k.endsWith('manifest.json'))).toEqual([]);
    expect(written.filter((k) => k.endsWith('failure.json'))).toHaveLength(1);
    expect(openMultipartUploads(e2e.strongbox, bucket)).toEqual([]);
    expect(await listKeys(s3, bucket, 'locks/')).toEqual([]);
    const alerts = e2e.strongbox.outbox.read().slice(before);
    expect(alerts.map((m) => m.subject)).toEqual(['Backup failed: big']);
    expect(alerts[0].message).toMatch(/terminat|server closed the connection|connection/i);
    expect(alerts[0].message).toContain('pg_dump');
  });

  it('runs exactly one dump when two executions start together; the other is skipped with a notice', async () => {
    // Prepare
    const before = e2e.strongbox.outbox.read().length;

    // Act
    const [a, b] = await Promise.all([
      e2e.strongbox.backup({ database: 'small', kind: 'full' }, { name: 'first' }),
      e2e.strongbox.backup({ database: 'small', kind: 'full' }, { name: 'second' }),
    ]);

    // Assess
    expect([a.status, b.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const dumped = [a, b].filter((e) => e.path.includes('Dump'));
    const skipped = [a, b].filter((e) => e.path.includes('NotifySkipped'));
    expect(dumped).toHaveLength(1);
    expect(skipped).toHaveLength(1);
    expect(skipped[0].path).toEqual(['Prepare', 'Skipped?', 'NotifySkipped', 'SkippedWithNotice']);
    const messages = e2e.strongbox.outbox.read().slice(before);
    expect(messages.map((m) => m.subject).sort()).toEqual(['Backup skipped: small', 'Backup verified and replicated: small']);
    expect(messages.find((m) => m.subject === 'Backup skipped: small')?.message).toMatch(/lock|in progress|running/i);
  });

  it('fails verification of an artifact corrupted between Dump and Verify, and raises the alert', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const before = e2e.strongbox.outbox.read().length;
    let corrupted = '';
    beforeState = async (stateName, input) => {
      if (stateName !== 'Verify') {
        return;
      }
      const { backupId } = input as { backupId: string };
      const key = keys.artifact(backupId, 'pgdump');
      const bytes = await getBytes(s3, bucket, key);
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
      corrupted = backupId;
    };

    // Act
    const execution = await e2e.strongbox.backup({ database: 'small', kind: 'full' });
    beforeState = undefined;

    // Assess
    expect(corrupted).not.toBe('');
    expect(execution.status).toBe('FAILED');
    expect(execution.path).toEqual(['Prepare', 'Skipped?', 'Dump', 'Verify', 'NotifyFailure', 'ReleaseLockAfterFailure', 'Failed']);
    expect(execution.error).toBe('VerificationError');
    const verification = await getJson(s3, bucket, keys.verification(corrupted), VerificationSchema);
    expect(verification?.value.verified ?? false).toBe(false);
    expect(subjects().slice(before)).toEqual(['Backup failed: small']);
    expect(e2e.strongbox.outbox.read().slice(before)[0].message).toMatch(/sha-?256|checksum/i);
    expect(await listKeys(s3, bucket, 'locks/')).toEqual([]);
  });

  it.each([
    [{ database: 'nope', kind: 'full' }, 'database: found "nope"'],
    [{ database: 'small', kind: 'weekly' }, 'kind: found "weekly"'],
  ])('fails a bad input %j at the first state with a readable cause', async (input, expected) => {
    // Act
    const execution = await e2e.strongbox.backup(input);

    // Assess
    expect(execution.status).toBe('FAILED');
    expect(execution.path[0]).toBe('Prepare');
    expect(execution.path).not.toContain('Dump');
    expect(execution.transitions.find((t) => t.type === 'failed')?.state).toBe('Prepare');
    expect(execution.error).toBe('InputValidationError');
    expect(execution.cause).toContain(expected);
    expect(execution.cause).not.toMatch(/\n\s+at /);
  });
});
