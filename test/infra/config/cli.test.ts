import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { WAL_SERVER_NEEDS } from '../../../contracts/wal';
import { runCli } from '../../../infra/config/cli';
import { configJsonSchema } from '../../../infra/config/load';

const BAD_CONFIG = `vault:
  primaryRegion: eu-west-1
  replicaRegion: eu-west-1
alerts:
  emial: [ops@example.com]
databases:
  - name: orders
    engine: postgres
    tier: critical
    connection:
      host: orders.internal
    schedule:
      expression: cron(0 3 * * ? *)
`;

function npm(args: string[]) {
  return spawnSync('npm', ['run', '--silent', ...args], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

describe('npm run validate', () => {
  it('exits 1 with one path-precise line per problem and no stack trace', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'strongbox-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, BAD_CONFIG);

    // Act
    const result = npm(['validate', '--', '--config', file]);

    // Assess
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      `${file}: line 5: alerts.emial: found unknown key "emial"; expected "email" (check the spelling against strongbox.schema.json)`,
      `${file}: line 11: databases[0].connection.secretArn: found nothing; expected a Secrets Manager ARN: postgres needs credentials`,
      `${file}: line 13: databases[0].schedule.expression: found "cron(0 3 * * ? *)"; expected runs at most 15m apart to meet the critical tier RPO of 15m; this schedule (plus its flexible window) can leave 1d between backups`,
      `${file}: line 3: vault.replicaRegion: found "eu-west-1"; expected a region different from vault.primaryRegion: a replica in the same region does not survive a regional outage`,
      `${file}: 4 problems`,
    ]);
    expect(result.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/);
    expect(result.stdout).toBe('');
  });

  it('exits 0 for the example config', () => {
    // Prepare
    const file = 'strongbox.config.yaml';

    // Act
    const result = npm(['validate', '--', '--config', file]);

    // Assess
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe('strongbox.config.yaml: valid (4 databases)');
  });

  it('states what the server of a log-archiving database needs, with the RDS call for an RDS endpoint', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'strongbox-cli-'));
    const file = join(dir, 'logs.yaml');
    const doc = parseDocument(readFileSync('strongbox.config.yaml', 'utf8'));
    doc.setIn(['databases', 1, 'logs'], doc.createNode({ intervalMinutes: 30, windowDays: 7 }));
    doc.setIn(['databases', 1, 'connection', 'host'], 'billing.abc123xyz.eu-west-1.rds.amazonaws.com');
    doc.setIn(['databases', 2, 'logs'], doc.createNode({ intervalMinutes: 10, windowDays: 2 }));
    doc.setIn(['databases', 2, 'connection', 'host'], 'inventory.internal.example.com');
    writeFileSync(file, doc.toString());
    const io = capture();

    // Act
    const code = runCli(['validate', '--config', file], io.io);

    // Assess
    expect(code).toBe(0);
    expect(io.out).toEqual([
      `${file}: note: billing: binlog archived every 30 min, any second of the last 7 days restorable; the server needs log_bin ON and binlog_format=ROW (on RDS/Aurora also a binlog retention of at least 3 intervals: CALL mysql.rds_set_configuration('binlog retention hours', 2);)`,
      `${file}: note: inventory: binlog archived every 10 min, any second of the last 2 days restorable; the server needs log_bin ON and binlog_format=ROW`,
      `${file}: valid (4 databases)`,
    ]);
  });

  it('states what a PostgreSQL server needs for WAL archiving, naming the slot Strongbox creates', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'strongbox-cli-'));
    const file = join(dir, 'wal.yaml');
    const doc = parseDocument(readFileSync('strongbox.config.yaml', 'utf8'));
    doc.setIn(
      ['databases', 0, 'logs'],
      doc.createNode({ intervalMinutes: 5, windowDays: 7, baseBackup: { expression: 'cron(0 2 * * ? *)' } }),
    );
    doc.setIn(['databases', 0, 'connection', 'host'], 'orders-pg.internal.example.com');
    writeFileSync(file, doc.toString());
    const io = capture();

    // Act
    const code = runCli(['validate', '--config', file], io.io);

    // Assess
    expect(code).toBe(0);
    expect(io.out[0]).toBe(
      `${file}: note: orders: WAL archived every 5 min from the slot strongbox_orders, base backups on cron(0 2 * * ? *), any second of the last 7 days restorable; ${WAL_SERVER_NEEDS}`,
    );
    expect(io.out[0]).toMatch(/wal_level=replica.*REPLICATION.*max_wal_senders.*max_replication_slots.*max_slot_wal_keep_size/);
  });

  it('says a continuous database is streamed, with its flush and what its server needs', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'strongbox-cli-'));
    const file = join(dir, 'stream.yaml');
    const doc = parseDocument(readFileSync('strongbox.config.yaml', 'utf8'));
    doc.setIn(['databases', 1, 'logs'], doc.createNode({ mode: 'continuous', flushSeconds: 15, windowDays: 7 }));
    doc.setIn(['databases', 1, 'connection', 'host'], 'billing.abc123xyz.eu-west-1.rds.amazonaws.com');
    writeFileSync(file, doc.toString());
    const io = capture();

    // Act
    const code = runCli(['validate', '--config', file], io.io);

    // Assess
    expect(code).toBe(0);
    expect(io.out).toEqual([
      `${file}: note: billing: binlog streamed by a Fargate service, the tail flushed every 15 s, any second of the last 7 days restorable; the server needs log_bin ON and binlog_format=ROW (on RDS/Aurora also a binlog retention of at least 3 intervals: CALL mysql.rds_set_configuration('binlog retention hours', 1);)`,
      `${file}: valid (4 databases)`,
    ]);
  });

  it('reports a missing file as a problem, not a crash', () => {
    // Prepare
    const io = capture();

    // Act
    const code = runCli(['validate', '--config', '/nonexistent/strongbox.yaml'], io.io);

    // Assess
    expect(code).toBe(1);
    expect(io.err[0]).toBe('/nonexistent/strongbox.yaml: cannot read the file (ENOENT); expected a readable YAML file');
  });

  it('refuses an unknown option with the usage', () => {
    // Prepare
    const io = capture();

    // Act
    const code = runCli(['validate', '--file', 'x.yaml'], io.io);

    // Assess
    expect(code).toBe(2);
    expect(io.err.join('\n')).toContain('unknown option "--file"');
    expect(io.err.join('\n')).toContain('usage:');
  });
});

describe('npm run schema', () => {
  it('writes the JSON Schema of the config, and the committed copy is current', () => {
    // Prepare
    const out = join(mkdtempSync(join(tmpdir(), 'strongbox-schema-')), 'schema.json');

    // Act
    const result = npm(['schema', '--', '--out', out]);

    // Assess
    expect(result.status).toBe(0);
    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(written).toEqual(configJsonSchema());
    expect(written.properties.databases.items.properties.engine.enum).toEqual(['postgres', 'mysql', 'mariadb', 'redis', 'mongodb']);
    expect(written.additionalProperties).toBe(false);
    expect(JSON.parse(readFileSync('strongbox.schema.json', 'utf8'))).toEqual(written);
  });
});
