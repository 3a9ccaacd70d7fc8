import type { Client } from 'pg';

const USER_NAMESPACE = `nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'`;

/**
 * Every role that the database's own objects name as owner, as grantee or grantor of a privilege (tables,
 * columns, sequences, schemas, functions, types, large objects, default privileges, foreign data wrappers and
 * servers), or in a row-level security policy. pg_restore needs each of them to exist on the target to bring
 * the owners, privileges and policies back. Objects of extensions (pg_dump leaves them to CREATE EXTENSION)
 * and the predefined pg_* roles (present on every server) are left out.
 */
const REQUIRED_ROLES = `
  WITH own AS (
    SELECT c.oid, c.relowner AS owner, c.relacl AS acl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${USER_NAMESPACE} AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    UNION ALL SELECT p.oid, p.proowner, p.proacl FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${USER_NAMESPACE} AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL SELECT t.oid, t.typowner, t.typacl FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE ${USER_NAMESPACE} AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
    UNION ALL SELECT oid, nspowner, nspacl FROM pg_namespace WHERE ${USER_NAMESPACE}
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = pg_namespace.oid AND d.deptype = 'e')
    UNION ALL SELECT oid, lomowner, lomacl FROM pg_largeobject_metadata
    UNION ALL SELECT oid, defaclrole, defaclacl FROM pg_default_acl
    UNION ALL SELECT oid, fdwowner, fdwacl FROM pg_foreign_data_wrapper
    UNION ALL SELECT oid, srvowner, srvacl FROM pg_foreign_server
    UNION ALL SELECT a.attrelid, NULL, a.attacl FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE a.attacl IS NOT NULL AND ${USER_NAMESPACE}
    UNION ALL SELECT oid, collowner, NULL FROM pg_collation WHERE collnamespace IN (SELECT oid FROM pg_namespace WHERE ${USER_NAMESPACE})
    UNION ALL SELECT oid, conowner, NULL FROM pg_conversion WHERE connamespace IN (SELECT oid FROM pg_namespace WHERE ${USER_NAMESPACE})
    UNION ALL SELECT oid, oprowner, NULL FROM pg_operator WHERE oprnamespace IN (SELECT oid FROM pg_namespace WHERE ${USER_NAMESPACE})
    UNION ALL SELECT oid, stxowner, NULL FROM pg_statistic_ext
    UNION ALL SELECT oid, evtowner, NULL FROM pg_event_trigger
    UNION ALL SELECT oid, pubowner, NULL FROM pg_publication
  ), named(role) AS (
    SELECT owner FROM own WHERE owner IS NOT NULL
    UNION SELECT (aclexplode(acl)).grantee FROM own WHERE acl IS NOT NULL
    UNION SELECT (aclexplode(acl)).grantor FROM own WHERE acl IS NOT NULL
    UNION SELECT unnest(polroles) FROM pg_policy
  )
  SELECT DISTINCT r.rolname AS role FROM named JOIN pg_roles r ON r.oid = named.role
  WHERE NOT (r.oid < 16384 AND r.rolname LIKE 'pg\\_%')
  ORDER BY 1`;

/** The roles the database's objects name (REQUIRED_ROLES), in the client's current transaction. */
export async function requiredRoles(client: Client): Promise<string[]> {
  return (await client.query<{ role: string }>(REQUIRED_ROLES)).rows.map((row) => row.role);
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
