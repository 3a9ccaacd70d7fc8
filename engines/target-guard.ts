import { type Engine, RESTORE_RULES } from '../contracts/engines';
import { nonEmptyRefusal } from '../contracts/refusals';
import type { Connection } from './connection';
import { type EngineAdapter, TargetNotEmptyError } from './engine';
import { missingDefiners } from './mysql/adapter';
import { missingRoles } from './postgres/adapter';

/**
 * The half of the restore guard that needs a connection to the target: before anything is written, a restore
 * into a target that already holds any of the objects being restored is refused, unless the workflow set
 * STRONGBOX_RESTORE_OVERWRITE (only ever "true" when the input had overwrite:true AND confirm equal to the
 * database name). The wording is the Guard Lambda's (contracts/payloads/restore.ts).
 */
export interface TargetGuardOptions {
  /** The Strongbox database name, as the input's confirm must spell it. */
  readonly database: string;
  /** The engine as configured; what counts as "in the way" is the adapter's (targetHoldsData). */
  readonly engine: string;
  readonly adapter: Pick<EngineAdapter, 'targetHoldsData'>;
  readonly connection: Connection;
  readonly include: readonly string[];
  readonly overwrite: boolean;
}

export async function assertTargetWritable(options: TargetGuardOptions): Promise<void> {
  if (options.overwrite) {
    return;
  }
  const found = await options.adapter.targetHoldsData(options.connection, options.include);
  if (found) {
    throw new TargetNotEmptyError(nonEmptyRefusal(options.database, { ...options.connection }, found));
  }
}

// ---- PostgreSQL roles ------------------------------------------------------------------------------------

/** A PostgreSQL target lacks roles that the backup's owners, grants and policies name. */
export class MissingRolesError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'MissingRolesError';
  }
}

export interface RoleGuardOptions {
  /** The Strongbox database name, for the message. */
  readonly database: string;
  readonly connection: Connection;
  /** manifest.requires.roles: every role the backup's owners, ACLs and policies name. */
  readonly required: readonly string[];
  /** The input said `roles: "create"`. */
  readonly create: boolean;
  /** The backup has a roles artifact (manifest.roles) to create them from. */
  readonly rolesStored: boolean;
}

/**
 * The PostgreSQL half of the guard for a restore that brings owners and privileges back (the default): the
 * roles they name must exist on the target, or pg_restore fails part way. Returns the missing roles when
 * they are to be created from the backup's stored definitions; refuses with their names otherwise.
 */
export async function assertRolesPresent(options: RoleGuardOptions): Promise<string[]> {
  const missing = await missingRoles(options.connection, options.required);
  if (missing.length === 0 || (options.create && options.rolesStored)) {
    return missing;
  }
  throw new MissingRolesError(missingRolesRefusal(options.database, options.connection, missing, options.create));
}

export function missingRolesRefusal(
  database: string,
  target: { host: string; port: number; database?: string },
  missing: readonly string[],
  create: boolean,
): string {
  const where = `${target.host}:${target.port}${target.database ? `/${target.database}` : ''}`;
  const lacks = `Refusing to restore "${database}" into ${where}: the target lacks ${missing.length} role${missing.length === 1 ? '' : 's'} that the backup's owners and privileges name: ${missing.join(', ')}.`;
  return create
    ? `${lacks} This backup stores no role definitions to create them from (it was taken before Strongbox stored them); create them on the target first, or set "privileges": "skip" to restore without owners and privileges.`
    : `${lacks} Create them first (the backup's roles.sql.zst holds their definitions; see the README), set "roles": "create" to create them from it, or set "privileges": "skip" to restore without owners and privileges.`;
}

// ---- MySQL/MariaDB DEFINER accounts ------------------------------------------------------------------

/** The target lacks DEFINER accounts the backup's objects run as, and the input did not say `definers: "ignore"`. */
export class MissingDefinersError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'MissingDefinersError';
  }
}

export interface DefinerGuardOptions {
  /** The Strongbox database name. */
  readonly database: string;
  readonly engine: Engine;
  readonly connection: Connection;
  /** The manifest's `requires.definers`; undefined for backups written before they were recorded. */
  readonly definers: readonly string[] | undefined;
  readonly mode: 'require' | 'ignore';
}

/**
 * MySQL/MariaDB: the DEFINER accounts of the backup's views, triggers, routines and events that the target
 * lacks. Those objects restore without them but fail when used, so a restore is refused before it writes,
 * naming the accounts, unless `mode` is "ignore"; then the missing accounts are returned for the audit record.
 * Runs whether or not overwrite was confirmed: overwriting does not make an account exist.
 */
export async function checkDefiners(options: DefinerGuardOptions): Promise<string[]> {
  if (!RESTORE_RULES[options.engine].definers || !options.definers?.length) {
    return [];
  }
  let missing: string[];
  try {
    missing = await missingDefiners(options.connection, options.definers);
  } catch (error) {
    if (options.mode === 'ignore') {
      // Unknown which are missing: the audit record names every account the objects need.
      return [...options.definers];
    }
    throw new MissingDefinersError(`${(error as Error).message}, or set "definers": "ignore" in the input to restore without checking`);
  }
  if (missing.length > 0 && options.mode === 'require') {
    throw new MissingDefinersError(definerRefusal(options.database, options.connection, missing));
  }
  return missing;
}

function definerRefusal(database: string, target: { host: string; port: number; database?: string }, missing: readonly string[]): string {
  const where = `${target.host}:${target.port}${target.database ? `/${target.database}` : ''}`;
  const accounts = missing.length === 1 ? 'the DEFINER account' : 'the DEFINER accounts';
  return `Refusing to restore "${database}" into ${where}: the target lacks ${accounts} ${missing.join(', ')} that the backup's views, triggers, routines or events run as; they would be created but fail when used. Create ${missing.length === 1 ? 'it' : 'them'} on the target first, or set "definers": "ignore" in the input to restore anyway.`;
}
