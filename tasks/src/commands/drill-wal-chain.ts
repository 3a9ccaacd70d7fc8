import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareInventory } from '../../../contracts/inventory';
import { TASK_ENV, TaskEnvError } from '../../../contracts/task-env';
import type { DrillRecord, Manifest, Mismatch } from '../../../contracts/vault';
import { type BaseBackupManifest, baseKeys, parseLsn } from '../../../contracts/wal';
import type { Check } from '../../../engines/engine';
import { postgres } from '../../../engines/postgres/adapter';
import { PG_BIN } from '../../../engines/postgres/bin';
import { userIds } from '../../../engines/process';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import { openObject } from '../stream/download';
import type { TaskDeps } from './backup';
import { recoverBase } from './recover-postgres';

/** Runs a PostgreSQL tool as the server's user (it reads the server's files); resolves to its exit code and output tail. */
async function runPgTool(tool: string, args: readonly string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(join(PG_BIN, tool), args, { stdio: ['ignore', 'pipe', 'pipe'], ...userIds('postgres') });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output: output.trim() };
}

/**
 * The LSN a logical dump recorded, which the chain drill recovers its base to; refused before anything runs when the
 * dump is not PostgreSQL's or recorded none (Prepare pairs only dumps with an LSN).
 */
export function chainDrillLsn(manifest: Manifest): string {
  const lsn = manifest.position?.lsn;
  if (manifest.engine.name !== 'postgres' || !lsn) {
    throw new TaskEnvError(
      `${TASK_ENV.recoveryBaseId}: set, but ${manifest.backupId} records no PostgreSQL LSN; the chain drill needs a PostgreSQL dump with its snapshot's LSN (unset ${TASK_ENV.recoveryBaseId} to drill the dump alone)`,
    );
  }
  parseLsn(lsn);
  return lsn;
}

export interface WalChainOutcome {
  readonly passed: boolean;
  /** pg_verifybackup, recovery, pg_amcheck, as far as the drill got. */
  readonly checks: readonly Check[];
  readonly recovery: NonNullable<DrillRecord['recovery']>;
}

/**
 * The chain drill (issue #13): two independent backup methods must agree to the row. The logical dump `manifest`
 * recorded the LSN of its snapshot; the base `baseId` plus the archived WAL is recovered to exactly that LSN inside
 * this task, counted exactly, and compared with the dump's exact inventory. pg_verifybackup checks the extracted base
 * against PostgreSQL's own backup_manifest before recovery touches it, and pg_amcheck checks the recovered cluster's
 * indexes and heap. A tampered WAL file fails its checksum on the way to restore_command, so the recovery, and with
 * it the drill, fails. Every failure is recorded in the outcome rather than thrown: the caller writes drill.json.
 */
export async function drillWalChain(settings: TaskSettings, deps: TaskDeps, manifest: Manifest, baseId: string): Promise<WalChainOutcome> {
  const env = settings.env;
  const lsn = chainDrillLsn(manifest);
  const checks: Check[] = [];
  let mismatches: Mismatch[] = [];
  let verifybackup: WalChainOutcome['recovery']['verifybackup'];
  let amcheck: WalChainOutcome['recovery']['amcheck'];
  let verifySeconds = 0;
  const verifyBase = async (data: string, base: BaseBackupManifest) => {
    const started = Date.now();
    const s3 = await deps.s3();
    const { body } = await openObject(s3, env.STRONGBOX_VAULT_BUCKET, baseKeys.backupManifest(base.baseId));
    const stored = join(data, '..', 'backup_manifest.stored');
    writeFileSync(stored, Buffer.concat(await body.toArray()), { mode: 0o644 });
    // -n: the WAL is checked by replaying it, not by pg_waldump over a directory this task does not keep.
    const verified = await runPgTool('pg_verifybackup', ['-n', '-m', stored, data]);
    rmSync(stored, { force: true });
    verifybackup = { passed: verified.code === 0, detail: verified.output.split('\n').at(-1) ?? '' };
    checks.push({ name: 'pg_verifybackup', ...verifybackup });
    verifySeconds = (Date.now() - started) / 1000;
  };
  const started = Date.now();
  let recoverySeconds = 0;
  let walFiles: readonly string[] = [];
  let reachedLsn: string | undefined;
  try {
    const run = await recoverBase(settings, deps, baseId, { kind: 'lsn', lsn }, verifyBase);
    // The recovery as a restore to this instant would pay it: the drill's own pg_verifybackup is left out.
    recoverySeconds = Math.max(0, (Date.now() - started) / 1000 - verifySeconds);
    walFiles = run.server.fetched;
    reachedLsn = run.server.reached.lsn;
    try {
      checks.push({ name: 'recovery', passed: true, detail: `${baseId} recovered to ${lsn} with ${walFiles.length} WAL files` });
      const database = env.STRONGBOX_DB_NAME ?? 'postgres';
      const actual = await postgres.inventory({ ...run.server.connection, database });
      mismatches = compareInventory(manifest.inventory, actual, { engine: 'postgres', extrasAreMismatches: true });
      const { host, port, username } = run.server.connection;
      const checked = await runPgTool('pg_amcheck', [
        '-h',
        host,
        '-p',
        String(port),
        '-U',
        username ?? 'postgres',
        '--install-missing',
        '--heapallindexed',
        database,
      ]);
      amcheck = {
        passed: checked.code === 0,
        detail: checked.code === 0 ? 'no corruption found' : checked.output.split('\n').slice(-3).join(' '),
      };
      checks.push({ name: 'pg_amcheck', ...amcheck });
    } finally {
      await run.server.stop();
    }
  } catch (error) {
    recoverySeconds = Math.max(0, (Date.now() - started) / 1000 - verifySeconds);
    checks.push({ name: 'recovery', passed: false, detail: (error instanceof Error ? error.message : String(error)).slice(0, 2000) });
  }
  const passed = mismatches.length === 0 && checks.every((c) => c.passed);
  logLine(passed ? 'info' : 'error', passed ? 'chain drill passed' : 'chain drill failed', {
    backupId: manifest.backupId,
    baseId,
    lsn,
    walFiles: walFiles.length,
    mismatches: mismatches.length,
  });
  return {
    passed,
    checks,
    recovery: {
      baseId,
      targetLsn: lsn,
      ...(reachedLsn && { reachedLsn }),
      walFiles: [...walFiles],
      ...(verifybackup && { verifybackup }),
      ...(amcheck && { amcheck }),
      mismatches,
      recoverySeconds: Math.round(recoverySeconds * 1000) / 1000,
    },
  };
}
