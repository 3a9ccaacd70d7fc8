import type { Client } from 'pg';

/**
 * A realistic sample database, generated server-side (generate_series) so that ~200 MB takes seconds, not
 * minutes: four schemas, primary and foreign keys (including a self-reference), secondary and partial
 * indexes, a view, unicode text in several scripts, jsonb, and bytea that is partly incompressible (as real
 * attachments are), so the compression ratio the demo reports means something.
 *
 * `scale` 1 gives about 200 MB on disk; the tests use a small fraction.
 */
export interface SeedOptions {
  /** @default 1 */
  readonly scale?: number;
}

export interface SeedResult {
  readonly databaseBytes: number;
  readonly tables: number;
  readonly rows: number;
  readonly seconds: number;
}

/** Names in several scripts, so encodings and collation are exercised by the dump and the restore. */
const FIRST_NAMES = [
  'Zoë',
  'Jürgen',
  'Åsa',
  'Łukasz',
  'Chloé',
  'Siobhán',
  'Ελένη',
  'Олег',
  '李雷',
  '美咲',
  'أحمد',
  'דניאל',
  'Nguyễn',
  'José',
  'Ingrid',
  'Oğuz',
];
const LAST_NAMES = [
  'Müller',
  'Ødegård',
  'García',
  'Kowalski',
  'Παπαδόπουλος',
  'Иванов',
  '王',
  '佐藤',
  'Haddad',
  'Lévy',
  'Trần',
  'Smith',
  'Þórsson',
  'Çelik',
];

function sqlArray(values: readonly string[]): string {
  return `ARRAY[${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',')}]`;
}

export function seedStatements(scale = 1): { setup: string[]; load: string[][]; finish: string[] } {
  const n = (base: number) => Math.max(10, Math.round(base * scale));
  const first = sqlArray(FIRST_NAMES);
  const last = sqlArray(LAST_NAMES);
  const setup = [
    'DROP SCHEMA IF EXISTS sales, hr, media, audit CASCADE',
    'CREATE SCHEMA sales',
    'CREATE SCHEMA hr',
    'CREATE SCHEMA media',
    'CREATE SCHEMA audit',
    `CREATE TABLE hr.departments (id int PRIMARY KEY, name text NOT NULL UNIQUE, budget numeric(12,2) NOT NULL)`,
    `CREATE TABLE hr.employees (id int, department_id int NOT NULL, manager_id int, full_name text NOT NULL, email text NOT NULL, hired_on date NOT NULL, salary numeric(10,2) NOT NULL)`,
    `CREATE TABLE sales.customers (id bigint, full_name text NOT NULL, email text NOT NULL, country char(2) NOT NULL, created_at timestamptz NOT NULL, notes text)`,
    `CREATE TABLE sales.products (id int, sku text NOT NULL, title text NOT NULL, description text NOT NULL, price numeric(10,2) NOT NULL)`,
    `CREATE TABLE sales.orders (id bigint, customer_id bigint NOT NULL, ordered_at timestamptz NOT NULL, status text NOT NULL, total numeric(12,2) NOT NULL)`,
    `CREATE TABLE sales.order_items (order_id bigint NOT NULL, line smallint NOT NULL, product_id int NOT NULL, quantity int NOT NULL, unit_price numeric(10,2) NOT NULL)`,
    `CREATE TABLE media.assets (id int, customer_id bigint NOT NULL, file_name text NOT NULL, content_type text NOT NULL, content bytea NOT NULL)`,
    `CREATE TABLE audit.events (id bigint, at timestamptz NOT NULL, actor text NOT NULL, action text NOT NULL, payload jsonb NOT NULL)`,
  ];
  // Two independent groups, loaded on two connections in parallel.
  const load = [
    [
      `INSERT INTO hr.departments SELECT i, 'Department ' || i || ' – ' || (${first})[1 + i % 16], 100000 + i * 1000 FROM generate_series(1, 40) i`,
      `INSERT INTO hr.employees SELECT i, 1 + i % 40, CASE WHEN i > 40 THEN 1 + (i * 7) % 40 END,
         (${first})[1 + i % 16] || ' ' || (${last})[1 + (i / 16) % 14], 'employee' || i || '@example.com',
         date '2010-01-01' + (i % 5000), 30000 + (i * 37) % 90000 FROM generate_series(1, ${n(3000)}) i`,
      `INSERT INTO sales.customers SELECT i, (${first})[1 + i % 16] || ' ' || (${last})[1 + (i / 16) % 14],
         'customer' || i || '@example.' || (ARRAY['com','de','fr','jp','gr'])[1 + i % 5],
         (ARRAY['DE','FR','JP','GR','RU','CN','US','IL','VN','TR','NO','IS'])[1 + i % 12],
         timestamptz '2015-01-01' + make_interval(secs => i * 97),
         CASE WHEN i % 3 = 0 THEN 'Prefers e-mail ✉️; langue: français; 言語: 日本語 #' || i END
         FROM generate_series(1, ${n(120000)}) i`,
      `INSERT INTO sales.products SELECT i, 'SKU-' || lpad(i::text, 6, '0'), 'Product ' || i || ' «' || (${last})[1 + i % 14] || '»',
         repeat('Durable, well-made and reasonably priced. ', 1 + i % 5) || md5(i::text), (i % 500) + 0.99 FROM generate_series(1, ${n(10000)}) i`,
      `INSERT INTO media.assets SELECT i, 1 + (i * 13) % ${n(120000)}, 'scan-' || i || '.bin', 'application/octet-stream',
         decode((SELECT string_agg(md5(i::text || ':' || j), '') FROM generate_series(1, 256) j), 'hex') || decode(repeat('00ff', 2048), 'hex')
         FROM generate_series(1, ${n(3600)}) i`,
    ],
    [
      `INSERT INTO sales.orders SELECT i, 1 + (i::bigint * 7919) % ${n(120000)}, timestamptz '2019-01-01' + make_interval(secs => i * 53),
         (ARRAY['placed','paid','shipped','delivered','returned'])[1 + i % 5], ((i * 31) % 100000) / 100.0 FROM generate_series(1, ${n(320000)}) i`,
      `INSERT INTO sales.order_items SELECT o, l, 1 + (o * l * 17) % ${n(10000)}, 1 + (o + l) % 5, ((o * l) % 50000) / 100.0
         FROM generate_series(1, ${n(320000)}) o, generate_series(1, 2) l`,
      `INSERT INTO audit.events SELECT i, timestamptz '2020-01-01' + make_interval(secs => i * 11),
         (${first})[1 + i % 16], (ARRAY['login','update','export','delete'])[1 + i % 4],
         jsonb_build_object('ip', '10.' || (i % 256) || '.' || (i / 256 % 256) || '.1', 'ok', i % 7 <> 0, 'note', 'ünïcödé ✓ ' || i)
         FROM generate_series(1, ${n(140000)}) i`,
    ],
  ];
  const finish = [
    'ALTER TABLE hr.employees ADD PRIMARY KEY (id)',
    'ALTER TABLE sales.customers ADD PRIMARY KEY (id)',
    'ALTER TABLE sales.products ADD PRIMARY KEY (id)',
    'ALTER TABLE sales.orders ADD PRIMARY KEY (id)',
    'ALTER TABLE sales.order_items ADD PRIMARY KEY (order_id, line)',
    'ALTER TABLE media.assets ADD PRIMARY KEY (id)',
    'ALTER TABLE audit.events ADD PRIMARY KEY (id)',
    'ALTER TABLE hr.employees ADD FOREIGN KEY (department_id) REFERENCES hr.departments (id)',
    'ALTER TABLE hr.employees ADD FOREIGN KEY (manager_id) REFERENCES hr.employees (id)',
    'ALTER TABLE sales.orders ADD FOREIGN KEY (customer_id) REFERENCES sales.customers (id)',
    'ALTER TABLE sales.order_items ADD FOREIGN KEY (order_id) REFERENCES sales.orders (id)',
    'ALTER TABLE sales.order_items ADD FOREIGN KEY (product_id) REFERENCES sales.products (id)',
    'ALTER TABLE media.assets ADD FOREIGN KEY (customer_id) REFERENCES sales.customers (id)',
    'CREATE UNIQUE INDEX customers_email ON sales.customers (email)',
    'CREATE INDEX orders_customer ON sales.orders (customer_id, ordered_at)',
    "CREATE INDEX orders_open ON sales.orders (ordered_at) WHERE status IN ('placed', 'paid')",
    'CREATE UNIQUE INDEX products_sku ON sales.products (sku)',
    'CREATE INDEX events_payload ON audit.events USING gin (payload)',
    `CREATE VIEW sales.customer_totals AS SELECT c.id, c.full_name, count(o.id) AS orders, coalesce(sum(o.total), 0) AS total
       FROM sales.customers c LEFT JOIN sales.orders o ON o.customer_id = c.id GROUP BY c.id, c.full_name`,
    "COMMENT ON SCHEMA media IS 'Attachments: bytea, partly incompressible'",
    'ANALYZE',
  ];
  return { setup, load, finish };
}

/** Seeds the database `database` through `connect()` (two connections load in parallel). */
export async function seedSampleDatabase(connect: () => Client, options: SeedOptions = {}): Promise<SeedResult> {
  const started = Date.now();
  const { setup, load, finish } = seedStatements(options.scale ?? 1);
  const main = connect();
  await main.connect();
  try {
    for (const sql of setup) {
      await main.query(sql);
    }
    await Promise.all(
      load.map(async (group, i) => {
        const client = i === 0 ? main : connect();
        if (i !== 0) {
          await client.connect();
        }
        try {
          for (const sql of group) {
            await client.query(sql);
          }
        } finally {
          if (i !== 0) {
            await client.end();
          }
        }
      }),
    );
    for (const sql of finish) {
      await main.query(sql);
    }
    const stats = await main.query<{ bytes: string; tables: string; rows: string }>(
      `SELECT pg_database_size(current_database()) AS bytes, count(*) AS tables, sum(n_live_tup) AS rows
         FROM pg_stat_user_tables WHERE schemaname IN ('sales', 'hr', 'media', 'audit')`,
    );
    const row = stats.rows[0];
    return { databaseBytes: Number(row.bytes), tables: Number(row.tables), rows: Number(row.rows), seconds: (Date.now() - started) / 1000 };
  } finally {
    await main.end();
  }
}
