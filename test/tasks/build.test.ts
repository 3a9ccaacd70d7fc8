import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineServer, startMariadb, startPostgres, startRedis } from '../../dev/servers/engines';
import { DUMP_WORKER } from '../../engines/mysql/dump-worker';
import { buildTask, TASK_ENTRY_FILE, TASK_NODE_FLAGS, TASK_PROCESS_ENV } from '../../tasks/build';
import { STREAM_COLLECT_BYTES } from '../../tasks/src/stream/collect';
import { baseEnv } from './run-task';

const DOCKERFILE = readFileSync(join(__dirname, '..', '..', 'tasks', 'Dockerfile'), 'utf8');

describe('the task image entry', () => {
  it('starts node with the heap flags the task was measured with', () => {
    // Prepare
    const line = DOCKERFILE.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
    // Act
    const argv = JSON.parse(line?.slice('ENTRYPOINT '.length) ?? '[]') as string[];
    // Assess
    expect(argv).toEqual(['node', ...TASK_NODE_FLAGS, `/app/${TASK_ENTRY_FILE}`]);
    expect(TASK_NODE_FLAGS).toContain('--expose-gc');
    expect(TASK_NODE_FLAGS.some((flag) => /^--max-semi-space-size=\d+$/.test(flag))).toBe(true);
  });

  it('sets the allocator environment of the task process', () => {
    // Prepare
    const env = DOCKERFILE.split('\n')
      .filter((l) => l.startsWith('ENV '))
      .flatMap((l) => l.slice('ENV '.length).trim().split(/\s+/));
    // Act, Assess
    for (const [name, value] of Object.entries(TASK_PROCESS_ENV)) {
      expect(env).toContain(`${name}=${value}`);
    }
  });
});

describe('the task bundle (tasks/build.ts)', () => {
  let out: string;
  let entry: string;
  let pg: EngineServer;
  let maria: EngineServer;
  let redis: EngineServer;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'strongbox-bundle-'));
    entry = await buildTask(out);
    [pg, maria, redis] = await Promise.all([startPostgres(), startMariadb(), startRedis()]);
    const client = new Client({ host: pg.host, port: pg.port, user: 'postgres', password: pg.password, database: 'postgres' });
    await client.connect();
    await client.query('CREATE TABLE items AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 2000) g');
    await client.end();
  });

  afterAll(async () => {
    await Promise.all([pg?.stop(), maria?.stop(), redis?.stop()]);
    rmSync(out, { recursive: true, force: true });
  });

  /** A null-sink backup of `server` as the image runs it: node, its flags, the allocator setting, the bundle. */
  const backupThroughBundle = (server: EngineServer, env: Record<string, string>) => {
    const run = spawnSync(process.execPath, [...TASK_NODE_FLAGS, entry], {
      env: {
        ...baseEnv(),
        ...TASK_PROCESS_ENV,
        ...server.taskEnv(),
        STRONGBOX_COMMAND: 'backup',
        STRONGBOX_VAULT_BUCKET: 'vault',
        STRONGBOX_SINK: 'null',
        ...env,
      },
      encoding: 'utf8',
    });
    // Every stdout line of the task is JSON (the log lines, then the result); none at all when it failed early.
    const lines = run.stdout
      .trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    return { run, result: lines.at(-1) ?? {}, finished: lines.find((line) => line.message === 'backup finished') };
  };

  it('splits the commands and the drivers into their own files', () => {
    // Prepare, Act
    const files = readdirSync(out);
    // Assess
    expect(files).toContain(TASK_ENTRY_FILE);
    expect(files.some((file) => file.startsWith('backup-'))).toBe(true);
    expect(files.some((file) => file.startsWith('restore-'))).toBe(true);
    expect(readFileSync(entry, 'utf8')).not.toContain('mysql2');
  });

  it("answers pg's Cloudflare probe in the bundle, so loading pg does not load undici on Node 20", () => {
    // Prepare, Act
    const chunks = readdirSync(out)
      .map((file) => readFileSync(join(out, file), 'utf8'))
      .filter((text) => text.includes('function isCloudflareRuntime()'));
    // Assess
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatch(/function isCloudflareRuntime\(\) \{\s*return false;/);
  });

  it('runs a PostgreSQL backup as the image runs it: node, the flags, the allocator setting, the bundle', () => {
    // Prepare, Act
    const { run, result } = backupThroughBundle(pg, { STRONGBOX_DATABASE: 'items', STRONGBOX_DB_NAME: 'postgres' });
    // Assess
    expect(run.status, run.stderr).toBe(0);
    expect(result).toMatchObject({ command: 'backup', ok: true });
    expect(result.uncompressedBytes).toBeGreaterThan(2000 * 32);
    expect(result.firstByteMs).toBeGreaterThan(0);
  });

  it("reads zstd's output into one reused buffer in the image's node: no chunk is left for the stream's scavenges", async () => {
    // Prepare: ~25 MB of hex that zstd cannot shrink below 8 MiB (two collector cadences), in a database of its own.
    // The image's node exposes gc, so a Buffer per read (the Readable path) would make the collector run.
    const admin = new Client({ host: pg.host, port: pg.port, user: 'postgres', password: pg.password, database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE bulk');
    await admin.end();
    const bulk = new Client({ host: pg.host, port: pg.port, user: 'postgres', password: pg.password, database: 'bulk' });
    await bulk.connect();
    await bulk.query(
      'CREATE TABLE chunks AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS t FROM generate_series(1, 400000) g',
    );
    await bulk.end();
    // Act
    const { run, result, finished } = backupThroughBundle(pg, { STRONGBOX_DATABASE: 'bulk', STRONGBOX_DB_NAME: 'bulk' });
    // Assess
    expect(run.status, run.stderr).toBe(0);
    expect(Number(result.bytes)).toBeGreaterThan(2 * STREAM_COLLECT_BYTES);
    expect(finished?.collections).toBe(0);
  });

  it("scavenges a Redis logical dump's chunks in the image's node: the flags expose gc to stream/collect.ts", async () => {
    // Prepare: 30 MB of keys, whose logical dump Node builds chunk by chunk (the one backup input it allocates).
    const client = new Redis({ host: redis.host, port: redis.port, password: redis.password, lazyConnect: true });
    await client.connect();
    // Random bytes: the logical format carries DUMP's payload, which LZF-compresses anything repetitive.
    const batch = client.pipeline();
    for (let i = 0; i < 3000; i++) {
      batch.set(`bulk:${i}`, randomBytes(10_000));
    }
    await batch.exec();
    await client.quit();
    // Act
    const { run, result, finished } = backupThroughBundle(redis, { STRONGBOX_DATABASE: 'cache', STRONGBOX_REDIS_MODE: 'logical' });
    // Assess
    expect(run.status, run.stderr).toBe(0);
    // The dump comes in a few chunks of one SCAN batch each (~5 MB here), and each crossing of the cadence scavenges once.
    expect(Number(result.uncompressedBytes)).toBeGreaterThan(4 * STREAM_COLLECT_BYTES);
    expect(Number(finished?.collections)).toBeGreaterThan(0);
  });

  it('exits 2 with the one-line environment error from the bundle too', () => {
    // Prepare
    const env = { ...baseEnv(), STRONGBOX_COMMAND: 'backup' };
    // Act
    const run = spawnSync(process.execPath, [...TASK_NODE_FLAGS, entry], { env, encoding: 'utf8' });
    // Assess
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('STRONGBOX_DATABASE: not set');
    expect(run.stderr).not.toContain('    at ');
  });

  it('runs a MariaDB backup: the driver a command imports on demand keeps its named exports, the worker its own file', () => {
    // Prepare, Act
    const { run, result } = backupThroughBundle(maria, { STRONGBOX_DATABASE: 'shop' });
    // Assess: the rows were counted by the bundle's worker file (outside the bundle it would need tsx), quietly
    expect(run.status, run.stderr).toBe(0);
    expect(result).toMatchObject({ command: 'backup', ok: true });
    expect(readdirSync(out)).toContain(`${DUMP_WORKER.name}.mjs`);
    expect(run.stderr).not.toMatch(/warning/i);
  });

  it('reads a secret through the Secrets Manager client the bundle loads on demand', () => {
    // Prepare: nothing listens on the endpoint, so the SDK's own connection error proves its client was built.
    const env = {
      ...baseEnv(),
      ...pg.taskEnv(),
      STRONGBOX_DB_USERNAME: '',
      STRONGBOX_DB_PASSWORD: '',
      STRONGBOX_DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:shop-AbCdEf',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9',
      AWS_MAX_ATTEMPTS: '1',
      STRONGBOX_COMMAND: 'backup',
      STRONGBOX_DATABASE: 'shop',
      STRONGBOX_VAULT_BUCKET: 'vault',
      STRONGBOX_SINK: 'null',
    };
    // Act
    const run = spawnSync(process.execPath, [...TASK_NODE_FLAGS, entry], { env, encoding: 'utf8' });
    // Assess
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('ECONNREFUSED');
    expect(run.stderr).not.toMatch(/is not a (constructor|function)/);
  });
});
