import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineServer, startPostgres } from '../../dev/servers/engines';
import type { TaskCall } from '../../local/executor/runtime';
import { TaskFailedError } from '../../local/executor/runtime';
import { backedUp, type E2e, listKeys, startE2e } from './harness';

/**
 * The synthesized backup and drill state machines, run by the local runtime against a real PostgreSQL, with faults
 * injected where AWS would raise them: Lambda refusing an invoke (throttling) and Fargate refusing a RunTask
 * (capacity). The retry decisions are the definition's own; the local runtime only shortens the pauses.
 */
let pg: EngineServer;
let e2e: E2e;
/** Set by a test: runs before each state's binding, and may throw the fault AWS would report instead. */
let beforeState: ((stateName: string, call: TaskCall) => void) | undefined;

const throttled = () =>
  new TaskFailedError(
    'Lambda.TooManyRequestsException',
    'Rate Exceeded. (Service: Lambda, Status Code: 429, Reason: ConcurrentInvocationLimitExceeded)',
  );
const noCapacity = () =>
  new TaskFailedError(
    'ECS.AmazonECSException',
    'Capacity is unavailable at this time. Please try again later or in a different availability zone (Service: AmazonECS; Status Code: 400)',
  );

beforeAll(async () => {
  pg = await startPostgres();
  const admin = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'postgres' });
  await admin.connect();
  await admin.query('CREATE DATABASE small');
  await admin.end();
  const small = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'small' });
  await small.connect();
  await small.query(
    "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 200) i",
  );
  await small.end();
  e2e = await startE2e([{ name: 'small', server: pg, database: 'small' }], {
    beforeState: (stateName, _input, call) => beforeState?.(stateName, call),
  });
}, 240_000);

afterAll(async () => {
  await e2e?.stop();
  await pg?.stop();
});

/** How often each state's binding was called in one execution: every attempt, the refused ones included. */
function attempts(): { count: Map<string, number>; record: (stateName: string) => number } {
  const count = new Map<string, number>();
  return {
    count,
    record: (stateName) => {
      const n = (count.get(stateName) ?? 0) + 1;
      count.set(stateName, n);
      return n;
    },
  };
}

describe('transient faults in the backup state machine, run locally', () => {
  it('retries a Prepare throttled twice and a Dump refused for capacity once; the backup succeeds with one dump', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const { count, record } = attempts();
    beforeState = (stateName) => {
      const n = record(stateName);
      if (stateName === 'Prepare' && n <= 2) {
        throw throttled();
      }
      if (stateName === 'Dump' && n === 1) {
        throw noCapacity();
      }
    };
    const manifestsBefore = (await listKeys(s3, bucket, 'backups/small/')).filter((k) => k.endsWith('manifest.json')).length;

    // Act
    const execution = await e2e.strongbox.backup({ database: 'small', kind: 'full' });
    beforeState = undefined;

    // Assess
    expect(execution.status, `${execution.error} ${execution.cause}`).toBe('SUCCEEDED');
    expect(count.get('Prepare')).toBe(3);
    expect(count.get('Dump')).toBe(2);
    const retried = execution.transitions.filter((t) => t.type === 'retried').map((t) => t.state);
    expect(retried).toEqual(['Prepare', 'Prepare', 'Dump']);
    expect(execution.path).not.toContain('NotifyFailure');
    const manifests = (await listKeys(s3, bucket, 'backups/small/')).filter((k) => k.endsWith('manifest.json'));
    expect(manifests).toHaveLength(manifestsBefore + 1);
    expect(await listKeys(s3, bucket, 'locks/')).toEqual([]);
  });

  it('ends a Verify that is always throttled in the failure path: 1 + 6 attempts, alert sent, lock released', async () => {
    // Prepare
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const before = e2e.strongbox.outbox.read().length;
    const { count, record } = attempts();
    beforeState = (stateName) => {
      record(stateName);
      if (stateName === 'Verify') {
        throw throttled();
      }
    };

    // Act
    const execution = await e2e.strongbox.backup({ database: 'small', kind: 'full' });
    beforeState = undefined;

    // Assess
    expect(execution.status).toBe('FAILED');
    expect(execution.path).toEqual(['Prepare', 'Skipped?', 'Dump', 'Verify', 'NotifyFailure', 'ReleaseLockAfterFailure', 'Failed']);
    expect(count.get('Verify')).toBe(7);
    expect(count.get('NotifyFailure')).toBe(1);
    expect(execution.error).toBe('Lambda.TooManyRequestsException');
    expect(execution.cause).toContain('Rate Exceeded');
    expect(await listKeys(s3, bucket, 'locks/')).toEqual([]);
    const alerts = e2e.strongbox.outbox.read().slice(before);
    expect(alerts.map((m) => m.subject)).toEqual(['Backup failed: small']);
    expect(alerts[0].message).toContain('Lambda.TooManyRequestsException');
  });

  it('never retries a dump task that ran and failed: one attempt, then the failure path', async () => {
    // Prepare
    const { count, record } = attempts();
    // The task really runs, against a database that does not exist: pg_dump fails and the task exits 1.
    const admin = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database: 'postgres' });
    await admin.connect();
    await admin.query('ALTER DATABASE small RENAME TO small_away');
    beforeState = (stateName) => void record(stateName);

    // Act
    const execution = await e2e.strongbox.backup({ database: 'small', kind: 'full' }).finally(async () => {
      await admin.query('ALTER DATABASE small_away RENAME TO small');
      await admin.end();
    });
    beforeState = undefined;

    // Assess
    expect(execution.status).toBe('FAILED');
    expect(count.get('Dump')).toBe(1);
    expect(execution.transitions.filter((t) => t.type === 'retried')).toEqual([]);
    expect(execution.path).toEqual(['Prepare', 'Skipped?', 'Dump', 'NotifyFailure', 'ReleaseLockAfterFailure', 'Failed']);
    expect(await listKeys(e2e.strongbox.vault.client(), e2e.strongbox.app.buckets.primary, 'locks/')).toEqual([]);
  });

  it('retries the drill machine the same way: Prepare throttled twice and the drill task refused for capacity once', async () => {
    // Prepare
    await backedUp(e2e.strongbox, 'small');
    const { count, record } = attempts();
    beforeState = (stateName) => {
      const n = record(stateName);
      if (stateName === 'Prepare' && n <= 2) {
        throw throttled();
      }
      if (stateName === 'Drill' && n === 1) {
        throw noCapacity();
      }
    };

    // Act
    const execution = await e2e.strongbox.drill({ database: 'small', trigger: 'manual' });
    beforeState = undefined;

    // Assess
    expect(execution.status, `${execution.error} ${execution.cause}`).toBe('SUCCEEDED');
    expect(count.get('Prepare')).toBe(3);
    expect(count.get('Drill')).toBe(2);
    expect(execution.transitions.filter((t) => t.type === 'retried').map((t) => t.state)).toEqual(['Prepare', 'Prepare', 'Drill']);
    expect(execution.path).toEqual(['Prepare', 'Drill', 'Report', 'Drilled']);
  });
});
