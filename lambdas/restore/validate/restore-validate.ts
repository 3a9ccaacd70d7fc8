import type { S3Client } from '@aws-sdk/client-s3';
import { StrongboxError } from '../../../contracts/errors';
import { compareInventory, inventoryAsSource, isIncluded } from '../../../contracts/inventory';
import type { ResolvedRestore, ValidateResult } from '../../../contracts/payloads/restore';
import { describeMismatch, type Inventory, keys, ManifestSchema } from '../../../contracts/vault';
import { getJson } from '../../../contracts/vault-io';

/** The restored target does not hold what the manifest says was dumped. */
export class RestoreMismatchError extends StrongboxError {}

export interface ValidateDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  /** The target's inventory, taken with the engine adapter's own counting (the one the dump used). */
  readonly readInventory: (resolved: ResolvedRestore) => Promise<Inventory>;
}

/**
 * Compares the target's inventory with the manifest's, for the included objects only. Objects the target
 * held besides them are not this restore's business. Exact where the manifest is exact, otherwise within
 * `countTolerance`.
 */
export async function validateRestore(resolved: ResolvedRestore, deps: ValidateDeps): Promise<ValidateResult> {
  if (resolved.recovery) {
    return validateRecovered(resolved, deps);
  }
  const manifest = await getJson(deps.s3, deps.bucket, keys.manifest(resolved.backupId), ManifestSchema);
  if (!manifest) {
    throw new RestoreMismatchError(
      `The manifest of ${resolved.backupId} disappeared from the vault during the restore; nothing to compare with`,
    );
  }
  const actual = inventoryAsSource(await deps.readInventory(resolved), resolved.engine, resolved.sourceDatabase, resolved.target.database);
  // After a log replay the rows are those of the stop, not the dump's: the objects are checked, their counts cannot be.
  const replayed = (resolved.replay?.segmentIds.length ?? 0) > 0;
  const expected = replayed
    ? { exact: false, entries: manifest.value.inventory.entries.map(({ count: _count, ...entry }) => entry) }
    : manifest.value.inventory;
  const mismatches = compareInventory(expected, actual, { include: resolved.include, engine: resolved.engine });
  const compared = manifest.value.inventory.entries.filter((e) => isIncluded(e.name, resolved.include, resolved.engine)).length;
  if (mismatches.length > 0) {
    const lines = mismatches.map(describeMismatch);
    throw new RestoreMismatchError(
      `The restored target differs from the manifest of ${resolved.backupId} (${manifest.value.inventory.exact ? 'exact counts' : 'counts within tolerance'}):\n${lines.join('\n')}`,
    );
  }
  return { matched: true, compared, mismatches };
}

// --- PostgreSQL restore to an instant, an LSN or a restore point (issue #13 step 5) ---

/**
 * After a WAL recovery there is no manifest of what the target must hold: the task compared the target with the
 * recovered database itself (its inventory in pg_dump's snapshot, exact) and fails on any difference. Validate checks,
 * from its own connection, what the task cannot get wrong by agreeing with itself: every `include` name selects
 * something on the target (a misspelt one would recover and deliver nothing, and the counts would "match"). The
 * included objects it saw there are `compared`.
 */
async function validateRecovered(resolved: ResolvedRestore, deps: ValidateDeps): Promise<ValidateResult> {
  const recovery = resolved.recovery as NonNullable<ResolvedRestore['recovery']>;
  const actual = inventoryAsSource(await deps.readInventory(resolved), resolved.engine, resolved.sourceDatabase, resolved.target.database);
  const seen = actual.entries.filter((e) => isIncluded(e.name, resolved.include, resolved.engine));
  const mismatches = resolved.include
    .filter((name) => !actual.entries.some((e) => isIncluded(e.name, [name], resolved.engine)))
    .map((name) => ({ name, expected: null, actual: null, detail: 'selects nothing on the target after the recovery' }));
  if (mismatches.length > 0) {
    const lines = mismatches.map(describeMismatch);
    throw new RestoreMismatchError(
      `The target after the recovery of base ${recovery.baseId} (${describeRecoveryStop(recovery)}) is not what was asked for:\n${lines.join('\n')}`,
    );
  }
  return { matched: true, compared: seen.length, mismatches: [] };
}

function describeRecoveryStop(recovery: NonNullable<ResolvedRestore['recovery']>): string {
  const stop = recovery.stop;
  return stop.kind === 'instant' ? `instant ${stop.at}` : stop.kind === 'lsn' ? `LSN ${stop.lsn}` : `restore point "${stop.name}"`;
}
