import type mysql from 'mysql2/promise';
import { LOG_RETENTION_INTERVALS, rdsBinlogRetentionCall, rdsBinlogRetentionHours } from '../../contracts/logs';

/** What binlog archiving needs to know of a MySQL/MariaDB server before it reads a byte. */
export interface BinlogServerSettings {
  readonly logBin: boolean;
  readonly binlogFormat: string;
  readonly serverId: number;
  /**
   * RDS/Aurora only (undefined elsewhere): `binlog retention hours`, null when unset (RDS then purges binlogs
   * as soon as it can), or 'unreadable' when the user may not read mysql.rds_configuration.
   */
  readonly rdsRetentionHours?: number | null | 'unreadable';
}

/** RDS and Aurora install the server under /rdsdbbin; nothing else does, and every user may read @@basedir. */
const RDS_BASEDIR = /^\/rdsdbbin\//;

export async function readBinlogServer(conn: mysql.Connection): Promise<BinlogServerSettings> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT @@GLOBAL.log_bin AS logBin, @@GLOBAL.binlog_format AS format, @@GLOBAL.server_id AS serverId, @@basedir AS basedir',
  );
  const row = rows[0] as { logBin: number | string; format: string; serverId: number | string; basedir: string };
  const settings = { logBin: Number(row.logBin) === 1, binlogFormat: String(row.format).toUpperCase(), serverId: Number(row.serverId) };
  if (!RDS_BASEDIR.test(String(row.basedir))) {
    return settings;
  }
  try {
    const [config] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT value FROM mysql.rds_configuration WHERE name = 'binlog retention hours'",
    );
    const value = config[0]?.value;
    return { ...settings, rdsRetentionHours: value === null || value === undefined ? null : Number(value) };
  } catch {
    return { ...settings, rdsRetentionHours: 'unreadable' };
  }
}

/**
 * One line per setting that keeps the server's binlog from being archived and replayed, each naming the fix.
 * Empty when the server is ready for archiving every `intervalMinutes`.
 */
export function binlogServerProblems(settings: BinlogServerSettings, intervalMinutes: number): string[] {
  const problems: string[] = [];
  if (!settings.logBin) {
    problems.push(
      "log_bin is OFF; expected ON: archiving reads the server's binary log (self-managed: set log_bin and server_id in the server's configuration and restart; RDS/Aurora: turn on automated backups, which turn on the binlog)",
    );
  }
  if (settings.binlogFormat !== 'ROW') {
    problems.push(
      `binlog_format is ${settings.binlogFormat}; expected ROW: statement events can replay differently on another server (self-managed: SET GLOBAL binlog_format = 'ROW' and binlog_format=ROW in the configuration; RDS/Aurora: binlog_format ROW in the DB parameter group)`,
    );
  }
  const hours = settings.rdsRetentionHours;
  const needed = rdsBinlogRetentionHours(intervalMinutes);
  if (hours === 'unreadable') {
    problems.push(
      `binlog retention hours cannot be read; expected at least ${needed} (${LOG_RETENTION_INTERVALS} intervals): grant the backup user SELECT ON mysql.rds_configuration, and check it with CALL mysql.rds_show_configuration;`,
    );
  } else if (hours === null || (typeof hours === 'number' && hours < needed)) {
    problems.push(
      `binlog retention hours is ${hours === null ? 'NULL (RDS purges binlogs as soon as it can)' : hours}; expected at least ${needed} (${LOG_RETENTION_INTERVALS} intervals), or a binlog can be purged before it is archived: ${rdsBinlogRetentionCall(intervalMinutes)}`,
    );
  }
  return problems;
}
