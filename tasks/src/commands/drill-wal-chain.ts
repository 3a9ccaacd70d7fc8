import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DrillFailedError } from '../../../contracts/errors';
import { compareInventory } from '../../../contracts/inventory';
import { TASK_ENV, TaskEnvError } from '../../../contracts/task-env';
import { describeMismatch, type Mismatch } from '../../../contracts/vault';
import { type BaseBackupManifest, baseKeys } from '../../../contracts/wal';
import type { Check } from '../../../engines/engine';
import { postgres } from '../../../engines/postgres/adapter';
import { userIds } from '../../../engines/process';
import type { TaskSettings } from '../env';
import { logLine } from '../log';
import { openObject } from '../stream/download';
import type { TaskDeps } from './backup';
import { recoverBase } from './recover-postgres';
import { loadManifest } from './restore';

const PG_BIN = process.env.STRONGBOX_PG_BIN ?? '/usr/lib/postgresql/15/bin';

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
 * The chain drill (issue #13): two independent backup methods must agree to the row. The logical dump STRONGBOX_BACKUP_ID
 * recorded the LSN of its snapshot; the base STRONGBOX_RECOVERY_BASE_ID plus the archived WAL is recovered to exactly
 * that LSN inside this task, counted exactly, and compared with the dump's exact inventory. pg_verifybackup checks the
 * extracted base against PostgreSQL's own backup_manifest before recovery touches it, and pg_amcheck checks the
 * recovered cluster's indexes and heap. A tampered WAL file fails its checksum on the way to restore_command, so the
 * recovery, and with it the drill, fails.
 *
 * Kept apart from the logical drill (drill.ts): nothing is written to the vault here beyond what the caller records;
 * the result lists the checks as drill.json does.
 */
export async function runWalChainDrill(settings: TaskSettings, deps: TaskDeps): Promise<Record<string, unknown>> {
  const env = settings.env;
  const backupId = env.STRONGBOX_BACKUP_ID;
  const baseId = env.STRONGBOX_RECOVERY_BASE_ID;
  if (!backupId || !baseId) {
    throw new TaskEnvError(`${TASK_ENV.backupId}: not set; the chain drill compares the base ${baseId} with a logical backup`);
  }
  const manifest = await loadManifest(deps, env.STRONGBOX_VAULT_BUCKET, backupId);
  const lsn = manifest.position?.lsn;
  if (manifest.engine.name !== 'postgres' || !lsn) {
    throw new TaskEnvError(
      `${TASK_ENV.backupId}: ${backupId} records no PostgreSQL LSN; the chain drill needs a PostgreSQL dump with its snapshot's LSN`,
    );
  }
  const started = Date.now();
  const checks: Check[] = [];
  let mismatches: Mismatch[] = [];
  const verifyBase = async (data: string, base: BaseBackupManifest) => {
    const s3 = await deps.s3();
    const { body } = await openObject(s3, env.STRONGBOX_VAULT_BUCKET, baseKeys.backupManifest(base.baseId));
    const stored = join(data, '..', 'backup_manifest.stored');
    writeFileSync(stored, Buffer.concat(await body.toArray()), { mode: 0o644 });
    // -n: the WAL is checked by replaying it, not by pg_waldump over a directory this task does not keep.
    const verified = await runPgTool('pg_verifybackup', ['-n', '-m', stored, data]);
    rmSync(stored, { force: true });
    checks.push({ name: 'pg_verifybackup', passed: verified.code === 0, detail: verified.output.split('\n').at(-1) ?? '' });
  };
  let recoverySeconds = 0;
  try {
    const run = await recoverBase(settings, deps, baseId, { kind: 'lsn', lsn }, verifyBase);
    recoverySeconds = run.server.recoverySeconds;
    try {
      checks.push({ name: 'recovery', passed: true, detail: `${baseId} recovered to ${lsn} with ${run.server.fetched.length} WAL files` });
      const database = env.STRONGBOX_DB_NAME ?? 'postgres';
      const actual = await postgres.inventory({ ...run.server.connection, database });
      mismatches = compareInventory(manifest.inventory, actual, { engine: 'postgres', extrasAreMismatches: true });
      const { host, port, username } = run.server.connection;
      const amcheck = await runPgTool('pg_amcheck', [
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
      checks.push({
        name: 'pg_amcheck',
        passed: amcheck.code === 0,
        detail: amcheck.code === 0 ? 'no corruption found' : amcheck.output.split('\n').slice(-3).join(' '),
      });
    } finally {
      await run.server.stop();
    }
  } catch (error) {
    checks.push({ name: 'recovery', passed: false, detail: (error instanceof Error ? error.message : String(error)).slice(0, 2000) });
  }
  const passed = mismatches.length === 0 && checks.every((c) => c.passed);
  const seconds = (Date.now() - started) / 1000;
  logLine(passed ? 'info' : 'error', passed ? 'chain drill passed' : 'chain drill failed', {
    backupId,
    baseId,
    lsn,
    mismatches: mismatches.length,
  });
  if (!passed) {
    const why = [...mismatches.map(describeMismatch), ...checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail ?? 'failed'}`)];
    throw new DrillFailedError(`chain drill of ${baseId} against ${backupId} failed: ${why.join('; ')}`);
  }
  return {
    command: 'drill',
    mode: 'wal-chain',
    ok: true,
    backupId,
    baseId,
    lsn,
    passed,
    seconds: Math.round(seconds * 1000) / 1000,
    recoverySeconds,
    checks,
  };
}
