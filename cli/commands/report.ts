import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { mapLimit } from '../../util/map-limit';
import { stringFlag } from '../args';
import { type Command, printJson, withVault } from '../context';
import { CliUsageError, EXIT } from '../errors';
import { formatPercent, formatSeconds } from '../format';
import { type LockFacts, listFolders, loadBackups, loadRestores, objectLock } from '../report/history';
import { renderHtml } from '../report/html';
import { type MonthDatabase, monthDatabase, monthWindow } from '../report/month';

/** `strongbox report --month YYYY-MM`: the compliance evidence report, one self-contained HTML file. */

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

export const reportCommand: Command = {
  spec: {
    name: 'report',
    brief: 'compliance evidence of a month as one self-contained HTML file',
    usage: 'report --month YYYY-MM [--out <file>]',
    summary:
      'The compliance evidence report of a month as one self-contained HTML file: per database the share of the month within the RPO, backups taken and verified, drills and measured RTO against the target, Object Lock, replica coverage and the restores performed, with inline SVG charts. Read from the vault alone, so it works offline and locally.',
    positionals: [],
    flags: {
      month: { type: 'string', value: 'YYYY-MM', description: 'the month (UTC), such as 2026-11' },
      out: { type: 'string', value: '<file>', description: 'where to write the HTML (default strongbox-report-<app>-<month>.html)' },
    },
    examples: ['strongbox report --month 2026-11', 'strongbox report --month 2026-11 --local --out /tmp/evidence.html --json'],
    notes: [
      'Backups that retention has pruned are no longer in the vault: generate the report within retention.daily days after the month ends (a monthly schedule on the 1st does it).',
    ],
  },
  run: async (ctx) => {
    const month = stringFlag(ctx.values, 'month');
    if (month === undefined || !MONTH.test(month)) {
      throw new CliUsageError(
        `--month: found ${month === undefined ? 'nothing' : JSON.stringify(month)}; expected a month as YYYY-MM, such as 2026-11`,
      );
    }
    const now = ctx.now();
    const window = monthWindow(month, now);
    if (window.from > now.getTime()) {
      throw new CliUsageError(
        `--month: found ${JSON.stringify(month)}; expected a month that has begun (it is ${now.toISOString().slice(0, 7)} now)`,
      );
    }
    return withVault(ctx, async (vault) => {
      const names = Object.keys(vault.plan.databases).sort();
      const databases: MonthDatabase[] = [];
      for (const name of names) {
        const [backups, replica, restores] = await Promise.all([
          loadBackups(vault, name),
          listFolders(vault.replica, name),
          loadRestores(vault, name),
        ]);
        const locks = new Map<string, LockFacts | undefined>();
        if (vault.objectLock) {
          const inMonth = backups.filter(
            (b) => b.artifact && b.status === 'verified' && b.takenAt.getTime() >= window.from && b.takenAt.getTime() < window.to,
          );
          await mapLimit(inMonth, 16, async (b) => {
            locks.set(b.backupId, await objectLock(vault, vault.primary, b.artifact!.key));
          });
        }
        databases.push(monthDatabase(vault.plan.databases[name], backups, replica, restores, locks, vault.objectLock, window));
      }
      const daysInMonth = Math.round((Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 1) - window.from) / 86_400_000);
      const notes = [
        'Within RPO: at every instant the recovery point is the newest backup whose verification.json said verified by then; its age (now minus the time it was taken) is compared with the RPO. Time before the first verified backup counts as outside the RPO.',
        ...names
          .filter((n) => vault.plan.databases[n].retention.daily < daysInMonth)
          .map(
            (n) =>
              `${n} keeps ${vault.plan.databases[n].retention.daily} daily backups (retention.daily): backups of this month that retention pruned before the report was generated are not counted; generate the report within that many days after the month ends.`,
          ),
        ...(vault.objectLock ? [] : ['This vault has no Object Lock (the local s3rver): immutability is not evidenced here.']),
        ...(window.partial ? [`The month is in progress: the period ends at the time of generation.`] : []),
      ];
      const file = resolve(stringFlag(ctx.values, 'out') ?? `strongbox-report-${vault.plan.app}-${month}.html`);
      writeFileSync(file, renderHtml({ app: vault.plan.app, vault: vault.description, window, generatedAt: now, databases, notes }));
      if (ctx.common.json) {
        printJson(ctx, {
          file,
          month,
          from: new Date(window.from).toISOString(),
          to: new Date(window.to).toISOString(),
          partial: window.partial,
          databases,
          notes,
        });
        return EXIT.ok;
      }
      ctx.io.out(`wrote ${file}: evidence for ${month}${window.partial ? ' (in progress)' : ''}, ${databases.length} databases`);
      for (const db of databases) {
        ctx.io.out(
          `  ${db.database}: ${formatPercent(db.rpo.share, 2)} within RPO ${formatSeconds(db.rpo.rpoSeconds)}, ${db.backups.verified} of ${db.backups.taken} backups verified, drills ${db.drills.filter((d) => d.passed).length}/${db.drills.length} passed, replica ${formatPercent(db.replica.share)}, ${db.restores.length} restores`,
        );
      }
      return EXIT.ok;
    });
  },
};
