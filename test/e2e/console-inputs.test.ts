import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RestoreAudit, RestoreAuditSchema } from '../../contracts/payloads/restore';
import { keys, ManifestSchema } from '../../contracts/vault';
import { getJson } from '../../contracts/vault-io';
import { type EngineServer, startMariadb, startPostgres, startRedis } from '../../dev/servers/engines';
import type { ExecutionResult } from '../../local/executor/runtime';
import { backedUp, type E2e, startE2e, targetSecret, targetSecretArn } from './harness';

/**
 * Malformed console inputs of the restore, drill and DR plan state machines, run through the synthesized
 * definitions on real engines (one harness and one set of servers for the whole table). For every case: the
 * state that refuses, the field the cause names (with its fix), no stack frame, file path or Lambda error JSON
 * in the cause, the chat message or the audit record, no password echoed, and targets and vault unchanged.
 * Valid controls run in between, so a check that refused everything would fail them.
 */

let pg: EngineServer;
let maria: EngineServer;
let redis: EngineServer;
let e2e: E2e;
let pgSecret: string;
let mariaSecret: string;
const backups: Record<string, string> = {};

/** A stack frame as Node prints one (`    at fn (/path/file.ts:12:3)`), a TypeScript file position, Lambda's error JSON. */
function expectNoFrames(text: string, where: string): void {
  expect(text, `${where} has a stack frame`).not.toMatch(/(^|\n)\s+at \S/);
  expect(text, `${where} has a stack frame`).not.toMatch(/\bat \S+ \([^)]*:\d+:\d+\)/);
  expect(text, `${where} has a file position`).not.toContain('.ts:');
  expect(text, `${where} has Lambda's error JSON`).not.toContain('"trace"');
  expect(text, `${where} has Lambda's error JSON`).not.toContain('"errorType"');
}

async function pgQuery<T = Record<string, unknown>>(database: string, sql: string): Promise<T[]> {
  const c = new Client({ host: pg.host, port: pg.port, user: pg.username, password: pg.password, database });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

async function mariaQuery<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const c = await mysql.createConnection({
    host: maria.host,
    port: maria.port,
    user: maria.username,
    password: maria.password,
    multipleStatements: true,
  });
  try {
    return (await c.query(sql))[0] as T[];
  } finally {
    await c.end();
  }
}

interface Snapshot {
  readonly pg: Record<string, string[]>;
  readonly mariaDatabases: string[];
  readonly maria: string[];
  readonly redis: string;
  readonly vault: string[];
}

/** Every database, table and row count of the three servers, and every object of the vault with its ETag. */
async function snapshot(): Promise<Snapshot> {
  const pgState: Record<string, string[]> = {};
  const databases = await pgQuery<{ datname: string }>('postgres', 'SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1');
  for (const { datname } of databases) {
    const tables = await pgQuery<{ t: string }>(
      datname,
      "SELECT schemaname || '.' || tablename AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    );
    const counts: string[] = [];
    for (const { t } of tables) {
      const [schema, table] = t.split('.');
      counts.push(`${t}=${(await pgQuery<{ n: number }>(datname, `SELECT count(*)::int AS n FROM "${schema}"."${table}"`))[0].n}`);
    }
    pgState[datname] = counts;
  }
  const mariaTables = await mariaQuery<{ t: string }>(
    "SELECT CONCAT(table_schema, '.', table_name) AS t FROM information_schema.tables WHERE table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1",
  );
  const mariaCounts: string[] = [];
  for (const { t } of mariaTables) {
    const [schema, table] = t.split('.');
    mariaCounts.push(`${t}=${Number((await mariaQuery<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${schema}\`.\`${table}\``))[0].n)}`);
  }
  const mariaDatabases = (await mariaQuery<{ Database: string }>('SHOW DATABASES')).map((r) => r.Database).sort();
  const r = new Redis({ host: redis.host, port: redis.port, password: redis.password, lazyConnect: true });
  await r.connect();
  const keyspace = (await r.info('keyspace')).replace(/,avg_ttl=\d+|,expires=\d+/g, '');
  r.disconnect();
  return { pg: pgState, mariaDatabases, maria: mariaCounts, redis: keyspace, vault: await vaultObjects() };
}

async function vaultObjects(): Promise<string[]> {
  const s3 = e2e.strongbox.vault.client();
  const found: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: e2e.strongbox.app.buckets.primary, ContinuationToken: token }));
    found.push(...(page.Contents ?? []).map((o) => `${o.Key} ${o.ETag} ${o.Size}`));
    token = page.NextContinuationToken;
  } while (token);
  return found.sort();
}

/** The state whose failure ended the run (the first one that failed), as the console's event history shows it. */
const refusingState = (result: ExecutionResult) => result.transitions.find((t) => t.type === 'failed')?.state;

function chatDescriptions(from: number): string[] {
  return e2e.strongbox.outbox
    .read()
    .slice(from)
    .map((m) => String((JSON.parse(m.message) as { content?: { description?: string } }).content?.description ?? m.message));
}

async function auditsOf(database: string): Promise<RestoreAudit[]> {
  const s3 = e2e.strongbox.vault.client();
  const bucket = e2e.strongbox.app.buckets.primary;
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `restores/${database}/` }));
  const audits: RestoreAudit[] = [];
  for (const object of page.Contents ?? []) {
    if (/^restores\/[^/]+\/[^/]+\.json$/.test(object.Key ?? '')) {
      audits.push((await getJson(s3, bucket, object.Key!, RestoreAuditSchema))!.value);
    }
  }
  return audits;
}

const HUGE = 'a'.repeat(200 * 1024);

interface Case {
  readonly name: string;
  readonly machine: 'restore' | 'drill' | 'dr-plan';
  readonly input: () => unknown;
  /** The state whose failure is the refusal. */
  readonly state: string;
  readonly error: string;
  /** Text the cause must contain: the field and, where there is one, the fix (functions: values known once the backups exist). */
  readonly names: readonly (string | (() => string))[];
  /** Text the cause must not contain (a password, a 200 KiB value). */
  readonly absent?: readonly string[];
}

const pgTarget = (database = 'shop_new', extra: Record<string, unknown> = {}) => ({
  host: pg.host,
  port: pg.port,
  database,
  secretArn: pgSecret,
  ...extra,
});
const restore = (extra: Record<string, unknown>) => ({ database: 'shop', latest: true, target: pgTarget(), ...extra });
const RESOLVE = { machine: 'restore', state: 'Resolve', error: 'InputValidationError' } as const;
const REFUSED = { machine: 'restore', state: 'Guard', error: 'RestoreRefusedError' } as const;
const PREPARE = { machine: 'drill', state: 'Prepare', error: 'InputValidationError' } as const;
const START = { machine: 'dr-plan', state: 'Start', error: 'InputValidationError' } as const;

const CASES: readonly Case[] = [
  // ---- restore: the shape of the input
  { ...RESOLVE, name: 'null input', input: () => null, names: ['(input)', 'expected'] },
  { ...RESOLVE, name: 'a string', input: () => 'shop', names: ['(input)', 'expected'] },
  { ...RESOLVE, name: 'a number', input: () => 42, names: ['(input)', 'expected'] },
  { ...RESOLVE, name: 'an array', input: () => [{ database: 'shop' }], names: ['(input)', 'expected'] },
  { ...RESOLVE, name: 'an empty object', input: () => ({}), names: ['database: found nothing'] },
  { ...RESOLVE, name: 'a misspelt top-level field', input: () => restore({ overwirte: true }), names: ['"overwirte"', 'remove it'] },
  // ---- database
  { ...RESOLVE, name: 'database as a number', input: () => restore({ database: 5 }), names: ['database: found 5'] },
  { ...RESOLVE, name: 'an upper-case database', input: () => restore({ database: 'Shop' }), names: ['database: found "Shop"'] },
  {
    ...RESOLVE,
    name: 'an unknown database',
    input: () => restore({ database: 'shpo' }),
    names: ['database: found "shpo"', 'shop, billing, sessions'],
  },
  {
    ...RESOLVE,
    name: 'a 200 KiB database name',
    input: () => restore({ database: HUGE }),
    names: ['database: found "aaa'],
    absent: [HUGE.slice(0, 1000)],
  },
  // ---- recovery point
  {
    ...RESOLVE,
    name: 'no recovery point',
    input: () => ({ database: 'shop', target: pgTarget() }),
    names: ['"backupId"', '"pointInTime"', '"latest"'],
  },
  {
    ...RESOLVE,
    name: 'two recovery points',
    input: () => restore({ backupId: backups.shop }),
    names: ['"backupId" and "latest" are both set'],
  },
  { ...RESOLVE, name: 'latest: false', input: () => restore({ latest: false }), names: ['latest: found false'] },
  { ...RESOLVE, name: 'latest as a string', input: () => restore({ latest: 'true' }), names: ['latest: found "true"'] },
  {
    ...RESOLVE,
    name: 'a pointInTime in words',
    input: () => ({ database: 'shop', pointInTime: 'yesterday', target: pgTarget() }),
    names: ['pointInTime: found "yesterday"', 'ISO 8601'],
  },
  {
    ...RESOLVE,
    name: 'a pointInTime without a zone',
    input: () => ({ database: 'shop', pointInTime: '2026-03-01T03:00:00', target: pgTarget() }),
    names: ['pointInTime: found "2026-03-01T03:00:00"'],
  },
  {
    ...RESOLVE,
    name: 'a pointInTime in the future',
    input: () => ({ database: 'shop', pointInTime: '2099-01-01T00:00:00Z', target: pgTarget() }),
    names: ['pointInTime: found "2099-01-01T00:00:00Z"', 'newest restorable point', () => backups.shop],
  },
  {
    ...RESOLVE,
    name: 'a 200 KiB pointInTime',
    input: () => ({ database: 'shop', pointInTime: `2026-03-01T03:00:00${HUGE}Z`, target: pgTarget() }),
    names: ['pointInTime: found "2026-03-01T03:00:00aaa'],
    absent: [HUGE.slice(0, 1000)],
  },
  {
    ...RESOLVE,
    error: 'RestoreRefusedError',
    name: 'a pointInTime before the first backup',
    input: () => ({ database: 'shop', pointInTime: '2020-01-01T00:00:00Z', target: pgTarget() }),
    names: ['pointInTime 2020-01-01T00:00:00Z', 'Nearest verified recovery points'],
  },
  {
    ...RESOLVE,
    name: 'a malformed backupId',
    input: () => ({ database: 'shop', backupId: 'yesterday', target: pgTarget() }),
    names: ['backupId: found "yesterday"'],
  },
  {
    ...RESOLVE,
    name: "another database's backupId",
    input: () => ({ database: 'shop', backupId: backups.billing, target: pgTarget() }),
    names: ['backupId', 'belongs to "billing"'],
  },
  {
    ...RESOLVE,
    error: 'RestoreRefusedError',
    name: 'a backupId that does not exist',
    input: () => ({ database: 'shop', backupId: 'shop-20200101T000000Z-full', target: pgTarget() }),
    names: ['backupId "shop-20200101T000000Z-full" does not exist'],
  },
  // ---- target
  { ...RESOLVE, name: 'no target', input: () => ({ database: 'shop', latest: true }), names: ['target: found nothing'] },
  { ...RESOLVE, name: 'target as a string', input: () => restore({ target: '127.0.0.1' }), names: ['target: found "127.0.0.1"'] },
  {
    ...RESOLVE,
    name: 'no target.host',
    input: () => restore({ target: { port: pg.port, database: 'x', secretArn: pgSecret } }),
    names: ['target.host: found nothing'],
  },
  {
    ...RESOLVE,
    name: 'an empty target.host',
    input: () => restore({ target: pgTarget('x', { host: '' }) }),
    names: ['target.host: found ""'],
  },
  {
    ...RESOLVE,
    name: 'a blank target.host',
    input: () => restore({ target: pgTarget('x', { host: '   ' }) }),
    names: ['target.host: found "   "'],
  },
  {
    ...RESOLVE,
    name: 'host:port in target.host',
    input: () => restore({ target: pgTarget('x', { host: `127.0.0.1:${pg.port}` }) }),
    names: ['target.host', () => `${pg.port}`, '"target.port"'],
  },
  {
    ...RESOLVE,
    name: 'a bracketed IPv6 with a port in target.host',
    input: () => restore({ target: pgTarget('x', { host: '[::1]:5432' }) }),
    names: ['target.host', '"target.port"'],
  },
  {
    ...RESOLVE,
    name: 'a URL in target.host',
    input: () => restore({ target: pgTarget('x', { host: 'postgres://127.0.0.1/shop' }) }),
    names: ['target.host', 'not a URL'],
  },
  {
    ...RESOLVE,
    name: 'a space inside target.host',
    input: () => restore({ target: pgTarget('x', { host: 'db host.internal' }) }),
    names: ['target.host: found "db host.internal"'],
  },
  {
    ...RESOLVE,
    name: 'an IPv4 address out of range',
    input: () => restore({ target: pgTarget('x', { host: '999.1.1.1' }) }),
    names: ['target.host: found "999.1.1.1"', 'IPv4'],
  },
  {
    ...RESOLVE,
    name: 'a label starting with "-"',
    input: () => restore({ target: pgTarget('x', { host: '-db.internal' }) }),
    names: ['target.host: found "-db.internal"'],
  },
  {
    ...RESOLVE,
    name: 'a 64-character DNS label',
    input: () => restore({ target: pgTarget('x', { host: `${'d'.repeat(64)}.internal` }) }),
    names: ['target.host', '63'],
  },
  {
    ...RESOLVE,
    name: 'a 200 KiB target.host',
    input: () => restore({ target: pgTarget('x', { host: HUGE }) }),
    names: ['target.host', '253'],
    absent: [HUGE.slice(0, 1000)],
  },
  {
    ...RESOLVE,
    name: 'target.port as a string',
    input: () => restore({ target: pgTarget('x', { port: '5432' }) }),
    names: ['target.port: found "5432"'],
  },
  { ...RESOLVE, name: 'target.port 0', input: () => restore({ target: pgTarget('x', { port: 0 }) }), names: ['target.port: found 0'] },
  {
    ...RESOLVE,
    name: 'target.port 70000',
    input: () => restore({ target: pgTarget('x', { port: 70000 }) }),
    names: ['target.port: found 70000'],
  },
  {
    ...RESOLVE,
    name: 'a fractional target.port',
    input: () => restore({ target: pgTarget('x', { port: 5432.5 }) }),
    names: ['target.port: found 5432.5'],
  },
  {
    ...RESOLVE,
    name: 'no target.database for PostgreSQL',
    input: () => restore({ target: { host: pg.host, port: pg.port, secretArn: pgSecret } }),
    names: ['target.database: found nothing'],
  },
  { ...RESOLVE, name: 'an empty target.database', input: () => restore({ target: pgTarget('') }), names: ['target.database: found ""'] },
  {
    ...RESOLVE,
    name: 'a 64-byte PostgreSQL database name',
    input: () => restore({ target: pgTarget('d'.repeat(64)) }),
    names: ['target.database', '63'],
  },
  {
    ...RESOLVE,
    name: 'a target.database for Redis',
    input: () => ({ database: 'sessions', latest: true, target: { host: redis.host, port: redis.port, database: '0' } }),
    names: ['target.database: found "0"', 'no database for redis'],
  },
  {
    ...RESOLVE,
    name: 'no target.secretArn for PostgreSQL',
    input: () => restore({ target: { host: pg.host, port: pg.port, database: 'x' } }),
    names: ['target.secretArn: found nothing'],
  },
  {
    ...RESOLVE,
    name: 'a target.secretArn that is no ARN',
    input: () => restore({ target: pgTarget('x', { secretArn: 'my-secret' }) }),
    names: ['target.secretArn: found "my-secret"'],
  },
  {
    ...RESOLVE,
    name: 'a 3000-character target.secretArn',
    input: () =>
      restore({ target: pgTarget('x', { secretArn: `arn:aws:secretsmanager:eu-west-1:000000000000:secret:${'s'.repeat(3000)}` }) }),
    names: ['target.secretArn', '2048'],
    absent: ['s'.repeat(500)],
  },
  {
    ...RESOLVE,
    name: 'a password in the target',
    input: () => restore({ target: pgTarget('x', { password: 'hunter2-do-not-echo' }) }),
    names: ['target: unknown field "password"', 'remove it'],
    absent: ['hunter2-do-not-echo'],
  },
  // ---- overwrite, confirm, requestedBy
  { ...RESOLVE, name: 'overwrite as a string', input: () => restore({ overwrite: 'yes' }), names: ['overwrite: found "yes"'] },
  {
    ...RESOLVE,
    name: 'confirm without overwrite',
    input: () => restore({ confirm: 'shop' }),
    names: ['confirm: found "shop"', '"overwrite": true'],
  },
  { ...RESOLVE, name: 'confirm as a number', input: () => restore({ overwrite: true, confirm: 1 }), names: ['confirm: found 1'] },
  {
    ...RESOLVE,
    name: 'a 201-character requestedBy',
    input: () => restore({ requestedBy: 'r'.repeat(201) }),
    names: ['requestedBy', '200'],
  },
  { ...RESOLVE, name: 'requestedBy as a number', input: () => restore({ requestedBy: 42 }), names: ['requestedBy: found 42'] },
  // ---- include
  { ...RESOLVE, name: 'include as a string', input: () => restore({ include: 'sales.orders' }), names: ['include: found "sales.orders"'] },
  { ...RESOLVE, name: 'an empty include', input: () => restore({ include: [] }), names: ['include: found []', 'leave "include" out'] },
  { ...RESOLVE, name: 'an empty include entry', input: () => restore({ include: [''] }), names: ['include.0: found ""'] },
  { ...RESOLVE, name: 'a number in include', input: () => restore({ include: [7] }), names: ['include.0: found 7'] },
  {
    ...RESOLVE,
    name: 'SQL in include',
    input: () => restore({ include: ['sales.orders; DROP TABLE sales.orders'] }),
    names: ['include.0: found "sales.orders; DROP TABLE sales.orders"'],
  },
  {
    ...RESOLVE,
    name: 'a quoted identifier in include',
    input: () => restore({ include: ['"sales"."orders"'] }),
    names: ['include.0', '"schema.table"'],
  },
  {
    ...RESOLVE,
    name: 'a table the backup does not hold',
    input: () => restore({ include: ['public.no_such_table'] }),
    names: ['include.0: found "public.no_such_table"', 'sales.orders'],
  },
  {
    ...RESOLVE,
    name: 'a schema the backup does not hold',
    input: () => restore({ include: ['sales', 'salse'] }),
    names: ['include.1: found "salse"', 'sales'],
  },
  {
    ...RESOLVE,
    name: 'a table in the wrong case',
    input: () => restore({ include: ['Sales.Orders'] }),
    names: ['include.0: found "Sales.Orders"', 'sales.orders'],
  },
  {
    ...RESOLVE,
    name: 'a 64-character identifier in include',
    input: () => restore({ include: [`sales.${'o'.repeat(64)}`] }),
    names: ['include.0', '63'],
  },
  {
    ...RESOLVE,
    name: 'a 200 KiB include entry',
    input: () => restore({ include: [HUGE] }),
    names: ['include.0', '512'],
    absent: [HUGE.slice(0, 1000)],
  },
  {
    ...RESOLVE,
    name: '201 include entries',
    input: () => restore({ include: Array.from({ length: 201 }, (_, i) => `sales.t${i}`) }),
    names: ['include', '200'],
  },
  {
    ...RESOLVE,
    name: 'include entries too long together for the task overrides',
    input: () => restore({ include: Array.from({ length: 150 }, (_, i) => `sales.${'t'.repeat(50)}${i}`) }),
    names: ['include', '8 KiB'],
  },
  {
    ...RESOLVE,
    name: 'a MariaDB table the backup does not hold',
    input: () => ({
      database: 'billing',
      latest: true,
      target: { host: maria.host, port: maria.port, database: 'billing_never', secretArn: mariaSecret },
      include: ['strongbox.invoice'],
    }),
    names: ['include.0: found "strongbox.invoice"', 'strongbox.invoices'],
  },
  {
    ...RESOLVE,
    name: 'a Redis pattern with a space',
    input: () => ({ database: 'sessions', latest: true, target: { host: redis.host, port: redis.port }, include: ['session *'] }),
    names: ['include.0: found "session *"'],
  },
  // ---- restore: refused at Guard, where the target is looked at (every alias of the source)
  {
    ...REFUSED,
    name: 'the source by its address',
    input: () => restore({ target: pgTarget('shop') }),
    names: ['own source connection', '"overwrite": true', '"confirm": "shop"'],
  },
  {
    ...REFUSED,
    name: 'the source as localhost',
    input: () => restore({ target: pgTarget('shop', { host: 'localhost' }) }),
    names: ['own source connection', '"confirm": "shop"'],
  },
  {
    ...REFUSED,
    name: 'the source as LOCALHOST.',
    input: () => restore({ target: pgTarget('shop', { host: 'LOCALHOST.' }) }),
    names: ['own source connection', '"confirm": "shop"'],
  },
  {
    ...REFUSED,
    name: 'the source through another loopback address',
    input: () => restore({ target: pgTarget('shop', { host: '127.0.0.2' }) }),
    names: ['own source connection', '"confirm": "shop"'],
  },
  {
    ...REFUSED,
    name: 'overwrite with the wrong confirm',
    input: () => restore({ target: pgTarget('shop'), overwrite: true, confirm: 'shop_busy' }),
    names: ['own source connection', '"confirm": "shop"'],
  },
  {
    ...REFUSED,
    name: 'a non-empty target',
    input: () => restore({ target: pgTarget('shop_busy') }),
    names: ['non-empty target', 'sales.orders', '"confirm": "shop"'],
  },
  {
    ...REFUSED,
    name: 'a Redis glob that matches nothing passes Resolve and meets Guard',
    input: () => ({ database: 'sessions', latest: true, target: { host: 'localhost', port: redis.port }, include: ['nomatch:*'] }),
    names: ['own source connection', '"confirm": "sessions"'],
  },
  // ---- drill: refused at Prepare
  { ...PREPARE, name: 'drill: null input', input: () => null, names: ['(input)', 'expected'] },
  { ...PREPARE, name: 'drill: a string', input: () => 'shop', names: ['(input)', 'expected'] },
  { ...PREPARE, name: 'drill: an empty object', input: () => ({}), names: ['database: found nothing'] },
  {
    ...PREPARE,
    name: 'drill: an unknown database',
    input: () => ({ database: 'nope' }),
    names: ['database: found "nope"', 'shop, billing, sessions'],
  },
  { ...PREPARE, name: 'drill: an upper-case database', input: () => ({ database: 'Shop' }), names: ['database: found "Shop"'] },
  { ...PREPARE, name: 'drill: an unknown trigger', input: () => ({ database: 'shop', trigger: 'cron' }), names: ['trigger: found "cron"'] },
  { ...PREPARE, name: 'drill: an unknown field', input: () => ({ database: 'shop', target: {} }), names: ['"target"', 'remove it'] },
  {
    ...PREPARE,
    name: 'drill: a 200 KiB database name',
    input: () => ({ database: HUGE }),
    names: ['database: found "aaa'],
    absent: [HUGE.slice(0, 1000)],
  },
  // ---- DR plan: refused at Start
  { ...START, name: 'DR plan: null input', input: () => null, names: ['(input)', 'expected'] },
  { ...START, name: 'DR plan: an empty object', input: () => ({}), names: ['plan: found nothing'] },
  {
    ...START,
    name: 'DR plan: an unknown plan',
    input: () => ({ plan: 'region-loss' }),
    names: ['plan: found "region-loss"', 'dr, dr-busy'],
  },
  { ...START, name: 'DR plan: plan as a number', input: () => ({ plan: 7 }), names: ['plan: found 7'] },
  { ...START, name: 'DR plan: overwrite as a string', input: () => ({ plan: 'dr', overwrite: 'yes' }), names: ['overwrite: found "yes"'] },
  {
    ...START,
    name: 'DR plan: confirm without overwrite',
    input: () => ({ plan: 'dr', confirm: 'dr' }),
    names: ['confirm: found "dr"', '"overwrite": true'],
  },
  {
    ...START,
    name: 'DR plan: confirm naming a database instead of the plan',
    input: () => ({ plan: 'dr-busy', overwrite: true, confirm: 'shop' }),
    names: ['confirm: found "shop"', '"dr-busy"'],
  },
  { ...START, name: 'DR plan: an unknown field', input: () => ({ plan: 'dr', databases: ['shop'] }), names: ['"databases"', 'remove it'] },
  {
    ...START,
    name: 'DR plan: a 201-character requestedBy',
    input: () => ({ plan: 'dr', requestedBy: 'r'.repeat(201) }),
    names: ['requestedBy', '200'],
  },
];

const DR_PLANS = () => `drPlans:
  - name: dr
    groups:
      - databases: [shop]
    targets:
      shop: { host: 127.0.0.1, port: ${pg.port}, database: shop_dr, secretArn: "${targetSecretArn('pg-target')}" }
  - name: dr-busy
    groups:
      - databases: [shop]
    targets:
      shop: { host: 127.0.0.1, port: ${pg.port}, database: shop_busy, secretArn: "${targetSecretArn('pg-target')}" }`;

beforeAll(async () => {
  [pg, maria, redis] = await Promise.all([startPostgres(), startMariadb(), startRedis()]);
  await pgQuery('postgres', 'CREATE DATABASE shop');
  await pgQuery('postgres', 'CREATE DATABASE shop_busy');
  await pgQuery(
    'shop',
    `CREATE SCHEMA sales;
     CREATE TABLE sales.customers (id int PRIMARY KEY, name text NOT NULL);
     CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES sales.customers, note text);
     INSERT INTO sales.customers SELECT i, 'Zoë ' || i FROM generate_series(1, 20) i;
     INSERT INTO sales.orders SELECT i, 1 + i % 20, 'über ' || i FROM generate_series(1, 200) i;`,
  );
  await pgQuery('shop_busy', 'CREATE SCHEMA sales; CREATE TABLE sales.orders (id int PRIMARY KEY); INSERT INTO sales.orders VALUES (1)');
  await mariaQuery(
    'CREATE TABLE strongbox.invoices (id INT PRIMARY KEY, total DECIMAL(10,2)); INSERT INTO strongbox.invoices VALUES (1, 10.5), (2, 99.99)',
  );
  const r = new Redis({ host: redis.host, port: redis.port, password: redis.password, lazyConnect: true });
  await r.connect();
  await r.mset('session:1', 'a', 'session:2', 'b');
  r.disconnect();
  e2e = await startE2e(
    [
      { name: 'shop', server: pg, database: 'shop' },
      { name: 'billing', server: maria, database: 'strongbox' },
      { name: 'sessions', server: redis },
    ],
    { onTaskFailure: (failure) => process.stderr.write(`task failed (${failure.stateName}):\n${failure.stderrTail}\n`) },
    DR_PLANS(),
  );
  pgSecret = targetSecret(e2e.strongbox, 'pg-target', pg);
  mariaSecret = targetSecret(e2e.strongbox, 'maria-target', maria);
  for (const database of ['shop', 'billing', 'sessions']) {
    backups[database] = await backedUp(e2e.strongbox, database);
  }
}, 300_000);

afterAll(async () => {
  await e2e?.stop();
  await Promise.all([pg?.stop(), maria?.stop(), redis?.stop()]);
});

describe('malformed console inputs, through the synthesized state machines', () => {
  it('has at least 60 malformed inputs across the restore, drill and DR plan machines', () => {
    // Assess
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('refuses %s', async (_name, c) => {
    // Prepare
    const before = await snapshot();
    const outboxBefore = e2e.strongbox.outbox.read().length;
    const auditsBefore = c.machine === 'restore' ? (await auditsOf(databaseOf(c))).length : 0;

    // Act
    const result = await e2e.strongbox.stateMachine(c.machine).execute(c.input());

    // Assess
    expect(result.status).toBe('FAILED');
    expect(refusingState(result)).toBe(c.state);
    expect(result.error, result.cause).toBe(c.error);
    const cause = String(result.cause);
    for (const name of c.names) {
      expect(cause).toContain(typeof name === 'function' ? name() : name);
    }
    for (const text of c.absent ?? []) {
      expect(cause).not.toContain(text);
    }
    expect(cause.length).toBeLessThan(4096);
    expectNoFrames(cause, 'the cause');
    const chat = chatDescriptions(outboxBefore);
    for (const message of chat) {
      expectNoFrames(message, 'the chat message');
    }
    if (c.state === 'Guard') {
      // A refusal after Resolve is audited and posted, with the cause's own text.
      const audits = await auditsOf(databaseOf(c));
      const audit = audits.find((a) => a.startedBy.executionName === result.name);
      expect(audit).toMatchObject({ outcome: 'refused', error: cause });
      expectNoFrames(String(audit?.error), 'the audit record');
      expect(JSON.stringify(audit)).not.toMatch(/"trace"|\.ts:\d/);
      expect(chat).toHaveLength(1);
      expect(chat[0]).toContain(cause);
      const after = await snapshot();
      const withoutAudits = (s: Snapshot) => ({ ...s, vault: s.vault.filter((k) => !k.startsWith('restores/')) });
      expect(withoutAudits(after)).toEqual(withoutAudits(before));
    } else {
      // Refused by the first state: nothing ran, nothing was written, nothing was posted.
      expect(chat).toEqual([]);
      if (c.machine === 'restore') {
        expect(await auditsOf(databaseOf(c))).toHaveLength(auditsBefore);
      }
      expect(await snapshot()).toEqual(before);
    }
  });
});

function databaseOf(c: Case): string {
  const input = c.input() as { database?: unknown } | null;
  return typeof input?.database === 'string' && /^[a-z][a-z0-9-]{0,39}$/.test(input.database) ? input.database : 'shop';
}

describe('valid controls in the same run', () => {
  it('restores one PostgreSQL table into a new database', async () => {
    // Act
    const result = await e2e.strongbox.restore(restore({ target: pgTarget('shop_control'), include: ['sales.orders'] }));

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await pgQuery('shop_control', 'SELECT count(*)::int AS n FROM sales.orders')).toEqual([{ n: 200 }]);
  });

  it('restores a MariaDB database under another name, selected by its source name', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'billing',
      latest: true,
      target: { host: maria.host, port: maria.port, database: 'billing_control', secretArn: mariaSecret },
      include: ['strongbox.invoices'],
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await mariaQuery('SELECT COUNT(*) AS n FROM billing_control.invoices')).toEqual([{ n: 2 }]);
  });

  it('restores by a pointInTime just after the backup', async () => {
    // Prepare
    const manifest = (
      await getJson(e2e.strongbox.vault.client(), e2e.strongbox.app.buckets.primary, keys.manifest(backups.shop), ManifestSchema)
    )?.value;
    const justAfter = new Date(Date.parse(manifest!.finishedAt) + 1000).toISOString();

    // Act
    const result = await e2e.strongbox.restore({
      database: 'shop',
      pointInTime: justAfter,
      target: pgTarget('shop_pit'),
      include: ['sales'],
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await pgQuery('shop_pit', 'SELECT count(*)::int AS n FROM sales.customers')).toEqual([{ n: 20 }]);
  });

  it('passes a drill of the PostgreSQL backup', async () => {
    // Act
    const result = await e2e.strongbox.drill({ database: 'shop', trigger: 'manual' });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
  });

  it('restores a DR plan into a fresh target', async () => {
    // Act
    const result = await e2e.strongbox.stateMachine('dr-plan').execute({ plan: 'dr', requestedBy: `oncall ${'x'.repeat(190)}` });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await pgQuery('shop_dr', 'SELECT count(*)::int AS n FROM sales.orders')).toEqual([{ n: 200 }]);
  });
});

describe('a DR plan refused inside one of its restores', () => {
  it('says what the plan input needs, and following that hint goes ahead', async () => {
    // Prepare
    const outboxBefore = e2e.strongbox.outbox.read().length;

    // Act
    const refused = await e2e.strongbox.stateMachine('dr-plan').execute({ plan: 'dr-busy' });
    const chat = chatDescriptions(outboxBefore);
    const followed = await e2e.strongbox.stateMachine('dr-plan').execute({ plan: 'dr-busy', overwrite: true, confirm: 'dr-busy' });

    // Assess
    expect(refused.status).toBe('FAILED');
    expect(refused.error).toBe('DrPlanFailedError');
    expect(refused.cause).toContain('shop failed (RestoreRefusedError: Refusing to restore "shop" into a non-empty target');
    expect(refused.cause).toContain('"overwrite": true and "confirm": "dr-busy"');
    expect(refused.cause).not.toContain('"confirm": "shop"');
    expectNoFrames(String(refused.cause), 'the DR plan cause');
    expect(chat.length).toBeGreaterThanOrEqual(2);
    for (const message of chat) {
      expectNoFrames(message, 'a chat message');
      expect(message).not.toContain('"confirm": "shop"');
    }
    expect(followed.status, followed.cause).toBe('SUCCEEDED');
    expect(await pgQuery('shop_busy', 'SELECT count(*)::int AS n FROM sales.orders')).toEqual([{ n: 200 }]);
  });
});

describe('a corrupted artifact', () => {
  it("surfaces the task's own error line in the restore's cause, audit record and chat, and the drill's", async () => {
    // Prepare: the stored dump of the newest shop backup, with bytes changed in the middle
    const s3 = e2e.strongbox.vault.client();
    const bucket = e2e.strongbox.app.buckets.primary;
    const manifest = (await getJson(s3, bucket, keys.manifest(backups.shop), ManifestSchema))!.value;
    const original = Buffer.from(
      await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifest.artifact.key }))).Body!.transformToByteArray(),
    );
    const corrupted = Buffer.from(original);
    for (let i = Math.floor(corrupted.length / 2); i < Math.floor(corrupted.length / 2) + 64 && i < corrupted.length; i++) {
      corrupted[i] ^= 0xff;
    }
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifest.artifact.key, Body: corrupted }));
    const outboxBefore = e2e.strongbox.outbox.read().length;

    try {
      // Act
      const restored = await e2e.strongbox.restore(restore({ target: pgTarget('shop_corrupt') }), { name: `corrupt-${Date.now()}` });
      const restoreChat = chatDescriptions(outboxBefore);
      const drillOutboxBefore = e2e.strongbox.outbox.read().length;
      const drilled = await e2e.strongbox.drill({ database: 'shop', trigger: 'manual' });
      const drillChat = chatDescriptions(drillOutboxBefore);

      // Assess
      const line = new RegExp(`checksum mismatch: expected ${manifest.artifact.sha256}, got [0-9a-f]{64}`);
      expect(restored.status).toBe('FAILED');
      expect(refusingState(restored)).toBe('Restore');
      expect(restored.error).toBe('ChecksumMismatchError');
      expect(restored.cause).toMatch(line);
      expectNoFrames(String(restored.cause), 'the restore cause');
      const audit = (await auditsOf('shop')).find((a) => a.startedBy.executionName === restored.name);
      expect(audit?.outcome).toBe('failed');
      expect(audit?.error).toMatch(line);
      expect(restoreChat).toHaveLength(1);
      expect(restoreChat[0]).toMatch(line);
      expectNoFrames(restoreChat[0], 'the restore chat message');
      expect(drilled.status).toBe('FAILED');
      expect(drilled.error).toBe('DrillFailedError');
      expect(drilled.cause).toMatch(/^Drill of shop FAILED/);
      expect(drilled.cause).toMatch(line);
      expectNoFrames(String(drilled.cause), 'the drill cause');
      expect(drillChat).toHaveLength(1);
      expect(drillChat[0]).toMatch(line);
      expectNoFrames(drillChat[0], 'the drill chat message');
    } finally {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifest.artifact.key, Body: original }));
    }
  });
});
