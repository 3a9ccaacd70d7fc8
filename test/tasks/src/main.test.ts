import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailureRecordSchema, keys, ManifestSchema, RestoreTaskErrorSchema } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';
import { type EngineServer, startPostgres } from '../../../dev/servers/engines';
import { type LocalS3, localS3Client, startS3rver } from '../../../dev/servers/s3rver';
import { baseEnv, runTask, runTaskRecordingModules, startTask } from '../run-task';
import { type MultipartProxy, startMultipartProxy } from '../s3-multipart-proxy';

/** Round trip and failure cases through the real entrypoint, against PostgreSQL 15 and s3rver on loopback. */
const SEED = `
  CREATE SCHEMA sales; CREATE SCHEMA audit;
  CREATE TABLE public.customers (id int PRIMARY KEY, name text NOT NULL, note text, photo bytea, big text);
  INSERT INTO public.customers VALUES
    (1, 'Zoë Ångström 🚀 日本語', NULL, decode('00ff10ab00', 'hex'), NULL),
    (2, 'O''Brien "quoted" \\ back', 'tab\tnew\nline', NULL, repeat(md5('large'), 200000)),
    (3, 'plain', '', '\\x'::bytea, NULL);
  CREATE TABLE audit.events (id serial PRIMARY KEY, order_id int, at timestamptz DEFAULT now());
  CREATE FUNCTION audit.log_order() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO audit.events (order_id) VALUES (NEW.id); RETURN NEW; END $$;
  CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int REFERENCES public.customers (id), total numeric(10,2), meta jsonb);
  CREATE TRIGGER orders_audit AFTER INSERT ON sales.orders FOR EACH ROW EXECUTE FUNCTION audit.log_order();
  INSERT INTO sales.orders SELECT g, 1 + g % 3, g * 1.5, jsonb_build_object('n', g, 'tag', 'ü' || g) FROM generate_series(1, 5000) g;
  CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE total > 5000;
  CREATE INDEX orders_total ON sales.orders (total);
`;
const FINGERPRINT = `
  SELECT (SELECT md5(string_agg(id || name || coalesce(note, '<null>') || coalesce(encode(photo, 'hex'), '<null>') || coalesce(md5(big), '<null>'), '|' ORDER BY id)) FROM public.customers)
      || (SELECT md5(string_agg(id || ':' || total || meta::text, ',' ORDER BY id)) FROM sales.orders) AS f`;

describe('dump task entrypoint with PostgreSQL', () => {
  let pg: EngineServer;
  let s3: LocalS3;
  let proxy: MultipartProxy;
  let backupId: string;

  const env = (extra: Record<string, string> = {}) => ({
    ...baseEnv(),
    ...pg.taskEnv(),
    STRONGBOX_DATABASE: 'orders',
    STRONGBOX_DB_NAME: 'shop',
    STRONGBOX_VAULT_BUCKET: 'vault',
    STRONGBOX_S3_ENDPOINT: proxy.endpoint,
    STRONGBOX_PROGRESS_INTERVAL_SECONDS: '0.2',
    ...extra,
  });
  const query = async (database: string, sql: string) => {
    const client = new Client({ host: pg.host, port: pg.port, user: 'postgres', password: pg.password, database });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };
  const objectExists = (key: string) =>
    s3
      .client()
      .send(new HeadObjectCommand({ Bucket: 'vault', Key: key }))
      .then(
        () => true,
        () => false,
      );

  const storedManifest = async () =>
    ManifestSchema.parse(
      JSON.parse(
        await (await s3.client().send(new GetObjectCommand({ Bucket: 'vault', Key: keys.manifest(backupId) }))).Body!.transformToString(),
      ),
    );
  /** The restore's progress lines end with one closing line at 100 % of the manifest's bytes and parts. */
  const expectProgressToManifest = async (stdout: string) => {
    const { artifact } = await storedManifest();
    const lines = stdout
      .split('\n')
      .filter((l) => l.includes('"message":"restore progress"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.map((l) => [l.totalBytes, l.totalParts])).toEqual(lines.map(() => [artifact.bytes, artifact.parts]));
    expect(lines.filter((l) => l.final)).toEqual([lines.at(-1)]);
    expect(lines.at(-1)).toMatchObject({ bytes: artifact.bytes, percent: 100, parts: artifact.parts, etaSeconds: 0, final: true });
  };

  beforeAll(async () => {
    [pg, s3] = await Promise.all([startPostgres(), startS3rver(['vault'])]);
    proxy = await startMultipartProxy(s3.endpoint);
    await query('postgres', 'CREATE DATABASE shop');
    await query('shop', SEED);
    await query('postgres', 'CREATE DATABASE big');
    await query(
      'big',
      'CREATE TABLE filler AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5(random()::text) AS t FROM generate_series(1, 600000) g',
    );
  });
  afterAll(async () => {
    await proxy?.stop();
    await s3?.stop();
    await pg?.stop();
  });

  it('backs up: artifact, then a manifest with exact inventory, LSN, tool args without the password', async () => {
    // Prepare
    const run = env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_TRIGGER: 'test' });
    // Act
    const out = await runTask(run);
    // Assess
    expect(out.code, out.stderr).toBe(0);
    backupId = String(out.result.backupId);
    const manifest = ManifestSchema.parse(
      JSON.parse(
        await (await s3.client().send(new GetObjectCommand({ Bucket: 'vault', Key: keys.manifest(backupId) }))).Body!.transformToString(),
      ),
    );
    expect(manifest.artifact.key).toBe(keys.artifact(backupId, 'pgdump'));
    expect(manifest.artifact.sha256).toBe(out.result.sha256);
    expect(manifest.artifact.uncompressedBytes).toBeGreaterThan(manifest.artifact.bytes);
    expect(manifest.position?.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(manifest.tool.args).toEqual(expect.arrayContaining(['-Fc', '-Z0']));
    expect(JSON.stringify(manifest)).not.toContain(pg.password);
    expect(manifest.inventory).toEqual({
      exact: true,
      entries: [
        { name: 'audit.events', kind: 'table', count: 5000 },
        { name: 'public.customers', kind: 'table', count: 3 },
        { name: 'sales.big_orders', kind: 'view', definitionSha256: expect.stringMatching(/^[a-f0-9]{64}$/) },
        { name: 'sales.orders', kind: 'table', count: 5000 },
      ],
    });
    expect(out.stdout + out.stderr).not.toContain(pg.password);
  });

  it('restores by streaming into a new database with identical data, inventory, view, function and trigger', async () => {
    // Prepare
    const run = env({
      STRONGBOX_COMMAND: 'restore',
      STRONGBOX_BACKUP_ID: backupId,
      STRONGBOX_TARGET_NAME: 'copy',
      STRONGBOX_RESTORE_JOBS: '1',
    });
    // Act
    const out = await runTask(run);
    const inventory = await runTask(env({ STRONGBOX_COMMAND: 'inventory', STRONGBOX_TARGET_NAME: 'copy' }));
    // Assess
    expect(out.code, out.stderr).toBe(0);
    const source = await runTask(env({ STRONGBOX_COMMAND: 'inventory' }));
    expect(inventory.result.inventory).toEqual(source.result.inventory);
    expect(await query('copy', FINGERPRINT)).toEqual(await query('shop', FINGERPRINT));
    await query('copy', 'INSERT INTO sales.orders VALUES (9999, 1, 1, NULL)');
    expect(await query('copy', 'SELECT count(*)::int AS n FROM audit.events')).toEqual([{ n: 5001 }]);
    await expectProgressToManifest(out.stdout);
  });

  it('restores a selection with parallel jobs from a verified local file', async () => {
    // Prepare
    const run = env({
      STRONGBOX_COMMAND: 'restore',
      STRONGBOX_BACKUP_ID: backupId,
      STRONGBOX_TARGET_NAME: 'partial',
      STRONGBOX_RESTORE_JOBS: '2',
      STRONGBOX_INCLUDE: '["public.customers"]',
    });
    // Act
    const out = await runTask(run);
    // Assess
    expect(out.code, out.stderr).toBe(0);
    const tables = await query(
      'partial',
      "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    );
    expect(tables).toEqual([{ t: 'public.customers' }]);
    await expectProgressToManifest(out.stdout);
  });

  it('refuses to restore into a non-empty database unless overwrite is set, and records why for its execution', async () => {
    // Prepare
    const run = env({
      STRONGBOX_COMMAND: 'restore',
      STRONGBOX_BACKUP_ID: backupId,
      STRONGBOX_TARGET_NAME: 'shop',
      STRONGBOX_RESTORE_JOBS: '1',
      STRONGBOX_EXECUTION_NAME: 'console-refused',
    });
    // Act
    const out = await runTask(run);
    const record = await getJson(s3.client(), 'vault', keys.restoreTaskError('orders', 'console-refused'), RestoreTaskErrorSchema);
    // Assess
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('Refusing to restore "orders" into a non-empty target');
    expect(await query('shop', 'SELECT count(*)::int AS n FROM sales.orders')).toEqual([{ n: 5000 }]);
    expect(record?.value).toMatchObject({
      schemaVersion: 1,
      database: 'orders',
      executionName: 'console-refused',
      backupId,
      errorType: 'TargetNotEmptyError',
      message: expect.stringMatching(
        /^Refusing to restore "orders" into a non-empty target .*"confirm": "orders" in the input to go ahead\.$/,
      ),
    });
    expect(JSON.stringify(record?.value)).not.toContain(pg.password);
  });

  it('overwrites a non-empty database when overwrite is set: the dump objects are replaced, others are kept', async () => {
    // Prepare
    const restore = (jobs: string, overwrite: string) =>
      runTask(
        env({
          STRONGBOX_COMMAND: 'restore',
          STRONGBOX_BACKUP_ID: backupId,
          STRONGBOX_TARGET_NAME: 'existing',
          STRONGBOX_RESTORE_JOBS: jobs,
          STRONGBOX_RESTORE_OVERWRITE: overwrite,
        }),
      );
    const drift = (database: string) =>
      query(
        database,
        `INSERT INTO sales.orders VALUES (9001, 1, 1, NULL);
         UPDATE public.customers SET name = 'changed' WHERE id = 1;
         CREATE TABLE IF NOT EXISTS public.local_notes (note text)`,
      );
    expect((await restore('1', 'false')).code).toBe(0);
    await drift('existing');
    // Act: streamed in one transaction, then from a file with parallel jobs.
    const streamed = await restore('1', 'true');
    const streamedFingerprint = await query('existing', FINGERPRINT);
    await drift('existing');
    const parallel = await restore('2', 'true');
    // Assess
    expect(streamed.code, streamed.stderr).toBe(0);
    expect(parallel.code, parallel.stderr).toBe(0);
    const source = await query('shop', FINGERPRINT);
    expect(streamedFingerprint).toEqual(source);
    expect(await query('existing', FINGERPRINT)).toEqual(source);
    expect(await query('existing', 'SELECT count(*)::int AS n FROM sales.orders')).toEqual([{ n: 5000 }]);
    expect(await query('existing', "SELECT to_regclass('public.local_notes')::text AS t")).toEqual([{ t: 'local_notes' }]);
  });

  it('stops a restore of a corrupted artifact with a checksum error and leaves no target database behind', async () => {
    // Prepare
    const key = keys.artifact(backupId, 'pgdump');
    const original = Buffer.from(
      await (await s3.client().send(new GetObjectCommand({ Bucket: 'vault', Key: key }))).Body!.transformToByteArray(),
    );
    const corrupt = Buffer.from(original);
    corrupt[corrupt.length - 10] ^= 0xff;
    await s3.client().send(new PutObjectCommand({ Bucket: 'vault', Key: key, Body: corrupt }));
    // Act
    const restoreAs = (target: string, jobs: string) =>
      runTask(
        env({
          STRONGBOX_COMMAND: 'restore',
          STRONGBOX_BACKUP_ID: backupId,
          STRONGBOX_TARGET_NAME: target,
          STRONGBOX_RESTORE_JOBS: jobs,
          STRONGBOX_EXECUTION_NAME: `console-${target}`,
        }),
      );
    const streamed = await restoreAs('bad1', '1');
    const filed = await restoreAs('bad2', '2');
    await s3.client().send(new PutObjectCommand({ Bucket: 'vault', Key: key, Body: original }));
    // Assess
    for (const out of [streamed, filed]) {
      expect(out.code).toBe(1);
      expect(out.stderr).toMatch(/checksum mismatch: expected [0-9a-f]{64}, got [0-9a-f]{64}/);
    }
    for (const target of ['bad1', 'bad2']) {
      const record = await getJson(s3.client(), 'vault', keys.restoreTaskError('orders', `console-${target}`), RestoreTaskErrorSchema);
      expect(record?.value.errorType).toBe('ChecksumMismatchError');
      expect(record?.value.message).toMatch(/^checksum mismatch: expected [0-9a-f]{64}, got [0-9a-f]{64}; the artifact is corrupt/);
    }
    // The restore created neither database (the file path checks the checksum first) or dropped it again (the stream).
    expect(await query('postgres', "SELECT datname FROM pg_database WHERE datname IN ('bad1', 'bad2')")).toEqual([]);
  });

  it('aborts the multipart upload and writes failure.json but no manifest when pg_dump is killed mid-stream', async () => {
    // Prepare
    const id = 'orders-20260102T030405Z-full';
    proxy.holdParts();
    const task = startTask(env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_NAME: 'big', STRONGBOX_BACKUP_ID: id }));
    let stdout = '';
    task.child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    // Act: with the first part held, backpressure stalls pg_dump mid-stream (long enough for a progress line,
    // which a small backup may finish before); then it is killed.
    const deadline = Date.now() + 60_000;
    while ((proxy.heldParts() === 0 || !stdout.includes('"message":"backup progress"')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const pids = execFileSync('pgrep', ['-P', String(task.child.pid), 'pg_dump'])
      .toString()
      .trim();
    execFileSync('kill', ['-KILL', ...pids.split('\n')]);
    proxy.releaseParts();
    const out = await task.done;
    // Assess
    expect(stdout).toContain('"message":"backup progress"');
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('pg_dump was killed by SIGKILL');
    expect(await objectExists(keys.manifest(id))).toBe(false);
    expect(await objectExists(keys.artifact(id, 'pgdump'))).toBe(false);
    const failure = FailureRecordSchema.parse(
      JSON.parse(
        await (await s3.client().send(new GetObjectCommand({ Bucket: 'vault', Key: keys.failure(id) }))).Body!.transformToString(),
      ),
    );
    expect(failure).toMatchObject({ phase: 'dump', signal: 'SIGKILL', exitCode: null });
    expect(proxy.aborted.length).toBeGreaterThan(0);
    const listed = await localS3Client(proxy.endpoint).send(new ListMultipartUploadsCommand({ Bucket: 'vault' }));
    expect(listed.Uploads ?? []).toEqual([]);
  });

  it('fails a dump whose pg_dump reports an error on stderr but exits 0: no manifest, failure.json with the line', async () => {
    // Prepare: a pg_dump that dumps, then reports an error and exits 0 anyway
    const id = 'orders-20260102T040506Z-full';
    const bin = mkdtempSync(join(tmpdir(), 'strongbox-fake-bin-'));
    const real = execFileSync('sh', ['-c', 'command -v pg_dump']).toString().trim();
    writeFileSync(
      join(bin, 'pg_dump'),
      `#!/bin/sh\n"${real}" "$@"\necho "pg_dump: error: query failed: ERROR:  permission denied for table payroll" >&2\nexit 0\n`,
      {
        mode: 0o755,
      },
    );
    // Act
    const out = await runTask(env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_BACKUP_ID: id, PATH: `${bin}:${process.env.PATH}` }));
    rmSync(bin, { recursive: true, force: true });
    // Assess
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(
      'pg_dump exited 0 but reported an error on stderr: pg_dump: error: query failed: ERROR:  permission denied for table payroll',
    );
    expect(await objectExists(keys.manifest(id))).toBe(false);
    const failure = FailureRecordSchema.parse(
      JSON.parse(
        await (await s3.client().send(new GetObjectCommand({ Bucket: 'vault', Key: keys.failure(id) }))).Body!.transformToString(),
      ),
    );
    expect(failure).toMatchObject({ phase: 'dump', exitCode: 0 });
    expect(failure.stderrTail).toContain('permission denied for table payroll');
  });

  it('fails the backup when pg_dumpall fails beside pg_dump: no manifest, failure.json, no upload left open', async () => {
    // Prepare: the roles are dumped alongside the data; this pg_dumpall fails while pg_dump still streams
    const id = 'orders-20260102T050607Z-full';
    const bin = mkdtempSync(join(tmpdir(), 'strongbox-fake-bin-'));
    writeFileSync(
      join(bin, 'pg_dumpall'),
      '#!/bin/sh\nsleep 0.3\necho "pg_dumpall: error: permission denied for table pg_authid" >&2\nexit 1\n',
      {
        mode: 0o755,
      },
    );
    // Act
    const out = await runTask(
      env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_NAME: 'big', STRONGBOX_BACKUP_ID: id, PATH: `${bin}:${process.env.PATH}` }),
    );
    rmSync(bin, { recursive: true, force: true });
    // Assess
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('permission denied for table pg_authid');
    expect(await objectExists(keys.manifest(id))).toBe(false);
    expect(await objectExists(keys.failure(id)), out.stderr).toBe(true);
    const failure = FailureRecordSchema.parse(
      JSON.parse(
        await (await s3.client().send(new GetObjectCommand({ Bucket: 'vault', Key: keys.failure(id) }))).Body!.transformToString(),
      ),
    );
    expect(failure.message).toContain('pg_dumpall');
    const listed = await localS3Client(proxy.endpoint).send(new ListMultipartUploadsCommand({ Bucket: 'vault' }));
    expect(listed.Uploads ?? []).toEqual([]);
  });

  it('fails clearly on a wrong password without printing it', async () => {
    // Prepare
    const wrong = 'Wr0ng-Passw0rd-7d41';
    // Act
    const out = await runTask(env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_PASSWORD: wrong }));
    // Assess
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('cannot connect to postgres at 127.0.0.1');
    expect(out.stderr).toContain('password authentication failed');
    expect(out.stdout + out.stderr).not.toContain(wrong);
  });

  it('fails clearly within a bounded time when the host is unreachable', async () => {
    // Prepare: 192.0.2.1 is TEST-NET-1, never routed, so the connection times out rather than being refused.
    const run = env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_HOST: '192.0.2.1', STRONGBOX_DB_PORT: '5432' });
    // Act
    const out = await runTask(run);
    // Assess
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('cannot connect to postgres at 192.0.2.1:5432');
    expect(out.seconds).toBeLessThan(30);
  });

  it('loads for a PostgreSQL backup neither the other engines, nor the restore and drill code, nor the SDK before pg_dump runs', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'strongbox-modules-'));
    try {
      // Act
      const { run, loaded } = await runTaskRecordingModules(
        env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_BACKUP_ID: 'orders-20260102T030405Z-full' }),
        join(dir, 'modules.json'),
      );
      // Assess
      expect(run.code, run.stderr).toBe(0);
      const files = loaded.modules.map((file) => file.replaceAll('\\', '/'));
      const loadedAny = (pattern: RegExp) => files.filter((file) => pattern.test(file));
      expect(loadedAny(/\/engines\/postgres\/adapter\.ts$/)).toHaveLength(1);
      expect(loadedAny(/\/node_modules\/pg\//).length).toBeGreaterThan(0);
      expect(loadedAny(/\/node_modules\/(mysql2|ioredis|@ioredis|iconv-lite)\//)).toEqual([]);
      expect(loadedAny(/\/engines\/(mysql|redis|mongodb)\/|\/engines\/index\.ts$/)).toEqual([]);
      expect(loadedAny(/\/tasks\/src\/commands\/(restore|drill|inventory)\.ts$/)).toEqual([]);
      expect(loadedAny(/\/node_modules\/@aws-sdk\/client-secrets-manager\//)).toEqual([]);
      // The S3 client is needed for the upload, which begins once pg_dump and zstd run: not earlier.
      const dump = loaded.spawns.find((spawn) => spawn.command === 'pg_dump' && spawn.args.some((arg) => arg.startsWith('--snapshot=')));
      expect(dump?.sdkLoaded).toBe(false);
      expect(loadedAny(/\/node_modules\/@aws-sdk\/client-s3\//).length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads no AWS SDK module at all for a backup to the null sink', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'strongbox-modules-'));
    try {
      // Act
      const { run, loaded } = await runTaskRecordingModules(
        env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_SINK: 'null' }),
        join(dir, 'modules.json'),
      );
      // Assess
      expect(run.code, run.stderr).toBe(0);
      expect(run.result.ok).toBe(true);
      expect(loaded.modules.filter((file) => file.includes('/node_modules/@aws-sdk/'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 naming each bad or missing variable', async () => {
    // Prepare
    const run = env({ STRONGBOX_COMMAND: 'backup', STRONGBOX_DB_PORT: 'abc', STRONGBOX_VAULT_BUCKET: '' });
    // Act
    const out = await runTask(run);
    // Assess
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('STRONGBOX_DB_PORT: found "abc"; expected number');
    expect(out.stderr).toContain('STRONGBOX_VAULT_BUCKET: not set');
    expect(out.stderr).not.toContain('    at ');
  });
});
