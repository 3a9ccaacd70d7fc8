/**
 * The engines Strongbox knows, and the facts about them that every contract shares: the config schema, the
 * plan, the manifest, the payloads and the task environment all derive their `z.enum`s from these lists, so
 * adding an engine is one line here (plus its adapter in engines/<engine>/).
 */

export const ENGINES = ['postgres', 'mysql', 'mariadb', 'redis', 'mongodb'] as const;
export type Engine = (typeof ENGINES)[number];

/** Engines whose tools cannot connect without a user and password. Redis AUTH is optional. */
export const ENGINES_NEEDING_CREDENTIALS: readonly Engine[] = ['postgres', 'mysql', 'mariadb', 'mongodb'];

/**
 * Engines whose dump of one database may be restored under another database name (the dump does not carry the
 * name), so `include` and inventories are renamed between source and target.
 */
export const RENAMABLE_ENGINES: readonly Engine[] = ['mysql', 'mariadb'];

/** The port each engine listens on unless the config or a restore input says otherwise. */
export const DEFAULT_PORTS: Readonly<Record<Engine, number>> = { postgres: 5432, mysql: 3306, mariadb: 3306, redis: 6379, mongodb: 27017 };

/** How a connection uses TLS: `require` encrypts without checking the certificate, `verify-full` checks it and the host name. */
export const TLS_MODES = ['disable', 'require', 'verify-full'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** How Redis is dumped: `rdb` needs SYNC, `logical` uses SCAN + DUMP, `auto` tries rdb first. */
export const REDIS_MODES = ['auto', 'rdb', 'logical'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

/**
 * The name rule of a database (and of a DR plan): it appears in vault keys, schedule names, metric dimensions
 * and alarm names, so it is kept to what all of those accept. The source is shared so that patterns embedding
 * a name (backupIds, vault keys) cannot drift from it.
 */
export const NAME_SOURCE = '[a-z][a-z0-9-]{0,39}';
export const DATABASE_NAME = new RegExp(`^${NAME_SOURCE}$`);

/**
 * What a restore input may say for each engine, as data, so Resolve and Guard read one table instead of
 * branching on the engine name. The wording goes into the refusals verbatim.
 */
export interface RestoreRules {
  /** `target.database`: required (PostgreSQL restores into an existing database), forbidden (Redis), or optional. */
  readonly targetDatabase:
    | { readonly rule: 'required'; readonly why: string }
    | { readonly rule: 'forbidden'; readonly why: string }
    | { readonly rule: 'optional' };
  /** How `include` names are shaped: `qualified` ("a" or "a.b" identifiers) or `glob` (Redis key patterns). */
  readonly include: { readonly kind: 'qualified' | 'glob'; readonly shape: string; readonly noun: string };
  /** The longest identifier the engine keeps, for target.database and each part of an include name. */
  readonly identifierLimit?: { readonly unit: 'bytes' | 'characters'; readonly max: number };
  /** The backup records owners, privileges and role definitions (privileges, roles options; Guard's role check). */
  readonly roles: boolean;
  /** The backup's objects run as DEFINER accounts (the definers option). */
  readonly definers: boolean;
}

export const POSTGRES_IDENTIFIER = { unit: 'bytes', max: 63 } as const;
export const MYSQL_IDENTIFIER = { unit: 'characters', max: 64 } as const;
const MYSQL_RULES: RestoreRules = {
  targetDatabase: { rule: 'optional' },
  include: { kind: 'qualified', shape: '"database" or "database.table", such as "shop.orders"', noun: 'a database or database.table' },
  identifierLimit: MYSQL_IDENTIFIER,
  roles: false,
  definers: true,
};

export const RESTORE_RULES: Readonly<Record<Engine, RestoreRules>> = {
  postgres: {
    targetDatabase: { rule: 'required', why: 'the name of an existing database to restore into (pg_restore --dbname)' },
    include: { kind: 'qualified', shape: '"schema" or "schema.table", such as "public.orders"', noun: 'a schema or schema.table' },
    identifierLimit: POSTGRES_IDENTIFIER,
    roles: true,
    definers: false,
  },
  mysql: MYSQL_RULES,
  mariadb: MYSQL_RULES,
  redis: {
    targetDatabase: {
      rule: 'forbidden',
      why: 'no database for redis: keys go back into the logical databases (db0, db1, ...) they were dumped from',
    },
    include: { kind: 'glob', shape: 'a key glob pattern without spaces, such as "session:*"', noun: 'a database or database.table' },
    roles: false,
    definers: false,
  },
  mongodb: {
    targetDatabase: { rule: 'optional' },
    include: { kind: 'qualified', shape: '"database" or "database.table", such as "shop.orders"', noun: 'a database or database.table' },
    roles: false,
    definers: false,
  },
};
