import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../contracts/plan';
import { keys, mintBackupId } from '../../contracts/vault';
import { putJson } from '../../contracts/vault-io';
import { type EngineServer, startMariadb, startPostgres } from '../../dev/servers/engines';
import { type LocalS3, startS3rver } from '../../dev/servers/s3rver';
import { resolveRestore } from '../../lambdas/restore/resolve/restore-resolve';
import { main } from '../../tasks/src/main';
import { databasePlan, planOf, SECRET } from '../lambdas/fixtures';
import { restoreRoleArn } from '../lambdas/restore/resolve/fixtures';

/**
 * Console restores end to end through the pieces that run them: the Resolve logic settles the recovery point
 * and builds the task environment, the real task entrypoint restores (with the non-empty target guard), and
 * the target is counted. Real engines on loopback, s3rver as the vault; Verify is stood in for by writing a
 * passing verification.json (its own tests cover it).
 */
const BUCKET = 'vault';
const execution = {
  executionArn: 'arn:aws:states:eu-west-1:000000000000:execution:strongbox-restore:t',
  name: 't',
  startTime: '2026-04-01T00:00:00.000Z',
};

interface Case {
  readonly database: string;
  readonly engine: 'postgres' | 'mariadb' | 'redis';
  readonly start: () => Promise<EngineServer>;
  /** Writes generation `n` of the data (n rows/keys more each time). */
  readonly write: (server: EngineServer, n: number) => Promise<void>;
  /** What the target holds of the data: total rows or keys, and the per-table/pattern split. */
  readonly count: (server: EngineServer, name?: string) => Promise<Record<string, number>>;
  readonly wipe: (server: EngineServer, name?: string) => Promise<void>;
  /** Puts something unrelated into the target, so it is non-empty without clashing with the restore. */
  readonly occupy: (server: EngineServer) => Promise<void>;
  readonly include: string;
  readonly extraEnv?: Record<string, string>;
}

const pgClient = (s: EngineServer, database = 'postgres') =>
  new Client({ host: s.host, port: s.port, user: s.username, password: s.password, database });
const myConn = (s: EngineServer) =>
  mysql.createConnection({ host: s.host, port: s.port, user: s.username, password: s.password, multipleStatements: true });

const cases: Case[] = [
  {
    database: 'orders',
    engine: 'postgres',
    start: () => startPostgres(),
    include: 'public.orders',
    write: async (s, n) => {
      const c = pgClient(s);
      await c.connect();
      await c.query('CREATE TABLE IF NOT EXISTS orders (id int primary key); CREATE TABLE IF NOT EXISTS audit (id int primary key)');
      await c.query(
        `TRUNCATE orders, audit; INSERT INTO orders SELECT generate_series(1, ${n * 10}); INSERT INTO audit SELECT generate_series(1, ${n})`,
      );
      await c.end();
    },
    count: async (s, name = 'restored') => {
      const c = pgClient(s, name);
      await c.connect();
      const tables = await c.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public'");
      const out: Record<string, number> = {};
      for (const { t } of tables.rows) {
        out[t] = Number((await c.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
      }
      await c.end();
      return out;
    },
    wipe: async (s, name = 'restored') => {
      const c = pgClient(s);
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
    occupy: async (s) => {
      const admin = pgClient(s);
      await admin.connect();
      await admin.query('CREATE DATABASE restored');
      await admin.end();
      const c = pgClient(s, 'restored');
      await c.connect();
      await c.query('CREATE TABLE unrelated (id int)');
      await c.end();
    },
  },
  {
    database: 'billing',
    engine: 'mariadb',
    start: () => startMariadb(),
    include: 'shop.orders',
    write: async (s, n) => {
      const c = await myConn(s);
      await c.query(`CREATE DATABASE IF NOT EXISTS shop; USE shop; CREATE TABLE IF NOT EXISTS orders (id int primary key); CREATE TABLE IF NOT EXISTS audit (id int primary key);
        TRUNCATE orders; TRUNCATE audit; INSERT INTO orders SELECT seq FROM seq_1_to_${n * 10}; INSERT INTO audit SELECT seq FROM seq_1_to_${n}`);
      await c.end();
    },
    count: async (s) => {
      const c = await myConn(s);
      const [tables] = await c.query<mysql.RowDataPacket[]>(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'shop'",
      );
      const out: Record<string, number> = {};
      for (const { t } of tables) {
        const [rows] = await c.query<mysql.RowDataPacket[]>(`SELECT count(*) AS n FROM shop.${t}`);
        out[t] = Number(rows[0].n);
      }
      await c.end();
      return out;
    },
    wipe: async (s) => {
      const c = await myConn(s);
      await c.query('DROP DATABASE IF EXISTS shop; DROP DATABASE IF EXISTS unrelated');
      await c.end();
    },
    occupy: async (s) => {
      const c = await myConn(s);
      await c.query('CREATE DATABASE unrelated; CREATE TABLE unrelated.t (id int)');
      await c.end();
    },
  },
];

describe.each(cases)('console restore of $engine (Resolve logic + task entrypoint, real engines)', (c) => {
  let s3rver: LocalS3;
  let source: EngineServer;
  let target: EngineServer;
  let plan: Plan;
  const ids: string[] = [];

  const env = (server: EngineServer) => ({
    ...server.taskEnv(),
    STRONGBOX_DATABASE: c.database,
    STRONGBOX_VAULT_BUCKET: BUCKET,
    STRONGBOX_S3_ENDPOINT: s3rver.endpoint,
    STRONGBOX_PROGRESS_INTERVAL_SECONDS: '60',
    ...c.extraEnv,
  });

  /** Resolve the input like the state machine, then run the task with Resolve's environment against `target`. */
  async function restore(input: Record<string, unknown>): Promise<number> {
    const resolved = await resolveRestore(
      {
        database: c.database,
        target: {
          host: target.host,
          port: target.port,
          ...(c.engine === 'postgres' && { database: 'restored' }),
          ...(c.engine !== 'redis' && { secretArn: SECRET }),
        },
        ...input,
      },
      execution,
      { s3: s3rver.client(), bucket: BUCKET, plan, restoreRoleArn },
    );
    const overrides = Object.fromEntries(resolved.environment.map((e) => [e.Name, e.Value]));
    delete overrides.STRONGBOX_TARGET_SECRET_ARN; // the target's credentials come from the test server, as the source's do
    return main(
      { ...env(source), ...overrides, STRONGBOX_DB_USERNAME: target.username || undefined, STRONGBOX_DB_PASSWORD: target.password },
      { s3: s3rver.client() },
    );
  }

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    [source, target] = await Promise.all([c.start(), c.start()]);
    plan = planOf([databasePlan(c.database, c.engine, { host: source.host, port: source.port, tls: 'disable' })]);
    for (const [n, at] of [
      [1, '2026-03-01T03:00:00Z'],
      [2, '2026-03-02T03:00:00Z'],
      [3, '2026-03-03T03:00:00Z'],
    ] as const) {
      await c.write(source, n);
      const id = mintBackupId(c.database, 'full', new Date(at));
      expect(await main({ ...env(source), STRONGBOX_COMMAND: 'backup', STRONGBOX_BACKUP_ID: id }, { s3: s3rver.client() })).toBe(0);
      await putJson(s3rver.client(), BUCKET, keys.verification(id), {
        schemaVersion: 1,
        backupId: id,
        verified: true,
        verifiedAt: at,
        method: 'reread',
        bytes: 1,
        sha256: 'a'.repeat(64),
        problems: [],
      });
      ids.push(id);
    }
  });

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    await s3rver.stop();
  });

  it.each([
    ['latest', { latest: true }, 3],
    ['a backupId', { backupId: mintBackupId(c.database, 'full', new Date('2026-03-01T03:00:00Z')) }, 1],
    ['a pointInTime', { pointInTime: '2026-03-02T12:00:00Z' }, 2],
  ])('restores %s', async (_what, point, generation) => {
    // Prepare
    await c.wipe(target);

    // Act
    const code = await restore(point);

    // Assess
    expect(code).toBe(0);
    const counts = await c.count(target);
    expect(Object.values(counts).sort((a, b) => a - b)).toEqual([generation, generation * 10]);
  });

  it('restores only the included table or key pattern', async () => {
    // Prepare
    await c.wipe(target);

    // Act
    const code = await restore({ latest: true, include: [c.include] });

    // Assess
    expect(code).toBe(0);
    const counts = await c.count(target);
    expect(Object.values(counts).filter((n) => n > 0)).toEqual([30]);
  });

  it('refuses a non-empty target with the guard message, and restores it with overwrite + confirm', async () => {
    // Prepare
    await c.wipe(target);
    await c.occupy(target);
    const writes: string[] = [];
    const stderr = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => writes.push(String(chunk)) > 0) as typeof process.stderr.write;

    // Act
    const refused = await restore({ latest: true }).finally(() => {
      process.stderr.write = stderr;
    });
    const accepted = await restore({ backupId: ids[1], overwrite: true, confirm: c.database });

    // Assess
    expect(refused).toBe(1);
    expect(writes.join('')).toContain(`Refusing to restore "${c.database}" into a non-empty target ${target.host}:${target.port}`);
    expect(writes.join('')).toContain('unrelated');
    expect(writes.join('')).toContain(`Set "overwrite": true and "confirm": "${c.database}" in the input to go ahead.`);
    expect(accepted).toBe(0);
    expect(
      Object.values(await c.count(target))
        .filter((n) => n > 0)
        .sort((a, b) => a - b),
    ).toEqual([2, 20]); // the unrelated table stays, empty
  });
});
