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
