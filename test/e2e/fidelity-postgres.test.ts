import { execFileSync, spawnSync } from 'node:child_process';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillRecordSchema, keys, type Manifest, ManifestSchema, VerificationSchema } from '../../contracts/vault';
import { getJson } from '../../contracts/vault-io';
import { type EngineServer, startPostgres } from '../../dev/servers/engines';
import { mapLimit } from '../../util/map-limit';
import { ACL_QUERY, FIDELITY_SCHEMA, FIDELITY_TABLES, tableChecksum } from '../support/postgres-fidelity';
import { causeMessage, type E2e, getBytes, startE2e, targetSecret } from './harness';

/**
 * PostgreSQL fidelity through the synthesized state machines (backup, restore, drill) on real servers: a schema
 * that uses what real ones use (test/support/postgres-fidelity.ts) must come back as the engine's own tools
 * see it — `pg_dump --schema-only` identical, every table's rows identical, every owner and ACL identical —
 * whole, selectively, and into a fresh cluster that lacks the roles; and a failed restore must leave the
 * target as it found it.
 */
const RESTORED = ['Resolve', 'KeepResolved', 'DryRun?', 'Guard', 'Restore', 'Validate', 'Notify', 'Restored'];

let pg: EngineServer;
/** A second cluster, as in a DR: none of the source's roles exist there until a restore creates them. */
let fresh: EngineServer;
let e2e: E2e;
let sourceSecret: string;
let freshSecret: string;
let backupId: string;
let manifest: Manifest;
const taskFailures: string[] = [];

async function withClient<T>(server: EngineServer, database: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ host: server.host, port: server.port, user: server.username, password: server.password, database });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

const query = <T = Record<string, unknown>>(server: EngineServer, database: string, sql: string) =>
  withClient(server, database, async (c) => (await c.query(sql)).rows as T[]);
const databases = async (server: EngineServer) =>
  (await query<{ datname: string }>(server, 'postgres', 'SELECT datname FROM pg_database ORDER BY 1')).map((r) => r.datname);
const roles = async (server: EngineServer) =>
  (await query<{ rolname: string }>(server, 'postgres', "SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' ORDER BY 1")).map(
    (r) => r.rolname,
  );

/** `pg_dump --schema-only` as text, without the per-run \restrict key lines. */
function schemaOnly(server: EngineServer, database: string): string {
  return execFileSync('pg_dump', ['--schema-only', '-h', server.host, '-p', String(server.port), '-U', server.username, '-d', database], {
    env: { ...process.env, PGPASSWORD: server.password },
    maxBuffer: 1 << 26,
  })
    .toString()
    .split('\n')
    .filter((line) => !/^\\(un)?restrict /.test(line))
    .join('\n');
}

/** What a restore must reproduce: data of every table, sequence positions, matview states, the large object. */
async function contents(server: EngineServer, database: string, tables: readonly string[] = FIDELITY_TABLES) {
  return withClient(server, database, async (c) => ({
    // One after another: a pg client queues concurrent queries anyway, and pg 9 will refuse them.
    tables: Object.fromEntries(await mapLimit(tables, 1, async (t) => [t, await tableChecksum(c, t)] as const)),
    sequences: (
      await c.query(
        `SELECT schemaname || '.' || sequencename AS name, last_value FROM pg_sequences WHERE schemaname NOT IN ('pg_catalog') ORDER BY 1`,
      )
    ).rows,
    matviews: (await c.query("SELECT schemaname || '.' || matviewname AS name, ispopulated FROM pg_matviews ORDER BY 1")).rows,
    largeObjects: (await c.query("SELECT convert_from(lo_get(oid), 'UTF8') AS payload FROM pg_largeobject_metadata")).rows,
  }));
}

beforeAll(async () => {
  [pg, fresh] = await Promise.all([startPostgres(), startPostgres()]);
  await query(pg, 'postgres', 'CREATE DATABASE rich');
  await query(pg, 'rich', FIDELITY_SCHEMA);
  // Issue #16: a view whose query takes seconds; a backup must never run it.
  await query(
    pg,
    'rich',
    `CREATE FUNCTION public.slow_total() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(3); RETURN 0; END $$;
     CREATE VIEW public.slow_report AS SELECT public.slow_total() AS total;`,
  );
  e2e = await startE2e([{ name: 'rich', server: pg, database: 'rich' }], {
    onTaskFailure: (failure) => taskFailures.push(failure.stderrTail),
  });
  sourceSecret = targetSecret(e2e.strongbox, 'rich-copy', pg);
  freshSecret = targetSecret(e2e.strongbox, 'rich-dr', fresh);
}, 240_000);

afterAll(async () => {
  await e2e?.stop();
  await Promise.all([pg?.stop(), fresh?.stop()]);
});

describe('PostgreSQL fidelity, end to end through the state machines', () => {
  it('backs up in about the time of pg_dump | zstd, lists views and matviews without running them, and stores the roles beside the dump', async () => {
    // Prepare: the raw pipeline on the same database, for comparison
    const started = Date.now();
    const raw = spawnSync(
      'bash',
      ['-c', `pg_dump -Fc -Z0 -h ${pg.host} -p ${pg.port} -U ${pg.username} -d rich | zstd -3 -T0 -q > /dev/null`],
      { env: { ...process.env, PGPASSWORD: pg.password } },
    );
    const rawSeconds = (Date.now() - started) / 1000;
    expect(raw.status).toBe(0);

    // Act
    const execution = await e2e.strongbox.backup({ database: 'rich', kind: 'full', trigger: 'manual' });
    expect(execution.status, execution.cause).toBe('SUCCEEDED');
    backupId = (execution.output as { prepare: { backupId: string } }).prepare.backupId;
    const s3 = e2e.strongbox.vault.client();
    const { primary, replica } = e2e.strongbox.app.buckets;
    manifest = (await getJson(s3, primary, keys.manifest(backupId), ManifestSchema))!.value;

    // Assess
    expect(manifest.durationSeconds).toBeLessThan(rawSeconds + 1);
    const listed = manifest.inventory.entries.filter((e) => e.kind !== 'table');
    expect(listed).toEqual([
      { name: 'public.film_list', kind: 'view', definitionSha256: expect.stringMatching(/^[a-f0-9]{64}$/) },
      {
        name: 'public.rating_counts',
        kind: 'matview',
        populated: true,
        count: 5,
        definitionSha256: expect.stringMatching(/^[a-f0-9]{64}$/),
      },
      { name: 'public.rating_counts_later', kind: 'matview', populated: false, definitionSha256: expect.stringMatching(/^[a-f0-9]{64}$/) },
      { name: 'public.slow_report', kind: 'view', definitionSha256: expect.stringMatching(/^[a-f0-9]{64}$/) },
    ]);
    expect(manifest.inventory.entries.filter((e) => e.kind === 'table').map((e) => e.name)).toEqual([...FIDELITY_TABLES]);
    expect(manifest.requires?.roles).toEqual(['app_owner', 'app_reader', 'app_writer', 'postgres']);
    expect(manifest.roles).toMatchObject({ key: keys.roles(backupId), passwordsOmitted: false });
    expect((await getJson(s3, primary, keys.verification(backupId), VerificationSchema))?.value.verified).toBe(true);
    expect(await getBytes(s3, replica, keys.roles(backupId))).toEqual(await getBytes(s3, primary, keys.roles(backupId)));
  });

  it('restores the whole database identically: schema, every row, sequences, matview states, large object, owners and ACLs', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'rich',
      backupId,
      target: { host: pg.host, port: pg.port, database: 'rich_copy', secretArn: sourceSecret },
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(result.path).toEqual(RESTORED);
    expect(schemaOnly(pg, 'rich_copy')).toBe(schemaOnly(pg, 'rich'));
    expect(await contents(pg, 'rich_copy')).toEqual(await contents(pg, 'rich'));
    expect(await query(pg, 'rich_copy', ACL_QUERY)).toEqual(await query(pg, 'rich', ACL_QUERY));
  });

  it('restores one table with exactly what it needs (domain, enum, trigger function, sequence, policy, grants) and nothing else', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'rich',
      backupId,
      target: { host: pg.host, port: pg.port, database: 'rich_film', secretArn: sourceSecret },
      include: ['public.film'],
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect((result.output as { validate: { compared: number; matched: boolean } }).validate).toMatchObject({ compared: 1, matched: true });
    expect(await contents(pg, 'rich_film', ['public.film'])).toMatchObject({
      tables: (await contents(pg, 'rich', ['public.film'])).tables,
      sequences: [{ name: 'public.film_film_id_seq', last_value: '500' }],
      matviews: [],
      largeObjects: [],
    });
    const film = (rows: Record<string, unknown>[]) =>
      rows.filter((r) =>
        /^(relation public\.film |policy film |type public\.(year|mpaa_rating)|function public\.touch_last_update|schema public)/.test(
          String(r.object),
        ),
      );
    expect(film(await query(pg, 'rich_film', ACL_QUERY))).toEqual(film(await query(pg, 'rich', ACL_QUERY)));
    const schema = schemaOnly(pg, 'rich_film');
    expect(schema).toContain('CREATE DOMAIN public.year AS integer');
    expect(schema).toContain('CREATE TYPE public.mpaa_rating AS ENUM');
    expect(schema).toContain('CREATE FUNCTION public.touch_last_update()');
    expect(schema).not.toMatch(/film_category|film_festival|film_list|CREATE SCHEMA billing|citext/);
  });

  it('refuses at Guard a fresh cluster that lacks the roles, naming them, with nothing written', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'rich',
      backupId,
      target: { host: fresh.host, port: fresh.port, database: 'rich', secretArn: freshSecret },
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.path).toEqual(['Resolve', 'KeepResolved', 'DryRun?', 'Guard', 'NotifyFailure', 'RestoreFailed']);
    expect(causeMessage(result.cause)).toBe(
      `Refusing to restore "rich" into 127.0.0.1:${fresh.port}/rich: the target lacks 3 roles that the backup's owners and privileges name: app_owner, app_reader, app_writer. Create them first (the backup's roles.sql.zst holds their definitions; see the README), set "roles": "create" to create them from it, or set "privileges": "skip" to restore without owners and privileges.`,
    );
    expect(await databases(fresh)).toEqual(['postgres', 'template0', 'template1']);
  });

  it('a restore that fails late (post-data, after the rows loaded) leaves the target as it was and reports the ERROR line', async () => {
    // Prepare: without privileges the Guard lets it through; the policy still names app_reader, which fresh lacks
    taskFailures.length = 0;

    // Act
    const result = await e2e.strongbox.restore({
      database: 'rich',
      backupId,
      target: { host: fresh.host, port: fresh.port, database: 'rich', secretArn: freshSecret },
      privileges: 'skip',
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.path).toEqual(['Resolve', 'KeepResolved', 'DryRun?', 'Guard', 'Restore', 'NotifyFailure', 'RestoreFailed']);
    expect(taskFailures.join('\n')).toMatch(
      /pg_restore exited with code 1: pg_restore: error: could not execute query: ERROR: {2}role "app_reader" does not exist/,
    );
    expect(await databases(fresh)).toEqual(['postgres', 'template0', 'template1']);
  });

  it('a corrupt stored artifact fails the restore and leaves the target as it was: no database, no roles', async () => {
    // Prepare: overwrite the stored dump in the vault with a copy that has one byte flipped
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const original = await getBytes(s3, bucket, manifest.artifact.key);
    const corrupt = Buffer.from(original);
    corrupt[Math.floor(corrupt.length * 0.7)] ^= 0x01;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifest.artifact.key, Body: corrupt }));
    taskFailures.length = 0;

    // Act
    const result = await e2e.strongbox.restore({
      database: 'rich',
      backupId,
      target: { host: fresh.host, port: fresh.port, database: 'rich', secretArn: freshSecret },
      roles: 'create',
    });
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifest.artifact.key, Body: original }));

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.path).toContain('Restore');
    expect(taskFailures.join('\n')).toMatch(/checksum mismatch|zstd/);
    expect(await databases(fresh)).toEqual(['postgres', 'template0', 'template1']);
    expect(await roles(fresh)).toEqual(['postgres']);
  });

  it('restores into the fresh cluster with roles "create": roles created without passwords, then everything identical', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'rich',
      backupId,
      target: { host: fresh.host, port: fresh.port, database: 'rich', secretArn: freshSecret },
      roles: 'create',
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await roles(fresh)).toEqual(['app_owner', 'app_reader', 'app_writer', 'postgres']);
    expect(await query(fresh, 'postgres', "SELECT rolname FROM pg_authid WHERE rolpassword IS NOT NULL AND rolname LIKE 'app%'")).toEqual(
      [],
    );
    expect(schemaOnly(fresh, 'rich')).toBe(schemaOnly(pg, 'rich'));
    expect(await contents(fresh, 'rich')).toEqual(await contents(pg, 'rich'));
    expect(await query(fresh, 'rich', ACL_QUERY)).toEqual(await query(pg, 'rich', ACL_QUERY));
  });

  it('drills the backup: roles created in the throwaway server, privileges checked, views never run', async () => {
    // Act
    const result = await e2e.strongbox.drill({ database: 'rich', trigger: 'manual' });
    const record = (await getJson(e2e.strongbox.vault.client(), e2e.strongbox.app.buckets.primary, keys.drill(backupId), DrillRecordSchema))
      ?.value;

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(record).toMatchObject({ passed: true, mismatches: [] });
    expect(record?.checks.map((c) => c.name)).toEqual([
      'restore',
      'postgres: every table readable',
      'postgres: no invalid index',
      'postgres: owners and privileges restored',
    ]);
    expect(record?.restoreSeconds).toBeLessThan(3);
  });
});
