import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { PlanSchema } from '../../../contracts/plan';
import { ConfigError, parseConfig } from '../../../infra/config/load';
import { buildPlan, runtimePlan } from '../../../infra/config/plan';

const EXAMPLE = readFileSync('strongbox.config.yaml', 'utf8');

/** The example config with `edits` applied at YAML paths; `undefined` deletes the key. */
function exampleWith(edits: [path: (string | number)[], value: unknown][]): string {
  const doc = parseDocument(EXAMPLE);
  for (const [path, value] of edits) {
    if (value === undefined) {
      doc.deleteIn(path);
    } else {
      doc.setIn(path, doc.createNode(value));
    }
  }
  return doc.toString();
}

function problemsOf(text: string): readonly string[] {
  try {
    parseConfig(text, 'bad.yaml');
  } catch (error) {
    if (error instanceof ConfigError) {
      return error.problems;
    }
    throw error;
  }
  throw new Error('expected the config to be rejected');
}

describe('parseConfig', () => {
  it('accepts the example config and applies defaults', () => {
    // Prepare
    const text = EXAMPLE;

    // Act
    const config = parseConfig(text);

    // Assess
    expect(config.databases.map((db) => [db.name, db.engine, db.tier])).toEqual([
      ['orders', 'postgres', 'critical'],
      ['billing', 'mariadb', 'important'],
      ['inventory', 'mysql', 'general'],
      ['sessions', 'redis', 'important'],
    ]);
    expect(config.databases[1].retention).toEqual({ daily: 7, weekly: 4, monthly: 12, yearly: 7 });
    expect(config.databases[3].schedule.timezone).toBe('UTC');
    expect(config.vault.objectLock).toEqual({ mode: 'GOVERNANCE', defaultDays: 7 });
  });

  it.each([
    {
      case: 'an unknown key (typo), with the fix',
      edits: [[['vault', 'objectLock', 'defaultDay'], 7]],
      line: 'line 15: vault.objectLock.defaultDay: found unknown key "defaultDay"; expected "defaultDays" (check the spelling against strongbox.schema.json)',
    },
    {
      case: 'a duplicate database name',
      edits: [[['databases', 2, 'name'], 'orders']],
      line: /^line \d+: databases\[2\]\.name: found "orders"; expected a unique name; databases\[0\] already uses it$/,
    },
    {
      case: 'a cron expression with five fields',
      edits: [[['databases', 2, 'schedule', 'expression'], 'cron(0 2 * * ?)']],
      line: /^line \d+: databases\[2\]\.schedule\.expression: found "cron\(0 2 \* \* \?\)"; expected a valid schedule expression: cron needs 6 fields .*found 5$/,
    },
    {
      case: 'a cron expression with both day fields set',
      edits: [[['databases', 2, 'schedule', 'expression'], 'cron(0 2 * * MON *)']],
      line: /databases\[2\]\.schedule\.expression: found "cron\(0 2 \* \* MON \*\)"; expected a valid schedule expression: exactly one of day-of-month and day-of-week must be "\?"$/,
    },
    {
      case: 'a rate with an unknown unit',
      edits: [[['databases', 2, 'schedule', 'expression'], 'rate(2 weeks)']],
      line: /databases\[2\]\.schedule\.expression: found "rate\(2 weeks\)"; expected a valid schedule expression: rate unit "weeks" is not one of minute\(s\), hour\(s\), day\(s\)$/,
    },
    {
      case: 'an unknown time zone',
      edits: [[['databases', 1, 'schedule', 'timezone'], 'Europe/Atlantis']],
      line: /^line \d+: databases\[1\]\.schedule\.timezone: found "Europe\/Atlantis"; expected an IANA time zone such as "UTC" or "Europe\/Berlin"$/,
    },
    {
      case: 'a daily schedule on a 15-minute RPO',
      edits: [[['databases', 0, 'schedule', 'expression'], 'cron(0 3 * * ? *)']],
      line: /^line \d+: databases\[0\]\.schedule\.expression: found "cron\(0 3 \* \* \? \*\)"; expected runs at most 15m apart to meet the critical tier RPO of 15m; this schedule \(plus its flexible window\) can leave 1d between backups$/,
    },
    {
      case: 'a flexible window that breaks the RPO of an otherwise fitting schedule',
      edits: [[['databases', 1, 'schedule', 'flexibleWindowMinutes'], 30]],
      line: /databases\[1\]\.schedule\.expression: .*RPO of 1h; this schedule \(plus its flexible window\) can leave 90m between backups$/,
    },
    {
      case: 'a replica region equal to the primary region',
      edits: [[['vault', 'replicaRegion'], 'eu-west-1']],
      line: 'line 9: vault.replicaRegion: found "eu-west-1"; expected a region different from vault.primaryRegion: a replica in the same region does not survive a regional outage',
    },
    {
      case: 'retention counts that are all zero',
      edits: [[['databases', 3, 'retention'], { daily: 0, weekly: 0, monthly: 0, yearly: 0 }]],
      line: /^line \d+: databases\[3\]\.retention: found \{"daily":0,"weekly":0,"monthly":0,"yearly":0\}; expected at least one of daily, weekly, monthly, yearly above 0: this retention would keep nothing$/,
    },
    {
      case: 'a negative retention count',
      edits: [[['databases', 3, 'retention', 'weekly'], -2]],
      line: /^line \d+: databases\[3\]\.retention\.weekly: found -2; expected 0 or more weekly to keep; a negative count keeps nothing and is not allowed$/,
    },
    {
      case: 'a missing secretArn for an engine that needs credentials',
      edits: [[['databases', 1, 'connection', 'secretArn'], undefined]],
      line: /^line \d+: databases\[1\]\.connection\.secretArn: found nothing; expected a Secrets Manager ARN: mariadb needs credentials$/,
    },
    {
      case: 'a malformed secret ARN',
      edits: [[['databases', 0, 'connection', 'secretArn'], 'arn:aws:secretsmanager:eu-west-1:1234:secret:orders']],
      line: /databases\[0\]\.connection\.secretArn: found "arn:aws:secretsmanager:eu-west-1:1234:secret:orders"; expected a Secrets Manager ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>$/,
    },
    {
      case: 'a malformed pager secret ARN',
      edits: [[['alerts', 'pager', 'endpointSecretArn'], 'arn:aws:ssm:eu-west-1:123456789012:parameter/pd']],
      line: /^line \d+: alerts\.pager\.endpointSecretArn: found "arn:aws:ssm:.*"; expected a Secrets Manager ARN/,
    },
    {
      case: 'a malformed KMS key ARN',
      edits: [
        [
          ['vault', 'kms'],
          {
            mode: 'import',
            keyArn: 'arn:aws:kms:eu-west-1:123456789012:alias/vault',
            replicaKeyArn: 'arn:aws:kms:eu-central-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef',
          },
        ],
      ],
      line: /^line \d+: vault\.kms\.keyArn: found "arn:aws:kms:eu-west-1:123456789012:alias\/vault"; expected a KMS key ARN: arn:aws:kms:<region>:<12-digit account>:key\/<key id>$/,
    },
    {
      case: 'an unsupported engine',
      edits: [[['databases', 2, 'engine'], 'oracle']],
      line: /^line \d+: databases\[2\]\.engine: found "oracle"; expected one of postgres, mysql, mariadb, redis, mongodb$/,
    },
  ] as { case: string; edits: [(string | number)[], unknown][]; line: string | RegExp }[])(
    'rejects $case with one path-precise line',
    ({ edits, line }) => {
      // Prepare
      const text = exampleWith(edits);

      // Act
      const problems = problemsOf(text);

      // Assess
      expect(problems).toHaveLength(1);
      if (typeof line === 'string') {
        expect(problems[0]).toBe(line);
      } else {
        expect(problems[0]).toMatch(line);
      }
    },
  );

  it('reports every problem of a config in one pass', () => {
    // Prepare
    const text = exampleWith([
      [['vault', 'replicaRegion'], 'eu-west-1'],
      [['databases', 1, 'name'], 'orders'],
      [['databases', 2, 'engine'], 'oracle'],
      [['databases', 3, 'schedule', 'timezone'], 'Nowhere/Else'],
      // The example's DR plan names databases[1]; renaming it is not the point here.
      [['drPlans'], undefined],
    ]);

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems.map((p) => p.replace(/^line \d+: /, '').split(':')[0]).sort()).toEqual([
      'databases[1].name',
      'databases[2].engine',
      'databases[3].schedule.timezone',
      'vault.replicaRegion',
    ]);
  });

  it("reports a database's own checks even when another of its fields is invalid", () => {
    // Prepare
    const text = exampleWith([
      [['databases', 0, 'engine'], 'postgress'],
      [['databases', 0, 'schedule', 'timezone'], 'Europe/Dublinn'],
      [['databases', 0, 'schedule', 'expression'], 'rate(1 hour)'],
    ]);

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/databases\[0\]\.engine: found "postgress"; expected one of postgres/),
      expect.stringMatching(/databases\[0\]\.schedule\.timezone: found "Europe\/Dublinn"; expected an IANA time zone/),
      expect.stringMatching(/databases\[0\]\.schedule\.expression: found "rate\(1 hour\)"; expected runs at most 15m apart/),
    ]);
  });

  it('reports a database entry that is not a mapping without crashing', () => {
    // Prepare
    const text = exampleWith([
      [['databases', 1], 5],
      [['drPlans'], undefined],
    ]);

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^line \d+: databases\[1\]: found 5; expected object$/)]);
  });

  it('rejects import mode without the key ARNs', () => {
    // Prepare
    const text = exampleWith([[['vault', 'kms'], { mode: 'import' }]]);

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/vault\.kms\.keyArn: found nothing; expected a KMS key ARN when kms\.mode is "import"$/),
      expect.stringMatching(/vault\.kms\.replicaKeyArn: found nothing; expected a KMS key ARN when kms\.mode is "import"$/),
    ]);
  });

  it('rejects a chat section with both Slack and Teams', () => {
    // Prepare
    const text = exampleWith([
      [
        ['alerts', 'chat', 'teams'],
        { teamId: '0a1b2c3d-0000-4000-8000-000000000001', channelId: '19:abc', tenantId: '0a1b2c3d-0000-4000-8000-000000000002' },
      ],
    ]);

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toEqual([expect.stringMatching(/alerts\.chat: found \{"slack".*; expected exactly one of "slack" or "teams"$/)]);
  });

  it('reports invalid YAML with its line and column', () => {
    // Prepare
    const text = 'vault:\n  primaryRegion: eu-west-1\n  primaryRegion: eu-west-2\n';

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^line 3, column 3: .*; expected valid YAML$/)]);
  });
});

describe('parseConfig: logs', () => {
  it('lets a daily full dump plus 5-minute logs meet a 15-minute RPO, and puts the logs in the plan', () => {
    // Prepare
    const text = exampleWith([
      [['databases', 1, 'tier'], 'critical'],
      [['databases', 1, 'schedule', 'expression'], 'cron(0 3 * * ? *)'],
      [['databases', 1, 'logs'], { intervalMinutes: 5, windowDays: 7 }],
    ]);

    // Act
    const config = parseConfig(text);
    const plan = buildPlan(config);

    // Assess
    expect(config.databases[1].logs).toEqual({ intervalMinutes: 5, windowDays: 7 });
    expect(plan.databases.billing.logs).toEqual({ kind: 'binlog', intervalSeconds: 300, windowDays: 7 });
    expect(plan.databases.orders.logs).toBeUndefined();
    expect(PlanSchema.parse(runtimePlan(plan)).databases.billing.logs?.intervalSeconds).toBe(300);
  });

  it('accepts PostgreSQL logs with a base backup schedule on a self-managed server, and plans WAL', () => {
    // Prepare
    const text = exampleWith([
      [['databases', 0, 'connection', 'host'], 'orders-pg.internal.example.com'],
      [
        ['databases', 0, 'logs'],
        { intervalMinutes: 5, windowDays: 7, baseBackup: { expression: 'cron(0 2 * * ? *)' }, retainedWalAlarmGiB: 20 },
      ],
    ]);

    // Act
    const config = parseConfig(text);
    const plan = buildPlan(config);

    // Assess
    expect(config.databases[0].logs).toEqual({
      intervalMinutes: 5,
      windowDays: 7,
      baseBackup: { expression: 'cron(0 2 * * ? *)', timezone: 'UTC' },
      retainedWalAlarmGiB: 20,
    });
    expect(plan.databases.orders.logs).toEqual({ kind: 'wal', intervalSeconds: 300, windowDays: 7, retainedWalAlarmBytes: 20 * 2 ** 30 });
  });

  it.each([
    {
      case: 'logs for an engine whose logs are not archived yet',
      edits: [[['databases', 3, 'logs'], { intervalMinutes: 5, windowDays: 7 }]],
      line: /^line \d+: databases\[3\]\.logs: found \{.*\}; expected no logs block for redis: continuous log archiving is for mysql, mariadb and postgres; remove logs/,
    },
    {
      case: 'PostgreSQL logs on an RDS/Aurora endpoint, pointing to RDS point-in-time restore',
      edits: [[['databases', 0, 'logs'], { intervalMinutes: 5, windowDays: 7, baseBackup: { expression: 'cron(0 2 * * ? *)' } }]],
      line: /^line \d+: databases\[0\]\.logs: found .*; expected no logs block for the RDS\/Aurora endpoint orders\.cluster-abc123\.eu-west-1\.rds\.amazonaws\.com: RDS and Aurora PostgreSQL offer no physical replication connection .*restore-db-cluster-to-point-in-time for Aurora\) and remove logs here/,
    },
    {
      case: 'PostgreSQL logs without a base backup schedule, saying what the server needs',
      edits: [
        [['databases', 0, 'connection', 'host'], 'orders-pg.internal.example.com'],
        [['databases', 0, 'logs'], { intervalMinutes: 5, windowDays: 7 }],
      ],
      line: /databases\[0\]\.logs\.baseBackup: .*expected a baseBackup schedule for postgres, such as \{ expression: "cron\(0 2 \? \* SUN \*\)" \}: WAL replays from a base backup .*wal_level=replica.*REPLICATION.*max_wal_senders.*max_replication_slots.*max_slot_wal_keep_size/,
    },
    {
      case: 'base backups further apart than the window',
      edits: [
        [['databases', 0, 'connection', 'host'], 'orders-pg.internal.example.com'],
        [['databases', 0, 'logs'], { intervalMinutes: 5, windowDays: 3, baseBackup: { expression: 'cron(0 2 ? * SUN *)' } }],
      ],
      line: 'databases[0].logs.baseBackup.expression: found "cron(0 2 ? * SUN *)"; expected base backups at most 3d apart (logs.windowDays), so every window holds a base to replay WAL from; this schedule can leave 7d between base backups',
    },
    {
      case: 'a PostgreSQL key in a binlog block',
      edits: [[['databases', 1, 'logs'], { intervalMinutes: 5, windowDays: 7, baseBackup: { expression: 'cron(0 2 * * ? *)' } }]],
      line: /databases\[1\]\.logs\.baseBackup: .*expected no baseBackup for mariadb: it belongs to PostgreSQL's WAL archiving; mariadb binlogs replay from the full backups of schedule, so remove logs\.baseBackup/,
    },
    {
      case: 'a PostgreSQL interval longer than the RPO, with what the server needs',
      edits: [
        [['databases', 0, 'connection', 'host'], 'orders-pg.internal.example.com'],
        [['databases', 0, 'logs'], { intervalMinutes: 20, windowDays: 7, baseBackup: { expression: 'cron(0 2 * * ? *)' } }],
      ],
      line: /databases\[0\]\.logs\.intervalMinutes: found 20; expected an interval of at most 15 minutes to meet the critical tier RPO of 15m: up to one interval of writes is not yet archived; the server needs wal_level=replica/,
    },
    {
      case: 'an interval longer than the RPO, with what the server needs',
      edits: [
        [['databases', 1, 'tier'], 'critical'],
        [['databases', 1, 'logs'], { intervalMinutes: 20, windowDays: 7 }],
      ],
      line: "databases[1].logs.intervalMinutes: found 20; expected an interval of at most 15 minutes to meet the critical tier RPO of 15m: up to one interval of writes is not yet archived; the server needs log_bin ON and binlog_format=ROW (on RDS/Aurora also a binlog retention of at least 3 intervals: CALL mysql.rds_set_configuration('binlog retention hours', 1);)",
    },
    {
      case: 'full dumps further apart than the window',
      edits: [
        [['databases', 1, 'schedule', 'expression'], 'cron(0 3 ? * MON *)'],
        [['databases', 1, 'logs'], { intervalMinutes: 5, windowDays: 3 }],
      ],
      line: 'databases[1].schedule.expression: found "cron(0 3 ? * MON *)"; expected full backups at most 3d apart (logs.windowDays), so every window holds a dump to replay from; this schedule (plus its flexible window) can leave 7d between backups',
    },
    {
      case: 'an interval below the Scheduler minimum',
      edits: [[['databases', 1, 'logs'], { intervalMinutes: 0, windowDays: 7 }]],
      line: "databases[1].logs.intervalMinutes: found 0; expected at least 1 minute between archiving runs (EventBridge Scheduler's smallest rate)",
    },
    {
      case: 'a mistyped key in the block',
      edits: [[['databases', 2, 'logs'], { intervalMinutes: 5, windowDay: 7 }]],
      line: /databases\[2\]\.logs\.windowDay: found unknown key "windowDay"; expected "windowDays"/,
    },
  ] as { case: string; edits: [(string | number)[], unknown][]; line: string | RegExp }[])('refuses $case', ({ edits, line }) => {
    // Prepare
    const text = exampleWith(edits);

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toContainEqual(typeof line === 'string' ? expect.stringContaining(line) : expect.stringMatching(line));
  });
});

describe('parseConfig: logs.mode continuous', () => {
  it('streams with a 30 s flush by default, which meets a critical 15-minute RPO, and puts the mode and flush in the plan', () => {
    // Prepare
    const text = exampleWith([
      [['databases', 1, 'tier'], 'critical'],
      [['databases', 1, 'schedule', 'expression'], 'cron(0 3 * * ? *)'],
      [['databases', 1, 'logs'], { mode: 'continuous', windowDays: 7 }],
      [['databases', 2, 'logs'], { mode: 'continuous', flushSeconds: 90, windowDays: 7 }],
    ]);

    // Act
    const config = parseConfig(text);
    const plan = buildPlan(config);

    // Assess
    expect(config.databases[1].logs).toEqual({ mode: 'continuous', windowDays: 7 });
    expect(plan.databases.billing.logs).toEqual({
      kind: 'binlog',
      intervalSeconds: 60,
      windowDays: 7,
      mode: 'continuous',
      flushSeconds: 30,
    });
    expect(plan.databases.inventory.logs).toMatchObject({ intervalSeconds: 120, mode: 'continuous', flushSeconds: 90 });
    expect(PlanSchema.parse(runtimePlan(plan)).databases.billing.logs?.flushSeconds).toBe(30);
  });

  it('keeps a block without mode scheduled, as before', () => {
    // Prepare
    const text = exampleWith([[['databases', 1, 'logs'], { mode: 'scheduled', intervalMinutes: 5, windowDays: 7 }]]);

    // Act
    const plan = buildPlan(parseConfig(text));

    // Assess
    expect(plan.databases.billing.logs).toEqual({ kind: 'binlog', intervalSeconds: 300, windowDays: 7 });
  });

  it.each([
    {
      case: 'a flush below 5 s',
      edits: [[['databases', 1, 'logs'], { mode: 'continuous', flushSeconds: 2, windowDays: 7 }]],
      line: 'databases[1].logs.flushSeconds: found 2; expected at least 5 seconds between flushes of the binlog tail',
    },
    {
      case: 'a flush above 300 s, pointing at mode scheduled',
      edits: [[['databases', 1, 'logs'], { mode: 'continuous', flushSeconds: 600, windowDays: 7 }]],
      line: 'databases[1].logs.flushSeconds: found 600; expected at most 300 seconds between flushes; for longer use mode scheduled with intervalMinutes, which costs no running service',
    },
    {
      case: 'a flush longer than the RPO',
      edits: [
        [['databases', 1, 'rpo'], '1m'],
        [['databases', 1, 'logs'], { mode: 'continuous', flushSeconds: 120, windowDays: 7 }],
      ],
      line: 'databases[1].logs.flushSeconds: found 120; expected a flush interval of at most 60 seconds to meet the RPO of 1m: up to one flush interval of writes is not yet archived',
    },
    {
      case: 'an unknown mode',
      edits: [[['databases', 1, 'logs'], { mode: 'stream', windowDays: 7 }]],
      line: 'databases[1].logs.mode: found "stream"; expected mode to be one of scheduled, continuous',
    },
    {
      case: 'flushSeconds on a scheduled block',
      edits: [[['databases', 1, 'logs'], { intervalMinutes: 5, flushSeconds: 30, windowDays: 7 }]],
      line: 'databases[1].logs.flushSeconds: found 30; expected no flushSeconds with mode scheduled: it sets the continuous streamer; add mode: continuous, or remove flushSeconds',
    },
    {
      case: 'intervalMinutes on a continuous block',
      edits: [[['databases', 1, 'logs'], { mode: 'continuous', intervalMinutes: 5, windowDays: 7 }]],
      line: 'databases[1].logs.intervalMinutes: found 5; expected no intervalMinutes with mode continuous: the service archives all the time and flushSeconds sets how often the tail goes up; remove intervalMinutes',
    },
    {
      case: 'a scheduled block without its interval',
      edits: [[['databases', 1, 'logs'], { windowDays: 7 }]],
      line: 'databases[1].logs.intervalMinutes: found nothing; expected a whole number of minutes between archiving runs (required with mode scheduled), e.g. 5',
    },
    {
      case: 'continuous for postgres',
      edits: [
        [['databases', 0, 'logs'], { mode: 'continuous', windowDays: 7, baseBackup: { expression: 'cron(0 2 * * ? *)' } }],
        // A self-managed server: an RDS endpoint is refused for any PostgreSQL logs block before its mode is read.
        [['databases', 0, 'connection', 'host'], 'orders-pg.internal.example.com'],
      ],
      line: 'databases[0].logs.mode: found "continuous"; expected mode scheduled for postgres: the continuous streamer archives MySQL/MariaDB binlogs',
    },
  ] as { case: string; edits: [(string | number)[], unknown][]; line: string }[])('refuses $case', ({ edits, line }) => {
    // Prepare
    const text = exampleWith(edits);

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toContainEqual(expect.stringContaining(line));
  });
});
