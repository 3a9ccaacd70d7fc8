import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { type EngineServer, startMariadb, startPostgres } from '../dev/servers/engines';
import { PG_BIN } from '../engines/postgres/bin';
import { buildTask, TASK_NODE_FLAGS, TASK_PROCESS_ENV } from '../tasks/build';

export const BENCH_DIR = join(__dirname, '..', '.bench');

// The SDK warns once per process that Node 20 loses support in 2027, into the bench's output; the image runs Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/**
 * PostgreSQL's bin directory first on PATH, for every section and both sides of each ratio, as the task image has
 * it (tasks/Dockerfile): Debian's /usr/bin/pg_dump, pg_basebackup and the rest are a Perl wrapper that costs ~15 ms
 * of CPU per start (`pg_dump --version`: 18 ms through it, 3 ms without), which the task (pg_dump --version,
 * pg_dump, pg_dumpall) would pay three times and raw once.
 */
if (existsSync(PG_BIN) && !process.env.PATH?.startsWith(`${PG_BIN}:`)) {
  process.env.PATH = `${PG_BIN}:${process.env.PATH}`;
}

/** Every bench server uses this password, so the cached data directories can be reused. */
export const PASSWORD = 'bench-password';

export interface Timed {
  readonly seconds: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs argv (never a shell string unless the baseline itself is a shell pipeline) and times it. */
export function timed(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout = (stdout + c.toString()).slice(-100_000);
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-20_000);
    });
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) {
        reject(new Error(`${command} ${args.join(' ').slice(0, 200)} exited ${code}: ${stderr.slice(-2000)}`));
      } else {
        resolve({ seconds, stdout, stderr });
      }
    });
  });
}

/**
 * Milliseconds from starting a shell pipeline to its first byte on stdout; the pipeline is then stopped. The
 * raw tools' equivalent of the task's firstByteMs.
 */
export function firstByteMs(command: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('bash', ['-o', 'pipefail', '-c', command], { env, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    child.stdout.once('data', () => {
      resolve(Number(process.hrtime.bigint() - started) / 1e6);
      process.kill(-(child.pid as number), 'SIGTERM');
    });
    child.once('error', reject);
    child.once('close', (code) => reject(new Error(`${command.slice(0, 200)} exited ${code} before writing a byte`)));
  });
}

/** The task as the container runs it: the image's bundle (tasks/build.ts), run by plain node (no tsx start-up in the figures). */
export function bundleTask(): Promise<string> {
  return buildTask(join(BENCH_DIR, 'task'));
}

export interface TaskRun {
  readonly seconds: number;
  /** The command's result: the last stdout line. */
  readonly result: Record<string, unknown>;
  /** The structured log lines before it (the task writes JSON lines), for figures the result does not carry. */
  readonly logs: Record<string, unknown>[];
}

/** Runs the bundled task with the image's node flags and allocator setting; returns its final JSON result line, its log lines and its wall time. */
export async function runTask(bundle: string, env: NodeJS.ProcessEnv): Promise<TaskRun> {
  const out = await timed(process.execPath, [...TASK_NODE_FLAGS, bundle], { ...env, ...TASK_PROCESS_ENV });
  const lines = out.stdout
    .trim()
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return { seconds: out.seconds, result: lines.pop() ?? {}, logs: lines };
}

export const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

/** The middle value (the mean of the two middle ones for an even count): what a noisy shared machine's rounds are quoted by. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A logger for one section: `bench/<section>: message` on stderr (stdout's last line is the figures). */
export function logger(section: string): (message: string) => void {
  return (message) => process.stderr.write(`bench/${section}: ${message}\n`);
}

/** The SDK environment a task needs to reach s3rver. */
export const AWS_ENV: Readonly<Record<string, string>> = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'eu-west-1',
  AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
  AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
};

/** The task environment for `server`'s database `database`, backing up into s3rver's `bench` bucket. */
export function taskEnv(server: EngineServer, endpoint: string, database: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...AWS_ENV,
    ...server.taskEnv(),
    STRONGBOX_DB_NAME: database,
    STRONGBOX_DATABASE: `bench-${server.engine}`,
    STRONGBOX_VAULT_BUCKET: 'bench',
    STRONGBOX_S3_ENDPOINT: endpoint,
    STRONGBOX_COMMAND: 'backup',
    STRONGBOX_PROGRESS_INTERVAL_SECONDS: '60',
    ...extra,
  };
}

/** Streams an object to a local file (a 300 MB artifact held in memory would inflate this process's RSS). */
export async function downloadToFile(client: S3Client, bucket: string, key: string, path: string): Promise<void> {
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  await pipeline(object.Body as Readable, createWriteStream(path));
}

/**
 * Runs `raw` and `ours` alternately `rounds` times and keeps each one's fastest run: on a shared machine the
 * minimum is the run least disturbed by others, and alternating exposes both sides to the same background load.
 * Also the median of each round's raw/ours ratio: one lucky run on either side moves the best-of ratio by 10-20%
 * on these machines (raw MariaDB 5.81 s in one round, 6.7-6.9 s in the others), the median of pairs much less.
 */
export async function bestOf<R extends { seconds: number }, O extends { seconds: number }>(
  label: string,
  rounds: number,
  raw: () => Promise<R>,
  ours: () => Promise<O>,
  log: (message: string) => void,
): Promise<{ raw: R; ours: O; medianRatio: number }> {
  let best: { raw: R; ours: O } | undefined;
  const ratios: number[] = [];
  for (let i = 1; i <= rounds; i++) {
    const r = await raw();
    const o = await ours();
    log(`${label}, round ${i}: raw ${round(r.seconds)} s, ours ${round(o.seconds)} s`);
    ratios.push(r.seconds / o.seconds);
    best = {
      raw: best && best.raw.seconds <= r.seconds ? best.raw : r,
      ours: best && best.ours.seconds <= o.seconds ? best.ours : o,
    };
  }
  if (!best) {
    throw new Error(`bestOf: rounds is ${rounds}; expected at least 1`);
  }
  return { ...best, medianRatio: median(ratios) };
}

/**
 * Datasets of random words (compressible like real text, unlike pgbench's padding), built once in server
 * directories under .bench/ and reused by every section.
 */
const WORDS = (
  'order customer invoice payment shipped pending refund account balance address street city country postal ' +
  'product quantity price discount total tax currency euro dollar delivery warehouse stock supplier contract ' +
  'the a of and to in is for on with as by at from this that be are was it an or not have has will can ' +
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec ' +
  'romeo sierra tango uniform victor whiskey xray yankee zulu monday tuesday wednesday thursday friday saturday ' +
  'sunday january february march april may june july august september october november december urgent normal'
).split(' ');

/** The bench PostgreSQL server with its cached data directory. */
export function startBenchPostgres(): Promise<EngineServer> {
  return startPostgres({ password: PASSWORD, directory: join(BENCH_DIR, 'postgres') });
}

/** The bench MariaDB server with its cached data directory. */
export function startBenchMariadb(): Promise<EngineServer> {
  return startMariadb({ password: PASSWORD, directory: join(BENCH_DIR, 'mariadb') });
}

/** ~`megabytes` of rows: id, customer, status, random-word body (~900 bytes), amount, timestamp. */
export async function buildPostgres(server: EngineServer, database: string, megabytes: number): Promise<void> {
  const client = new Client({ host: server.host, port: server.port, user: 'postgres', password: PASSWORD, database: 'postgres' });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount) {
      return;
    }
    logger('support')(`building PostgreSQL dataset "${database}" (~${megabytes} MB)`);
    // Built under another name and renamed when complete, so an interrupted build is never mistaken for a cached one.
    const building = `${database}_building`;
    await client.query(`DROP DATABASE IF EXISTS ${building}`);
    await client.query(`CREATE DATABASE ${building}`);
    const db = new Client({ host: server.host, port: server.port, user: 'postgres', password: PASSWORD, database: building });
    await db.connect();
    await db.query(
      `CREATE TABLE documents (id bigint PRIMARY KEY, customer text, status text, body text, amount numeric(12,2), created timestamptz)`,
    );
    const words = `ARRAY[${WORDS.map((w) => `'${w}'`).join(',')}]`;
    const rows = megabytes * 1000;
    const batch = 100_000;
    for (let start = 1; start <= rows; start += batch) {
      await db.query(
        `INSERT INTO documents SELECT g, 'customer-' || (random()*100000)::int, (${words})[1 + (random()*4)::int],
           (SELECT string_agg((${words})[1 + floor(random()*${WORDS.length})::int], ' ') FROM generate_series(1, 140 + (g % 3)) s),
           (random()*10000)::numeric(12,2), now() - random() * interval '900 days'
         FROM generate_series($1::bigint, $2::bigint) g`,
        [start, Math.min(rows, start + batch - 1)],
      );
    }
    await db.query('VACUUM ANALYZE documents');
    await db.end();
    await client.query(`ALTER DATABASE ${building} RENAME TO ${database}`);
  } finally {
    await client.end();
  }
}

export async function buildMariadb(server: EngineServer, megabytes: number): Promise<void> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'strongbox', password: PASSWORD });
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'bench' AND table_name = 'dataset_complete'",
    );
    if (Number(rows[0].n) > 0) {
      return;
    }
    logger('support')(`building MariaDB dataset (~${megabytes} MB)`);
    await conn.query('DROP DATABASE IF EXISTS bench');
    await conn.query('CREATE DATABASE bench');
    await conn.query(
      'CREATE TABLE bench.documents (id BIGINT PRIMARY KEY, customer VARCHAR(40), body TEXT, amount DECIMAL(12,2), created DATETIME) ENGINE=InnoDB',
    );
    const word = () => `ELT(1 + FLOOR(RAND() * ${WORDS.length}), ${WORDS.map((w) => `'${w}'`).join(',')})`;
    const body = `CONCAT_WS(' ', ${Array.from({ length: 140 }, word).join(', ')})`;
    const total = megabytes * 1000;
    const batch = 50_000;
    for (let start = 1; start <= total; start += batch) {
      await conn.query(
        `INSERT INTO bench.documents SELECT seq, CONCAT('customer-', FLOOR(RAND()*100000)), ${body}, RAND()*10000, NOW() - INTERVAL FLOOR(RAND()*900) DAY FROM bench.seq_${start}_to_${Math.min(total, start + batch - 1)}`,
      );
    }
    // Marks the dataset complete, so an interrupted build is rebuilt rather than measured.
    await conn.query('CREATE TABLE bench.dataset_complete (at DATETIME)');
  } finally {
    await conn.end();
  }
}

/** The 1.1 GB PostgreSQL dataset both the dump and the drill section measure. */
export const LARGE_PG = { database: 'large', megabytes: 1100 } as const;

/**
 * A loopback proxy in front of `target` that holds each UploadPart request for `delayMs` before forwarding it: a
 * slow S3 keeps every part buffer of the upload in use, which is the task's worst case for memory.
 */
export async function startSlowPartsProxy(
  target: string,
  delayMs: number,
): Promise<{ endpoint: string; maxInFlight: () => number; stop: () => Promise<void> }> {
  const upstream = new URL(target);
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req, res) => {
    const isPart = req.method === 'PUT' && new URL(req.url ?? '/', 'http://proxy').searchParams.has('partNumber');
    const forward = () => {
      const out = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.once('end', () => {
            if (isPart) inFlight--;
          });
        },
      );
      out.once('error', (error) => res.writeHead(502).end(error.message));
      req.pipe(out);
    };
    if (isPart) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(forward, delayMs);
    } else {
      forward();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    maxInFlight: () => maxInFlight,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
