import type { Client } from 'pg';

/**
 * A PostgreSQL database that uses what real schemas use and a restore must bring back: several schemas (one
 * named with spaces and capitals), an extension, domains, enums, composite types, generated, identity and
 * serial columns, a partitioned table, foreign keys, check and exclusion constraints, unique, partial and
 * expression indexes, triggers and their functions, row-level security policies, GRANT/REVOKE on schemas,
 * tables, columns, sequences and functions, ALTER DEFAULT PRIVILEGES, REVOKE ... FROM PUBLIC, comments, a
 * view, a populated and a WITH NO DATA materialized view, a shared sequence, a large object, and roles that
 * own objects. Roles are cluster-wide: create the database on a server that does not have them yet.
 */
export const FIDELITY_ROLES = ['app_owner', 'app_reader', 'app_writer'] as const;

export const FIDELITY_SCHEMA = `
CREATE ROLE app_owner NOLOGIN;
CREATE ROLE app_reader NOLOGIN;
CREATE ROLE app_writer LOGIN PASSWORD 'writer-secret' IN ROLE app_reader;
CREATE EXTENSION citext;
CREATE SCHEMA inventory AUTHORIZATION app_owner;
CREATE SCHEMA billing;
CREATE SCHEMA audit;
CREATE SCHEMA "Sales Data";
COMMENT ON SCHEMA billing IS 'Money; handle with care';
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO app_reader;
GRANT USAGE ON SCHEMA inventory TO app_reader;
GRANT USAGE, CREATE ON SCHEMA billing TO app_writer;
CREATE DOMAIN public.year AS integer CHECK (VALUE >= 1901 AND VALUE <= 2155);
CREATE TYPE public.mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE TYPE inventory.dimensions AS (width numeric, height numeric, depth numeric);
CREATE FUNCTION public.touch_last_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.last_update := now(); RETURN NEW; END $$;
CREATE FUNCTION billing.net(amount numeric, rate numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT round(amount / (1 + rate), 2) $$;
REVOKE EXECUTE ON FUNCTION billing.net(numeric, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION billing.net(numeric, numeric) TO app_reader;
CREATE TABLE public.language (language_id serial PRIMARY KEY, name citext NOT NULL UNIQUE);
CREATE TABLE public.film (
  film_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  title text NOT NULL,
  release_year public.year,
  rating public.mpaa_rating DEFAULT 'G',
  language_id integer NOT NULL REFERENCES public.language,
  length_minutes integer CHECK (length_minutes > 0),
  length_hours numeric GENERATED ALWAYS AS (round(length_minutes / 60.0, 2)) STORED,
  last_update timestamptz NOT NULL DEFAULT '2026-01-01 00:00:00+00'
);
CREATE INDEX film_title_lower_idx ON public.film (lower(title));
CREATE UNIQUE INDEX film_title_year_uq ON public.film (title, release_year) WHERE release_year IS NOT NULL;
CREATE TRIGGER film_last_update BEFORE UPDATE ON public.film FOR EACH ROW EXECUTE FUNCTION public.touch_last_update();
ALTER TABLE public.film ENABLE ROW LEVEL SECURITY;
CREATE POLICY film_readable ON public.film FOR SELECT TO app_reader USING (rating <> 'NC-17');
GRANT SELECT ON public.film TO app_reader;
GRANT INSERT (title, release_year, rating, language_id), UPDATE (title) ON public.film TO app_writer;
COMMENT ON TABLE public.film IS 'Films in the catalogue';
COMMENT ON COLUMN public.film.length_hours IS 'derived from length_minutes';
CREATE TABLE public.film_category (film_id integer NOT NULL REFERENCES public.film, category text NOT NULL, PRIMARY KEY (film_id, category));
CREATE TABLE public.film_festival (id int PRIMARY KEY, name text);
CREATE TABLE inventory.item (
  item_id bigserial PRIMARY KEY,
  film_id integer NOT NULL REFERENCES public.film,
  size inventory.dimensions,
  during tstzrange NOT NULL,
  EXCLUDE USING gist (during WITH &&)
);
ALTER TABLE inventory.item OWNER TO app_owner;
CREATE TABLE billing.payment (
  payment_id bigint NOT NULL,
  paid_at date NOT NULL,
  amount numeric(10, 2) NOT NULL CHECK (amount >= 0),
  PRIMARY KEY (payment_id, paid_at)
) PARTITION BY RANGE (paid_at);
CREATE TABLE billing.payment_2025 PARTITION OF billing.payment FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE billing.payment_2026 PARTITION OF billing.payment FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX payment_amount_idx ON billing.payment (amount);
CREATE SEQUENCE billing.invoice_no START 1000 INCREMENT 7;
GRANT USAGE ON SEQUENCE billing.invoice_no TO app_writer;
CREATE TABLE billing.invoice (invoice_no bigint PRIMARY KEY DEFAULT nextval('billing.invoice_no'), total numeric NOT NULL);
ALTER DEFAULT PRIVILEGES IN SCHEMA billing GRANT SELECT ON TABLES TO app_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA inventory GRANT SELECT ON TABLES TO app_reader;
CREATE TABLE audit.log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT '2026-01-01 00:00:00+00', what jsonb);
REVOKE ALL ON audit.log FROM PUBLIC;
CREATE TABLE "Sales Data"."Order Lines" ("Line No" int PRIMARY KEY, note text);
CREATE VIEW public.film_list AS SELECT f.film_id, f.title, l.name AS language FROM public.film f JOIN public.language l USING (language_id);
GRANT SELECT ON public.film_list TO app_reader;
CREATE MATERIALIZED VIEW public.rating_counts AS SELECT rating, count(*) AS n FROM public.film GROUP BY rating;
CREATE MATERIALIZED VIEW public.rating_counts_later AS SELECT rating, count(*) AS n FROM public.film GROUP BY rating WITH NO DATA;
INSERT INTO public.language (name) VALUES ('English'), ('Deutsch'), ('Français');
INSERT INTO public.film (title, release_year, rating, language_id, length_minutes)
  SELECT 'Film ' || i, 1950 + i % 70, (ARRAY['G','PG','PG-13','R','NC-17']::public.mpaa_rating[])[1 + i % 5], 1 + i % 3, 60 + i % 120
  FROM generate_series(1, 500) i;
INSERT INTO public.film_category SELECT film_id, 'cat' || (film_id % 4) FROM public.film;
INSERT INTO public.film_festival VALUES (1, 'Berlinale'), (2, 'Cannes');
INSERT INTO inventory.item (film_id, size, during)
  SELECT 1 + i % 500, ROW(i, i * 2, 1)::inventory.dimensions,
         tstzrange(timestamptz '2026-01-01' + make_interval(days => i), timestamptz '2026-01-01' + make_interval(days => i + 1))
  FROM generate_series(1, 300) i;
INSERT INTO billing.payment SELECT i, DATE '2025-06-01' + (i % 400), i * 1.5 FROM generate_series(1, 600) i;
INSERT INTO billing.invoice (total) SELECT i * 10 FROM generate_series(1, 25) i;
INSERT INTO audit.log (what) SELECT jsonb_build_object('n', i) FROM generate_series(1, 40) i;
INSERT INTO "Sales Data"."Order Lines" SELECT i, 'line ' || i FROM generate_series(1, 12) i;
REFRESH MATERIALIZED VIEW public.rating_counts;
DO $$ DECLARE lo oid; BEGIN lo := lo_from_bytea(0, 'large object payload'::bytea); EXECUTE format('ALTER LARGE OBJECT %s OWNER TO app_owner', lo); END $$;
`;

/** The base tables of FIDELITY_SCHEMA, as the inventory names them (partitions, not their parent). */
export const FIDELITY_TABLES = [
  'Sales Data.Order Lines',
  'audit.log',
  'billing.invoice',
  'billing.payment_2025',
  'billing.payment_2026',
  'inventory.item',
  'public.film',
  'public.film_category',
  'public.film_festival',
  'public.language',
] as const;

/**
 * md5 of every row of `table` in a fixed order: equal checksums mean equal data. `order by` the row's text
 * form (every table here has a key, so rows are distinct).
 */
export async function tableChecksum(client: Client, table: string): Promise<string> {
  const [schema, name] = [table.slice(0, table.indexOf('.')), table.slice(table.indexOf('.') + 1)];
  const ident = `"${schema.replace(/"/g, '""')}"."${name.replace(/"/g, '""')}"`;
  const result = await client.query<{ sum: string | null; n: string }>(
    `SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS sum, count(*) AS n FROM ${ident} t`,
  );
  return `${result.rows[0].n}:${result.rows[0].sum}`;
}

/**
 * The privileges and owners of everything in the database, like psql's \dp, \dn+, \df+, \ddp and \dl: one row
 * per object with its owner and ACL (and column ACLs), in a fixed order. An ACL that equals the built-in
 * default is shown as that default: \`REVOKE ALL ON t FROM PUBLIC\` on a table turns a NULL ACL into the
 * explicit default, which pg_dump (rightly) does not repeat, so source and restore differ only in spelling.
 */
export const ACL_QUERY = `
  SELECT 'relation ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text AS object, pg_get_userbyid(c.relowner) AS owner, coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))::text AS acl,
         (SELECT string_agg(a.attname || '=' || a.attacl::text, ' ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL) AS columns,
         c.relrowsecurity::text AS rls
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  UNION ALL SELECT 'schema ' || nspname, pg_get_userbyid(nspowner), coalesce(nspacl, acldefault('n', nspowner))::text, NULL, NULL FROM pg_namespace
   WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
  UNION ALL SELECT 'function ' || p.oid::regprocedure::text, pg_get_userbyid(p.proowner), coalesce(p.proacl, acldefault('f', p.proowner))::text, NULL, NULL
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  UNION ALL SELECT 'type ' || t.oid::regtype::text, pg_get_userbyid(t.typowner), coalesce(t.typacl, acldefault('T', t.typowner))::text, NULL, NULL
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND (t.typtype IN ('d', 'e') OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  UNION ALL SELECT 'default ' || defaclobjtype::text || ' for ' || pg_get_userbyid(defaclrole) || ' in ' || coalesce(defaclnamespace::regnamespace::text, '*'), NULL, defaclacl::text, NULL, NULL FROM pg_default_acl
  UNION ALL SELECT 'policy ' || polrelid::regclass::text || ' ' || polname, NULL, (SELECT string_agg(r::regrole::text, ',' ORDER BY r::regrole::text) FROM unnest(polroles) r), pg_get_expr(polqual, polrelid), NULL FROM pg_policy
  UNION ALL SELECT 'large object', pg_get_userbyid(lomowner), coalesce(lomacl, acldefault('L', lomowner))::text, NULL, NULL FROM pg_largeobject_metadata
  ORDER BY 1`;
