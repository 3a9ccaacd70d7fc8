import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineServer, startMariadb } from '../../../dev/servers/engines';
import { binlogServerProblems, readBinlogServer } from '../../../engines/mysql/binlog-server';
import { connect } from '../../../engines/mysql/connection';

const READY = { logBin: true, binlogFormat: 'ROW', serverId: 1 };

describe('binlogServerProblems', () => {
  it('passes a self-managed server with log_bin ON and ROW events', () => {
    // Prepare
    const settings = READY;

    // Act
    const problems = binlogServerProblems(settings, 5);

    // Assess
    expect(problems).toEqual([]);
  });

  it.each([
    {
      case: 'an RDS server that keeps no binlogs (NULL)',
      settings: { ...READY, rdsRetentionHours: null },
      line: "binlog retention hours is NULL (RDS purges binlogs as soon as it can); expected at least 2 (3 intervals), or a binlog can be purged before it is archived: CALL mysql.rds_set_configuration('binlog retention hours', 2);",
    },
    {
      case: 'an RDS retention shorter than three intervals',
      settings: { ...READY, rdsRetentionHours: 1 },
      line: "binlog retention hours is 1; expected at least 2 (3 intervals), or a binlog can be purged before it is archived: CALL mysql.rds_set_configuration('binlog retention hours', 2);",
    },
    {
      case: 'an RDS retention the user may not read',
      settings: { ...READY, rdsRetentionHours: 'unreadable' as const },
      line: 'binlog retention hours cannot be read; expected at least 2 (3 intervals): grant the backup user SELECT ON mysql.rds_configuration, and check it with CALL mysql.rds_show_configuration;',
    },
  ])('names the fix for $case', ({ settings, line }) => {
    // Prepare
    const interval = 30;

    // Act
    const problems = binlogServerProblems(settings, interval);

    // Assess
    expect(problems).toEqual([line]);
  });

  it('accepts an RDS retention of three intervals', () => {
    // Prepare
    const settings = { ...READY, rdsRetentionHours: 2 };

    // Act
    const problems = binlogServerProblems(settings, 30);

    // Assess
    expect(problems).toEqual([]);
  });
});

describe('readBinlogServer on MariaDB 10.11', () => {
  let rowServer: EngineServer;
  let noBinlog: EngineServer;

  beforeAll(async () => {
    [rowServer, noBinlog] = await Promise.all([startMariadb({ binlogFormat: 'ROW' }), startMariadb({ logBin: false })]);
  });

  afterAll(async () => {
    await Promise.all([rowServer?.stop(), noBinlog?.stop()]);
  });

  const open = (server: EngineServer) =>
    connect({ host: server.host, port: server.port, username: server.username, password: server.password, tls: 'disable' });

  it('finds a ROW-format binlog ready, and names the fix once the format is MIXED', async () => {
    // Prepare
    const conn = await open(rowServer);

    try {
      // Act
      const ready = await readBinlogServer(conn);
      await conn.query("SET GLOBAL binlog_format = 'MIXED'");
      const mixed = await readBinlogServer(conn);

      // Assess
      expect(ready).toEqual({ logBin: true, binlogFormat: 'ROW', serverId: 1 });
      expect(binlogServerProblems(ready, 5)).toEqual([]);
      expect(binlogServerProblems(mixed, 5)).toEqual([
        "binlog_format is MIXED; expected ROW: statement events can replay differently on another server (self-managed: SET GLOBAL binlog_format = 'ROW' and binlog_format=ROW in the configuration; RDS/Aurora: binlog_format ROW in the DB parameter group)",
      ]);
    } finally {
      await conn.end();
    }
  });

  it('names log_bin on a server that writes no binary log', async () => {
    // Prepare
    const conn = await open(noBinlog);

    try {
      // Act
      const settings = await readBinlogServer(conn);

      // Assess
      expect(settings.logBin).toBe(false);
      expect(binlogServerProblems(settings, 5)[0]).toMatch(/^log_bin is OFF; expected ON: archiving reads the server's binary log/);
    } finally {
      await conn.end();
    }
  });
});
