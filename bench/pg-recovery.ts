import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startArchivingPostgres } from '../dev/servers/postgres-archive';
import { PG_BIN } from '../engines/postgres/bin';
import { directoryWalSource, REPLAY_SETTINGS, recoverPostgres } from '../engines/postgres/recovery';
import { freePort, own, userIds } from '../engines/process';
import { BENCH_DIR, logger, median, round } from './support';

/**
 * Issue 13: pg_recovery_vs_raw. The same base (pg_basebackup -Ft -X fetch) and the same archived WAL (archive_command
 * copies) of a source with about 200 MB of table data and 100 MB of WAL written after the base, recovered to an instant
 * just before the last writes, alternating:
 *
 *   ours: recoverPostgres, the task's recovery (tar extracted as the server's user, restore_command through the
 *         spool helper and the task's read-ahead, server settings of the recovery, wait for promotion);
 *   raw:  `tar -x`, recovery.signal, `restore_command = 'cp <archive>/%f %p'`, postgres with the same server settings,
 *         polled until it accepts a connection after promotion.
 *
 * Both exclude the vault download and zstd (the restore's other parts, measured by the dump and drill sections).
 * Last stdout line: {"pg_recovery_vs_raw": best raw seconds / best ours seconds, ...}, with the median of the rounds'
 * ratios and the load average beside it (the machine is shared). Goal >= 0.9. STRONGBOX_BENCH_ROUNDS sets the rounds.
 */
const ROUNDS = Number(process.env.STRONGBOX_BENCH_ROUNDS ?? 3);
const log = logger('pg-recovery');

const SETTINGS = [...REPLAY_SETTINGS, 'recovery_target_action=promote'];

async function raw(base: string, archive: string, at: string): Promise<number> {
  const started = Date.now();
  const directory = mkdtempSync(join(BENCH_DIR, 'pg-recovery-raw-'));
  own(directory, 'postgres');
  const data = join(directory, 'data');
  mkdirSync(data, { mode: 0o700 });
  own(data, 'postgres');
  // The tar arrives on stdin as in the task: the server's user need not be able to open the bench's file.
  const tar = spawn('tar', ['-x', '-f', '-', '-C', data], { stdio: ['pipe', 'inherit', 'inherit'], ...userIds('postgres') });
  createReadStream(base).pipe(tar.stdin as NodeJS.WritableStream);
  const [code] = (await once(tar, 'close')) as [number | null];
  if (code !== 0) {
    throw new Error(`raw recovery: tar exited with code ${code}`);
  }
  writeFileSync(join(data, 'recovery.signal'), '');
  writeFileSync(join(directory, 'pg_hba.conf'), 'local all all trust\n');
  writeFileSync(join(directory, 'postgresql.conf'), '');
  own(join(data, 'recovery.signal'), 'postgres');
  const port = await freePort();
  const server = spawn(
    join(PG_BIN, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      `config_file=${join(directory, 'postgresql.conf')}`,
      '-c',
      `hba_file=${join(directory, 'pg_hba.conf')}`,
      '-c',
      'listen_addresses=',
      '-c',
      `unix_socket_directories=${directory}`,
      '-c',
      `restore_command=cp ${archive}/%f %p`,
      '-c',
      `recovery_target_time=${at.replace('T', ' ').replace('Z', '+00')}`,
      ...SETTINGS.flatMap((s) => ['-c', s]),
    ],
    { stdio: 'ignore', ...userIds('postgres') },
  );
  try {
    for (;;) {
      const client = new Client({ host: directory, port, user: 'postgres', database: 'postgres' });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const out = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        await client.end();
        if (!out.rows[0].r) {
          break;
        }
      } catch {
        await client.end().catch(() => undefined);
        if (server.exitCode !== null) {
          throw new Error('raw recovery: postgres exited');
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    return (Date.now() - started) / 1000;
  } finally {
    const exited = once(server, 'exit');
    server.kill('SIGINT');
    await exited;
    rmSync(directory, { recursive: true, force: true });
  }
}

async function ours(base: string, archive: string, at: string): Promise<number> {
  const started = Date.now();
  const server = await recoverPostgres({
    base,
    wal: directoryWalSource(archive),
    target: { kind: 'time', at },
    prefix: 'pg-recovery-ours-',
  });
  const seconds = (Date.now() - started) / 1000;
  await server.stop();
  return seconds;
}

async function main(): Promise<void> {
  mkdirSync(BENCH_DIR, { recursive: true });
  process.env.STRONGBOX_WORK_DIR ??= BENCH_DIR;
  const source = await startArchivingPostgres();
  const work = mkdtempSync(join(BENCH_DIR, 'pg-recovery-'));
  try {
    await source.query('CREATE TABLE public.bench (id bigint PRIMARY KEY, payload text NOT NULL)');
    await source.query('INSERT INTO public.bench SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 1300000) g');
    const base = join(work, 'base.tar');
    log('taking the base backup');
    await source.baseBackup(base);
    await source.query('UPDATE public.bench SET payload = md5(payload) WHERE id % 2 = 0');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const [{ at }] = await source.query<{ at: Date }>('SELECT now() AS at');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await source.query("INSERT INTO public.bench VALUES (-1, 'after the instant')");
    await source.archiveNow();
    const instant = at.toISOString();
    const oursSeconds: number[] = [];
    const rawSeconds: number[] = [];
    const loads: number[] = [];
    for (let round_ = 0; round_ < ROUNDS; round_ += 1) {
      loads.push(loadavg()[0]);
      rawSeconds.push(await raw(base, source.archive, instant));
      oursSeconds.push(await ours(base, source.archive, instant));
      log(
        `round ${round_ + 1}: raw ${round(rawSeconds.at(-1) as number)} s, ours ${round(oursSeconds.at(-1) as number)} s, load ${round(loads.at(-1) as number, 2)}`,
      );
    }
    const best = (values: number[]) => Math.min(...values);
    process.stdout.write(
      `${JSON.stringify({
        pg_recovery_vs_raw: round(best(rawSeconds) / best(oursSeconds)),
        pg_recovery_vs_raw_median: round(median(rawSeconds.map((r, i) => r / oursSeconds[i]))),
        pg_recovery_seconds: round(best(oursSeconds)),
        pg_recovery_raw_seconds: round(best(rawSeconds)),
        pg_recovery_load_average: round(median(loads), 2),
      })}\n`,
    );
  } finally {
    await source.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`pg-recovery: ${error.message}\n`);
  process.exit(1);
});
