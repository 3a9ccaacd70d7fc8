import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineServer, startPostgres } from '../../../dev/servers/engines';
import { ArchiveFormatError, type ArchiveToc, readArchiveToc, SelectionError, selectEntries } from '../../../engines/postgres/toc';
import { FIDELITY_SCHEMA } from '../../support/postgres-fidelity';

/**
 * The archive TOC reader and the selection built on it, against a real `pg_dump -Fc` of the fidelity schema:
 * the reader must agree with `pg_restore -l --verbose` entry for entry, and a selection must restore on its
 * own with pg_restore and bring what the table needs and nothing else.
 */
let pg: EngineServer;
let directory: string;
let archive: string;
let toc: ArchiveToc;

const pgEnv = () => ({ ...process.env, PGPASSWORD: pg.password });
const connectionArgs = (database: string) => ['-h', pg.host, '-p', String(pg.port), '-U', pg.username, '-d', database];

async function sql<T = Record<string, unknown>>(database: string, text: string): Promise<T[]> {
  const client = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Restores the selection of `include` into a new database with stock pg_restore; returns its relations. */
async function restoreSelection(include: string[], database: string): Promise<string[]> {
  const selection = selectEntries(toc, include);
  const list = join(directory, `${database}.list`);
  writeFileSync(list, `${selection.entries.map((e) => `${e.dumpId};`).join('\n')}\n`);
  await sql('postgres', `CREATE DATABASE ${database}`);
  execFileSync('pg_restore', ['--single-transaction', '--exit-on-error', '-L', list, ...connectionArgs(database), archive], {
    env: pgEnv(),
  });
  return (
    await sql<{ name: string }>(
      database,
      `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    )
  ).map((r) => r.name);
}

beforeAll(async () => {
  pg = await startPostgres();
  directory = mkdtempSync(join(tmpdir(), 'strongbox-toc-'));
  await sql('postgres', 'CREATE DATABASE rich');
  await sql('rich', FIDELITY_SCHEMA);
  archive = join(directory, 'rich.pgdump');
  execFileSync('pg_dump', ['-Fc', '-Z0', '-f', archive, ...connectionArgs('rich')], { env: pgEnv() });
  toc = readArchiveToc(archive);
});

afterAll(async () => {
  await pg?.stop();
  rmSync(directory, { recursive: true, force: true });
});

describe('readArchiveToc', () => {
  it('reads every entry with the dumpId, type and dependencies that pg_restore -l --verbose prints', () => {
    // Prepare
    const listing = execFileSync('pg_restore', ['-l', '-v', archive]).toString();
    const expected: { dumpId: number; line: string; dependencies: number[] }[] = [];
    for (const line of listing.split('\n')) {
      const entry = /^(\d+); \d+ \d+ (.*)$/.exec(line);
      if (entry) {
        expected.push({ dumpId: Number(entry[1]), line: entry[2], dependencies: [] });
      } else if (line.startsWith(';\tdepends on:')) {
        expected[expected.length - 1].dependencies = line.replace(';\tdepends on:', '').trim().split(' ').map(Number);
      }
    }

    // Act
    const read = toc.entries.map((e) => ({
      dumpId: e.dumpId,
      line: `${e.desc} ${e.namespace || '-'} ${e.tag} ${e.owner}`,
      dependencies: [...e.dependencies],
    }));

    // Assess
    expect(toc.version).toMatch(/^1\.1[2-6]$/);
    expect(read.map((e) => ({ ...e, line: e.line.trimEnd() }))).toEqual(expected.map((e) => ({ ...e, line: e.line.trimEnd() })));
  });

  it('keeps names with spaces exact, where pg_restore -l runs them together', () => {
    // Act
    const table = toc.entries.find((e) => e.desc === 'TABLE' && e.tag === 'Order Lines');

    // Assess
    expect(table).toMatchObject({ namespace: 'Sales Data', tag: 'Order Lines', owner: 'postgres' });
  });

  it('refuses a file that is not a custom-format archive, saying so', () => {
    // Prepare
    const plain = join(directory, 'plain.sql');
    writeFileSync(plain, 'CREATE TABLE t (id int);\n');

    // Act
    const attempt = () => readArchiveToc(plain);

    // Assess
    expect(attempt).toThrow(ArchiveFormatError);
    expect(attempt).toThrow('not a pg_dump custom-format archive (no PGDMP magic at the start)');
  });
});

describe('selectEntries', () => {
  it('brings a table with its domain, enum, trigger function, identity sequence, indexes, policy, grants and comments, and leaves out a foreign key into a table not selected', async () => {
    // Act
    const selection = selectEntries(toc, ['public.film']);
    const restored = await restoreSelection(['public.film'], 'only_film');

    // Assess
    expect(
      selection.entries.filter((e) => !['ENCODING', 'STDSTRINGS', 'SEARCHPATH'].includes(e.desc)).map((e) => `${e.desc} ${e.tag}`),
    ).toEqual([
      'ACL SCHEMA public',
      'TYPE mpaa_rating',
      'DOMAIN year',
      'FUNCTION touch_last_update()',
      'TABLE film',
      'COMMENT TABLE film',
      'COMMENT COLUMN film.length_hours',
      'ACL TABLE film',
      'ACL COLUMN film.title',
      'ACL COLUMN film.release_year',
      'ACL COLUMN film.rating',
      'ACL COLUMN film.language_id',
      'SEQUENCE film_film_id_seq',
      'TABLE DATA film',
      'SEQUENCE SET film_film_id_seq',
      'CONSTRAINT film film_pkey',
      'INDEX film_title_lower_idx',
      'INDEX film_title_year_uq',
      'TRIGGER film film_last_update',
      'ROW SECURITY film',
      'POLICY film film_readable',
    ]);
    expect(selection.leftOut.map((e) => `${e.desc} ${e.tag}`)).toEqual(['FK CONSTRAINT film film_language_id_fkey']);
    expect(restored).toEqual(['public.film', 'public.film_film_id_seq']);
  });

  it('brings the extension a column type comes from, and a shared sequence a default draws from, with its value and grant', async () => {
    // Act
    const language = selectEntries(toc, ['public.language']).entries.map((e) => `${e.desc} ${e.tag}`);
    const invoice = selectEntries(toc, ['billing.invoice']).entries.map((e) => `${e.desc} ${e.tag}`);
    const restored = await restoreSelection(['billing.invoice'], 'only_invoice');

    // Assess
    expect(language).toContain('EXTENSION citext');
    expect(invoice).toEqual(
      expect.arrayContaining([
        'SCHEMA billing',
        'COMMENT SCHEMA billing',
        'SEQUENCE invoice_no',
        'SEQUENCE SET invoice_no',
        'ACL SEQUENCE invoice_no',
      ]),
    );
    expect(restored).toEqual(['billing.invoice', 'billing.invoice_no']);
    expect(await sql('only_invoice', "SELECT nextval('billing.invoice_no')::int AS next")).toEqual([{ next: 1000 + 7 * 25 }]);
  });

  it('brings a partitioned table with its partitions, and a partition with its parent table definition only', async () => {
    // Act
    const parent = await restoreSelection(['billing.payment'], 'payment_all');
    const partition = await restoreSelection(['billing.payment_2025'], 'payment_2025');

    // Assess
    expect(parent).toEqual(['billing.payment', 'billing.payment_2025', 'billing.payment_2026']);
    expect(partition).toEqual(['billing.payment', 'billing.payment_2025']);
    expect(await sql('payment_2025', 'SELECT count(*)::int AS n FROM billing.payment')).toEqual(
      await sql('rich', 'SELECT count(*)::int AS n FROM billing.payment_2025'),
    );
  });

  it('brings a whole schema, named with spaces, and everything in it', async () => {
    // Act
    const restored = await restoreSelection(['Sales Data'], 'sales_data');

    // Assess
    expect(restored).toEqual(['Sales Data.Order Lines']);
  });

  it('refuses a view whose tables are not selected, and a name the archive does not have', () => {
    // Act
    const view = () => selectEntries(toc, ['public.film_list']);
    const unknown = () => selectEntries(toc, ['public.films']);
    const schema = () => selectEntries(toc, ['sales']);

    // Assess
    expect(view).toThrow(
      new SelectionError('include: "public.film_list" is a view that needs public.film, public.language; include them too'),
    );
    expect(unknown).toThrow('include: "public.films" is not a table of this backup');
    expect(schema).toThrow('include: "sales" is not a schema of this backup');
  });
});
