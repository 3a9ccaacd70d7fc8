import { RESTORE_RULES } from '../../../contracts/engines';
import { RestoreRefusedError } from '../../../contracts/errors';
import type { GuardResult, ResolvedRestore } from '../../../contracts/payloads/restore';
import type { Plan } from '../../../contracts/plan';
import { sourceRefusal } from '../../../contracts/refusals';

export interface GuardDeps {
  readonly plan: Plan;
  /**
   * Addresses a host name resolves to; lets the guard see that "orders-replica.internal" and the source are the
   * same server behind two names. Left out, only the names are compared.
   */
  readonly lookup?: (host: string) => Promise<readonly string[]>;
  /**
   * Refuses a target that already holds what would be restored (throws TargetNotEmptyError, whose message is
   * the refusal). Left out, only the source check runs; the restore task repeats this check right before it
   * writes, so the window between the two is covered.
   */
  readonly checkTarget?: (resolved: ResolvedRestore) => Promise<void>;
  /**
   * PostgreSQL: refuses a target that lacks roles the backup's owners and privileges name (throws
   * MissingRolesError). Runs whatever `overwrite` says; see `needsRoleCheck`.
   */
  readonly checkRoles?: (resolved: ResolvedRestore) => Promise<void>;
  /**
   * MySQL/MariaDB: the DEFINER accounts the backup needs and the target lacks (engines/target-guard.ts
   * checkDefiners); throws MissingDefinersError, whose message is the refusal, unless the input said
   * `definers: "ignore"`. Left out, definers are not checked here (the task checks them before it writes).
   */
  readonly checkDefiners?: (resolved: ResolvedRestore) => Promise<string[]>;
}

/**
 * PostgreSQL restoring owners and privileges (privileges not "skip"): the roles must exist, or, with
 * roles "create", the backup must store their definitions.
 */
export function needsRoleCheck(resolved: ResolvedRestore): boolean {
  return RESTORE_RULES[resolved.engine].roles && resolved.privileges !== 'skip';
}

/**
 * Refuses a restore onto the database's own source connection, or into a target that already holds what would
 * be restored, unless the input carries overwrite:true AND confirm equal to the database name. Both refusals
 * happen here, before the task starts, so the console shows the reason as this state's cause; the task checks
 * the target again before its first write (engines/target-guard.ts, the same code and wording). MySQL/MariaDB
 * targets that lack a DEFINER account of the backup are refused too, unless `definers: "ignore"`; the accounts
 * then go into the result as `ignoredDefiners`, for the audit record and chat.
 */
export async function guardRestore(resolved: ResolvedRestore, deps: GuardDeps): Promise<GuardResult> {
  const source = deps.plan.databases[resolved.database]?.connection;
  const sameAsSource = source !== undefined && (await sameConnection(source, resolved.target, deps.lookup));
  if (sameAsSource && !resolved.overwriteConfirmed) {
    throw new RestoreRefusedError(sourceRefusal(resolved.database, resolved.target));
  }
  if (!resolved.overwriteConfirmed && deps.checkTarget) {
    await refuseOn('TargetNotEmptyError', () => deps.checkTarget!(resolved));
  }
  if (deps.checkRoles && needsRoleCheck(resolved)) {
    await refuseOn('MissingRolesError', () => deps.checkRoles!(resolved));
  }
  const ignoredDefiners = await definersOnTarget(resolved, deps);
  return {
    sameAsSource,
    decision: resolved.overwriteConfirmed ? 'overwrite-confirmed' : 'fresh-target',
    ...(ignoredDefiners.length > 0 && { ignoredDefiners }),
  };
}

/** Runs whether or not overwrite was confirmed: overwriting does not make a DEFINER account exist. */
async function definersOnTarget(resolved: ResolvedRestore, deps: GuardDeps): Promise<string[]> {
  if (!deps.checkDefiners) {
    return [];
  }
  try {
    return await deps.checkDefiners(resolved);
  } catch (error) {
    if (error instanceof Error && error.name === 'MissingDefinersError') {
      throw new RestoreRefusedError(error.message);
    }
    throw error;
  }
}

/** Runs a target check; its refusal (an error named `name`) becomes the Guard's RestoreRefusedError with its words. */
async function refuseOn(name: string, check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (error) {
    if (error instanceof Error && error.name === name) {
      throw new RestoreRefusedError(error.message);
    }
    throw error;
  }
}

interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly database?: string;
}

async function sameConnection(source: Endpoint, target: Endpoint, lookup?: GuardDeps['lookup']): Promise<boolean> {
  if (source.port !== target.port) {
    return false;
  }
  // Another database on the same server is a different target; a source without a database name (MySQL
  // "all databases", Redis) covers the whole server.
  if (source.database !== undefined && target.database !== undefined && source.database !== target.database) {
    return false;
  }
  const a = normalise(source.host);
  const b = normalise(target.host);
  if (a === b || (isLoopback(a) && isLoopback(b))) {
    return true;
  }
  if (!lookup) {
    return false;
  }
  const [left, right] = await Promise.all([lookup(a).catch((): string[] => []), lookup(b).catch((): string[] => [])]);
  return left.some((address) => right.includes(address));
}

function normalise(host: string): string {
  return host.trim().toLowerCase().replace(/\.$/, '');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
