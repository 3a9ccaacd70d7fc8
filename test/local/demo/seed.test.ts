import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../../dev/servers/embedded-postgres';
import { seedSampleDatabase } from '../../../local/demo/seed';

let directory: string;
let server: EmbeddedPostgres;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'strongbox-embedded-pg-'));
  // mkdtemp makes the directory private; the server runs as the postgres user when the tests run as root.
  chmodSync(directory, 0o755);
  server = await startEmbeddedPostgres({ directory: join(directory, 'postgres'), password: 'p@ss w0rd' });
});

afterAll(async () => {
  await server?.stop();
  rmSync(directory, { recursive: true, force: true });
});

describe('embedded PostgreSQL and the sample-data seeder', () => {
  it('starts PostgreSQL 15 (as a non-root user when run as root) with password authentication', async () => {
    // Prepare
    const client = server.client();
    await client.connect();

    // Act
    const version = await client.query<{ server_version: string }>('SHOW server_version');
    const user = await client.query<{ usename: string }>('SELECT current_user AS usename');
    await client.end();

    // Assess
    expect(version.rows[0].server_version).toMatch(/^15\./);
    expect(user.rows[0].usename).toBe('strongbox');
  });

  it('seeds schemas, keys, indexes, unicode and bytea, scaled down for tests', async () => {
    // Prepare
    await server.createDatabase('sample');

    // Act
    const result = await seedSampleDatabase(() => server.client('sample'), { scale: 0.01 });
    const client = server.client('sample');
    await client.connect();
    const schemas = await client.query("SELECT nspname FROM pg_namespace WHERE nspname IN ('sales','hr','media','audit') ORDER BY 1");
    const foreignKeys = await client.query("SELECT count(*)::int AS n FROM pg_constraint WHERE contype = 'f'");
    const unicode = await client.query("SELECT count(*)::int AS n FROM sales.customers WHERE full_name ~ '[^\\x01-\\x7F]'");
    const bytea = await client.query('SELECT min(octet_length(content))::int AS n FROM media.assets');
    const views = await client.query("SELECT count(*)::int AS n FROM pg_views WHERE schemaname = 'sales'");
    await client.end();

    // Assess
    expect(result.tables).toBe(8);
    expect(result.rows).toBeGreaterThan(10_000);
    expect(result.databaseBytes).toBeGreaterThan(5_000_000);
    expect(schemas.rows.map((r) => r.nspname)).toEqual(['audit', 'hr', 'media', 'sales']);
    expect(foreignKeys.rows[0].n).toBe(6);
    expect(unicode.rows[0].n).toBeGreaterThan(100);
    // 4 KiB of md5 output (incompressible) and 4 KiB of a repeating pattern per asset.
    expect(bytea.rows[0].n).toBe(8192);
    expect(views.rows[0].n).toBe(1);
  });
});
