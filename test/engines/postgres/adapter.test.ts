import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, type Manifest, ManifestSchema, mintBackupId } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';
import { type EngineServer, startPostgres } from '../../../dev/servers/engines';
import { type LocalS3, startS3rver } from '../../../dev/servers/s3rver';
import { postgres, RoleDefinitionsError, roleCreation } from '../../../engines/postgres/adapter';
import { main } from '../../../tasks/src/main';

/**
 * The PostgreSQL adapter through the task entrypoint, on real servers: backups of what issue #19 found
 * broken (a WITH NO DATA materialized view, views that must never be executed), restores that keep owners and
 * privileges, selective restores that bring exactly what a table needs, and failures that leave the target
 * as it was.
 */
const BUCKET = 'vault';

let s3rver: LocalS3;
let pg: EngineServer;
/** A second cluster: none of the source's roles exist there (a DR target). */
let fresh: EngineServer;
let taken = 0;

const connect = async (server: EngineServer, database: string) => {
  const client = new Client({ host: server.host, port: server.port, user: server.username, password: server.password, database });
  await client.connect();
  return client;
};

async function sql<T = Record<string, unknown>>(server: EngineServer, database: string, text: string, values?: unknown[]): Promise<T[]> {
  const client = await connect(server, database);
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

const env = (server: EngineServer, database: string) => ({
  ...server.taskEnv(),
  STRONGBOX_DATABASE: 'films',
  STRONGBOX_DB_NAME: database,
  STRONGBOX_VAULT_BUCKET: BUCKET,
  STRONGBOX_S3_ENDPOINT: s3rver.endpoint,
  STRONGBOX_PROGRESS_INTERVAL_SECONDS: '60',
});

/** Runs the task's backup of `database`; returns the backupId (undefined when the task failed) and the exit code. */
async function backup(database: string): Promise<{ code: number; backupId: string; manifest?: Manifest }> {
  taken += 1;
  const backupId = mintBackupId('films', 'full', new Date(Date.UTC(2026, 2, 1, 3, 0, taken)));
  const code = await main({ ...env(pg, database), STRONGBOX_COMMAND: 'backup', STRONGBOX_BACKUP_ID: backupId }, { s3: s3rver.client() });
  const manifest = (await getJson(s3rver.client(), BUCKET, keys.manifest(backupId), ManifestSchema))?.value;
  return { code, backupId, manifest };
}

async function restore(backupId: string, target: EngineServer, database: string, extra: Record<string, string> = {}): Promise<number> {
  return main(
    {
      ...env(pg, 'postgres'),
      STRONGBOX_COMMAND: 'restore',
      STRONGBOX_BACKUP_ID: backupId,
      STRONGBOX_TARGET_HOST: target.host,
      STRONGBOX_TARGET_PORT: String(target.port),
      STRONGBOX_TARGET_NAME: database,
      STRONGBOX_DB_PASSWORD: target.password,
      ...extra,
    },
    { s3: s3rver.client() },
  );
}

/** Captures what the task writes to stderr while `run` runs. */
async function stderrOf<T>(run: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const original = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    stderr += chunk.toString();
    return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    return { value: await run(), stderr };
  } finally {
    process.stderr.write = original;
  }
}

const databases = async (server: EngineServer) =>
  (await sql<{ datname: string }>(server, 'postgres', 'SELECT datname FROM pg_database ORDER BY 1')).map((r) => r.datname);
const roles = async (server: EngineServer) =>
  (await sql<{ rolname: string }>(server, 'postgres', "SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' ORDER BY 1")).map(
    (r) => r.rolname,
  );
const relations = async (server: EngineServer, database: string) =>
  (
    await sql<{ name: string }>(
      server,
      database,
      `SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    )
  ).map((r) => r.name);
/** Every ACL and owner of the database's own objects, like psql's \dp and \dn+ plus ALTER DEFAULT PRIVILEGES. */
const privileges = async (server: EngineServer, database: string) =>
  sql(
    server,
    database,
    `SELECT 'rel ' || n.nspname || '.' || c.relname AS object, pg_get_userbyid(c.relowner) AS owner, c.relacl::text AS acl,
            (SELECT string_agg(a.attname || '=' || a.attacl::text, ' ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL) AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'catalog') AND c.relkind IN ('r', 'v', 'S')
     UNION ALL SELECT 'schema ' || nspname, pg_get_userbyid(nspowner), nspacl::text, NULL FROM pg_namespace WHERE nspname IN ('public', 'catalog')
     UNION ALL SELECT 'function ' || p.oid::regprocedure::text, pg_get_userbyid(p.proowner), p.proacl::text, NULL
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('public', 'catalog')
     UNION ALL SELECT 'default ' || defaclobjtype::text || ' ' || pg_get_userbyid(defaclrole), NULL, defaclacl::text, NULL FROM pg_default_acl
     ORDER BY 1`,
  );

/** A schema in the shape of the report: a domain, an enum, a trigger function, and unrelated film_* objects. */
const FILMS = `
  CREATE ROLE film_owner NOLOGIN;
  CREATE ROLE film_reader NOLOGIN;
  CREATE ROLE film_editor LOGIN PASSWORD 'editor-secret' IN ROLE film_reader;
  CREATE SCHEMA catalog AUTHORIZATION film_owner;
  REVOKE ALL ON SCHEMA public FROM PUBLIC;
  GRANT USAGE ON SCHEMA public TO film_reader;
  CREATE DOMAIN public.year AS integer CHECK (VALUE >= 1901 AND VALUE <= 2155);
  CREATE TYPE public.mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
  CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.last_update := now(); RETURN NEW; END $$;
  CREATE FUNCTION public.minutes(h numeric) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT (h * 60)::int $$;
  REVOKE EXECUTE ON FUNCTION public.minutes(numeric) FROM PUBLIC;
  GRANT EXECUTE ON FUNCTION public.minutes(numeric) TO film_reader;
  CREATE TABLE public.language (language_id serial PRIMARY KEY, name text NOT NULL);
  CREATE TABLE public.film (
    film_id serial PRIMARY KEY,
    title text NOT NULL,
    release_year public.year,
    rating public.mpaa_rating DEFAULT 'G',
    language_id integer REFERENCES public.language,
    last_update timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX film_title_idx ON public.film (lower(title));
  CREATE TRIGGER film_touch BEFORE UPDATE ON public.film FOR EACH ROW EXECUTE FUNCTION public.touch();
  ALTER TABLE public.film ENABLE ROW LEVEL SECURITY;
  CREATE POLICY film_visible ON public.film FOR SELECT TO film_reader USING (rating <> 'NC-17');
  GRANT SELECT ON public.film TO film_reader;
  GRANT UPDATE (title) ON public.film TO film_editor;
  ALTER TABLE public.film OWNER TO film_owner;
  CREATE TABLE public.film_festival (id int PRIMARY KEY, name text);
  CREATE TABLE public.screening (id int PRIMARY KEY, room int NOT NULL);
  CREATE SEQUENCE public.film_ticket_seq;
  CREATE TABLE catalog.shelf (id int PRIMARY KEY, label text);
  ALTER TABLE catalog.shelf OWNER TO film_owner;
  ALTER DEFAULT PRIVILEGES FOR ROLE film_owner IN SCHEMA catalog GRANT SELECT ON TABLES TO film_reader;
  CREATE VIEW public.film_titles AS SELECT title FROM public.film;
  INSERT INTO public.language (name) VALUES ('English'), ('Deutsch');
  INSERT INTO public.film (title, release_year, rating, language_id)
    SELECT 'Film ' || i, 1950 + i % 70, (ARRAY['G', 'PG', 'PG-13', 'R', 'NC-17']::public.mpaa_rating[])[1 + i % 5], 1 + i % 2 FROM generate_series(1, 200) i;
  INSERT INTO public.film_festival VALUES (1, 'Berlinale');
  INSERT INTO public.screening SELECT i, i % 7 FROM generate_series(1, 250) i;
  INSERT INTO catalog.shelf VALUES (1, 'A'), (2, 'B');`;

beforeAll(async () => {
  s3rver = await startS3rver([BUCKET]);
  [pg, fresh] = await Promise.all([startPostgres(), startPostgres()]);
  await sql(pg, 'postgres', 'CREATE DATABASE films');
  await sql(pg, 'films', FILMS);
});

afterAll(async () => {
  await Promise.all([pg?.stop(), fresh?.stop()]);
  await s3rver?.stop();
});

describe('PostgreSQL inventory and backup (issue #19 defect 1, issue #16)', () => {
  it('backs up a database with a materialized view created WITH NO DATA, listed as unpopulated, and restores it unpopulated', async () => {
    // Prepare
    await sql(pg, 'postgres', 'CREATE DATABASE nodata');
    await sql(
      pg,
      'nodata',
      `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 30);
       CREATE MATERIALIZED VIEW later AS SELECT count(*) AS n FROM t WITH NO DATA;
       CREATE MATERIALIZED VIEW now_ready AS SELECT id FROM t WHERE id <= 10;`,
    );

    // Act
    const { code, backupId, manifest } = await backup('nodata');
    const restored = await restore(backupId, pg, 'nodata_restored');

    // Assess
    expect(code).toBe(0);
    expect(manifest?.inventory.entries).toEqual([
      { name: 'public.later', kind: 'matview', populated: false, definitionSha256: expect.stringMatching(/^[a-f0-9]{64}$/) },
      { name: 'public.now_ready', kind: 'matview', populated: true, count: 10, definitionSha256: expect.stringMatching(/^[a-f0-9]{64}$/) },
      { name: 'public.t', kind: 'table', count: 30 },
    ]);
    expect(restored).toBe(0);
    const populated = await sql(pg, 'nodata_restored', "SELECT relname, relispopulated FROM pg_class WHERE relkind = 'm' ORDER BY 1");
    expect(populated).toEqual([
      { relname: 'later', relispopulated: false },
      { relname: 'now_ready', relispopulated: true },
    ]);
  });

  it('never runs a view: a view whose function raises backs up, listed with a definition hash and no count', async () => {
    // Prepare
    await sql(pg, 'postgres', 'CREATE DATABASE views');
    await sql(
      pg,
      'views',
      `CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);
       CREATE FUNCTION explode() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the view was executed'; END $$;
       CREATE VIEW boom AS SELECT explode() AS x FROM t;`,
    );
    const client = await connect(pg, 'views');
    await client.query("SET search_path = ''");
    const definition = (await client.query<{ d: string }>("SELECT pg_get_viewdef('public.boom'::regclass) AS d")).rows[0];
    await client.end();

    // Act
    const { code, manifest } = await backup('views');
    const inventory = await postgres.inventory({
      host: pg.host,
      port: pg.port,
      username: pg.username,
      password: pg.password,
      database: 'views',
      tls: 'disable',
    });

    // Assess
    expect(code).toBe(0);
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(definition.d).digest('hex');
    expect(manifest?.inventory.entries).toEqual([
      { name: 'public.boom', kind: 'view', definitionSha256: sha },
      { name: 'public.t', kind: 'table', count: 2 },
    ]);
    expect(inventory.entries).toEqual(manifest?.inventory.entries);
  });

  it('records the roles that owners, grants and policies name, and stores the cluster roles as a second checksummed artifact', async () => {
    // Act
    const { code, manifest } = await backup('films');

    // Assess
    expect(code).toBe(0);
    expect(manifest?.requires?.roles).toEqual(['film_editor', 'film_owner', 'film_reader', 'postgres']);
    expect(manifest?.roles).toMatchObject({ key: keys.roles(manifest!.backupId), passwordsOmitted: false });
    const { body } = await (await import('../../../tasks/src/stream/download')).openObject(s3rver.client(), BUCKET, manifest!.roles!.key);
    const stored = Buffer.concat(await body.toArray());
    const { createHash } = await import('node:crypto');
    expect(stored.length).toBe(manifest?.roles?.bytes);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(manifest?.roles?.sha256);
    const { execFileSync } = await import('node:child_process');
    const text = execFileSync('zstd', ['-d', '-c'], { input: stored }).toString();
    expect(text.length).toBe(manifest?.roles?.uncompressedBytes);
    expect(text).toContain('CREATE ROLE film_reader;');
    expect(text).toContain('GRANT film_reader TO film_editor');
  });
});

describe('PostgreSQL restore of owners and privileges (issue #19 defect 2)', () => {
  let backupId: string;
  beforeAll(async () => {
    backupId = (await backup('films')).backupId;
  });

  it('brings back GRANT/REVOKE on schemas, tables, columns and functions, default privileges, REVOKE FROM PUBLIC and owners', async () => {
    // Act
    const code = await restore(backupId, pg, 'films_privileges');

    // Assess
    expect(code).toBe(0);
    expect(await privileges(pg, 'films_privileges')).toEqual(await privileges(pg, 'films'));
    // The policy hides NC-17 films from film_reader, who may read the table again
    const reader = await connect(pg, 'films_privileges');
    await reader.query('SET ROLE film_reader');
    const visible = (await reader.query('SELECT count(*)::int AS n FROM public.film')).rows;
    await reader.end();
    expect(visible).toEqual([{ n: 160 }]);
  });

  it('refuses a target cluster that lacks the roles, naming them, before writing anything', async () => {
    // Prepare
    const before = await databases(fresh);

    // Act
    const { value: code, stderr } = await stderrOf(() => restore(backupId, fresh, 'films'));

    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain(
      `Refusing to restore "films" into 127.0.0.1:${fresh.port}/films: the target lacks 3 roles that the backup's owners and privileges name: film_editor, film_owner, film_reader.`,
    );
    expect(await databases(fresh)).toEqual(before);
  });

  it('with roles "create", creates the missing roles from the stored definitions without their passwords, then restores privileges', async () => {
    // Act
    const code = await restore(backupId, fresh, 'films_created', { STRONGBOX_RESTORE_CREATE_ROLES: 'true' });

    // Assess
    expect(code).toBe(0);
    expect(await roles(fresh)).toEqual(['film_editor', 'film_owner', 'film_reader', 'postgres']);
    expect(await privileges(fresh, 'films_created')).toEqual(await privileges(pg, 'films'));
    const editor = await sql(
      fresh,
      'postgres',
      "SELECT rolcanlogin, rolpassword IS NULL AS no_password FROM pg_authid WHERE rolname = 'film_editor'",
    );
    expect(editor).toEqual([{ rolcanlogin: true, no_password: true }]);
    const members = await sql(fresh, 'postgres', "SELECT pg_has_role('film_editor', 'film_reader', 'MEMBER') AS member");
    expect(members).toEqual([{ member: true }]);
  });

  it('with privileges "skip", restores without owners and grants into a cluster that lacks the roles', async () => {
    // Prepare
    await sql(fresh, 'postgres', 'CREATE DATABASE skipped');

    // Act: the policy names film_reader, which exists on `fresh` now; owners and grants are left out
    const code = await restore(backupId, fresh, 'skipped', { STRONGBOX_RESTORE_PRIVILEGES: 'skip' });

    // Assess
    expect(code).toBe(0);
    const film = await sql(fresh, 'skipped', "SELECT pg_get_userbyid(relowner) AS owner, relacl FROM pg_class WHERE relname = 'film'");
    expect(film).toEqual([{ owner: 'postgres', relacl: null }]);
  });
});

describe('PostgreSQL selective restore (issue #19 defect 3)', () => {
  let backupId: string;
  beforeAll(async () => {
    backupId = (await backup('films')).backupId;
  });

  it('restores one table with the domain, enum, sequence and trigger function it needs, its index, trigger, policy and grants, and nothing else', async () => {
    // Act
    const { value: code, stderr } = await stderrOf(() => restore(backupId, pg, 'films_one', { STRONGBOX_INCLUDE: '["public.film"]' }));

    // Assess
    expect(code).toBe(0);
    expect(await relations(pg, 'films_one')).toEqual(['public.film:r', 'public.film_film_id_seq:S']);
    const objects = await sql(
      pg,
      'films_one',
      `SELECT (SELECT string_agg(typname, ',' ORDER BY typname) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype IN ('d', 'e')) AS types,
              (SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public') AS functions,
              (SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY 1) FROM pg_index WHERE indrelid = 'public.film'::regclass) AS indexes,
              (SELECT string_agg(tgname, ',') FROM pg_trigger WHERE tgrelid = 'public.film'::regclass AND NOT tgisinternal) AS triggers,
              (SELECT string_agg(polname, ',') FROM pg_policy) AS policies,
              (SELECT count(*)::int FROM public.film) AS films,
              (SELECT last_value::int FROM public.film_film_id_seq) AS sequence`,
    );
    expect(objects).toEqual([
      {
        types: 'mpaa_rating,year',
        functions: 'touch',
        indexes: 'film_pkey,film_title_idx',
        triggers: 'film_touch',
        policies: 'film_visible',
        films: 200,
        sequence: 200,
      },
    ]);
    expect(await privileges(pg, 'films_one').then((rows) => rows.filter((r) => String(r.object).startsWith('rel public.film ')))).toEqual(
      await privileges(pg, 'films').then((rows) => rows.filter((r) => String(r.object).startsWith('rel public.film '))),
    );
    expect(stderr).toContain('film_language_id_fkey');
  });

  it('refuses an include name the backup does not have, naming it', async () => {
    // Act
    const { value: code, stderr } = await stderrOf(() => restore(backupId, pg, 'films_none', { STRONGBOX_INCLUDE: '["public.films"]' }));

    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain('include: "public.films" is not a table of this backup');
    expect(await databases(pg)).not.toContain('films_none');
  });

  it("rolls a failed selective restore back entirely, and the error carries pg_restore's ERROR line", async () => {
    // Prepare: the target already has a type of the same name, but no table (so it counts as empty)
    await sql(pg, 'postgres', 'CREATE DATABASE films_clash');
    await sql(pg, 'films_clash', "CREATE TYPE public.mpaa_rating AS ENUM ('X')");

    // Act
    const { value: code, stderr } = await stderrOf(() =>
      restore(backupId, pg, 'films_clash', { STRONGBOX_INCLUDE: '["public.film"]', STRONGBOX_RESTORE_JOBS: '2' }),
    );

    // Assess
    expect(code).toBe(1);
    expect(stderr).toMatch(/strongbox: pg_restore exited with code 1: .*ERROR: {2}type "mpaa_rating" already exists/);
    expect(await relations(pg, 'films_clash')).toEqual([]);
    const types = await sql(
      pg,
      'films_clash',
      "SELECT typname FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype IN ('d', 'e')",
    );
    expect(types).toEqual([{ typname: 'mpaa_rating' }]);
  });
});

describe('PostgreSQL restore atomicity', () => {
  let backupId: string;
  beforeAll(async () => {
    backupId = (await backup('films')).backupId;
  });

  it('drops the database a parallel restore created when the restore fails late (after the data loaded)', async () => {
    // Prepare: a cluster without film_reader, and privileges skipped, so only the policy (post-data) fails
    const target = await startPostgres();
    try {
      // Act
      const { value: code, stderr } = await stderrOf(() =>
        restore(backupId, target, 'films_parallel', { STRONGBOX_RESTORE_PRIVILEGES: 'skip', STRONGBOX_RESTORE_JOBS: '2' }),
      );

      // Assess
      expect(code).toBe(1);
      expect(stderr).toMatch(/pg_restore exited with code 1: .*ERROR: {2}role "film_reader" does not exist/);
      expect(await databases(target)).toEqual(['postgres', 'template0', 'template1']);
    } finally {
      await target.stop();
    }
  });

  it('leaves the target as it found it when the stored artifact is corrupt: no database created, no roles created', async () => {
    // Prepare: flip bytes in the middle of the stored artifact
    const target = await startPostgres();
    try {
      const manifest = (await getJson(s3rver.client(), BUCKET, keys.manifest(backupId), ManifestSchema))!.value;
      const { body } = await (await import('../../../tasks/src/stream/download')).openObject(
        s3rver.client(),
        BUCKET,
        manifest.artifact.key,
      );
      const bytes = Buffer.concat(await body.toArray());
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      const corruptId = mintBackupId('films', 'full', new Date(Date.UTC(2026, 5, 1)));
      const copy = { ...manifest, backupId: corruptId, artifact: { ...manifest.artifact, key: keys.artifact(corruptId, 'pgdump') } };
      await s3rver.client().send(new PutObjectCommand({ Bucket: BUCKET, Key: copy.artifact.key, Body: bytes }));
      await s3rver.client().send(new PutObjectCommand({ Bucket: BUCKET, Key: keys.manifest(corruptId), Body: JSON.stringify(copy) }));

      // Act
      const streamed = await stderrOf(() =>
        restore(corruptId, target, 'films_corrupt', { STRONGBOX_RESTORE_CREATE_ROLES: 'true', STRONGBOX_RESTORE_JOBS: '1' }),
      );
      const parallel = await stderrOf(() => restore(corruptId, target, 'films_corrupt', { STRONGBOX_RESTORE_CREATE_ROLES: 'true' }));

      // Assess
      expect(streamed.value).toBe(1);
      expect(parallel.value).toBe(1);
      expect(streamed.stderr).toMatch(/checksum mismatch|zstd/);
      expect(await databases(target)).toEqual(['postgres', 'template0', 'template1']);
      expect(await roles(target)).toEqual(['postgres']);
    } finally {
      await target.stop();
    }
  });
});

describe('roleCreation (statements from pg_dumpall --roles-only output)', () => {
  const DUMPALL = `--
-- PostgreSQL database cluster dump
--

\\restrict abc123

SET default_transaction_read_only = off;

--
-- Roles
--

CREATE ROLE "Mixed Case";
ALTER ROLE "Mixed Case" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE app_reader;
ALTER ROLE app_reader WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
COMMENT ON ROLE app_reader IS 'reads; never
writes';
CREATE ROLE app_writer;
ALTER ROLE app_writer WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5 PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a;b=:c' VALID UNTIL '2030-01-01 00:00:00+00';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$x';

--
-- User Configurations
--

ALTER ROLE app_reader SET work_mem TO '8MB';
ALTER ROLE app_reader IN DATABASE films SET search_path TO 'catalog';

--
-- Role memberships
--

GRANT app_reader TO "Mixed Case" WITH ADMIN OPTION GRANTED BY postgres;
GRANT app_reader TO app_writer GRANTED BY postgres;
GRANT app_reader TO someone_else GRANTED BY postgres;

\\unrestrict abc123
`;

  it('creates only the missing roles, without passwords or per-database settings, with memberships among roles that will exist', () => {
    // Act
    const creation = roleCreation(DUMPALL, ['app_reader', 'app_writer'], ['postgres', 'Mixed Case']);

    // Assess
    expect(creation).toEqual({
      roles: ['app_reader', 'app_writer'],
      statements: [
        'CREATE ROLE app_reader;',
        'ALTER ROLE app_reader WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;',
        "COMMENT ON ROLE app_reader IS 'reads; never\nwrites';",
        'CREATE ROLE app_writer;',
        "ALTER ROLE app_writer WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5 VALID UNTIL '2030-01-01 00:00:00+00';",
        "ALTER ROLE app_reader SET work_mem TO '8MB';",
        'GRANT app_reader TO "Mixed Case" WITH ADMIN OPTION;',
        'GRANT app_reader TO app_writer;',
      ],
    });
  });

  it('refuses to create a role the stored definitions do not have, naming it and the way out', () => {
    // Act
    const attempt = () => roleCreation(DUMPALL, ['app_reader', 'ghost'], []);

    // Assess
    expect(attempt).toThrow(RoleDefinitionsError);
    expect(attempt).toThrow(
      `the backup's stored role definitions do not define ghost; create it on the target by hand, or restore with "privileges": "skip"`,
    );
  });
});
