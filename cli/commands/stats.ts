import { stringFlag } from '../args';
import { type Command, printJson, requireDatabase, withVault } from '../context';
import { CliUsageError, EXIT } from '../errors';
import { formatBytes, formatInstant, formatPercent, formatSeconds, table } from '../format';
import { listFolders, loadBackups } from '../report/history';
import { type DatabaseStats, databaseStats, fleetStats, RUN_WINDOW } from '../report/stats';

/** `strongbox stats [<database>]`: per database and for the fleet, from the vault alone. */

const DEFAULT_FLOOR_MBPS = 5;

function growthText(s: DatabaseStats, key: 'days7' | 'days30'): string {
  const g = s.growth[key];
  return g ? `data ${formatPercent(g.data, 0)}, backup ${formatPercent(g.backup, 0)}` : 'not enough history';
}

export const statsCommand: Command = {
  spec: {
    name: 'stats',
    brief: 'slots, storage, growth, success rate, speed, drills; flags trends',
    usage: 'stats [<database>]',
    summary:
      'Per database and for the fleet: backups by GFS slot and storage class, bytes in the primary and replica vaults, growth over 7 and 30 days, success rate, duration and throughput (mean, p95) of the last 50 runs, compression, last drill and RTO, oldest restorable point. Flags backups slower than before, throughput below the floor, and storage growing faster than the data.',
    positionals: [{ name: 'database', required: false }],
    flags: {
      'throughput-floor': {
        type: 'string',
        value: '<MB/s>',
        description: `lowest acceptable mean throughput of the recent backups of 64 MiB or more (default ${DEFAULT_FLOOR_MBPS})`,
      },
    },
    examples: ['strongbox stats', 'strongbox stats orders --json', 'strongbox stats --local --throughput-floor 20'],
    notes: [
      'Success rate counts the runs still in the vault: finished dumps (manifest.json) against failed ones (failure.json without a manifest); retention prunes failed leftovers after vault.graceHours.',
    ],
  },
  run: async (ctx) => {
    const floorText = stringFlag(ctx.values, 'throughput-floor');
    const floor = floorText === undefined ? DEFAULT_FLOOR_MBPS : Number(floorText);
    if (!(floor >= 0) || floorText?.trim() === '') {
      throw new CliUsageError(`--throughput-floor: found ${JSON.stringify(floorText)}; expected a number of MB/s, such as 20`);
    }
    return withVault(ctx, async (vault) => {
      const only = ctx.positionals[0];
      if (only !== undefined) {
        requireDatabase(vault.plan, only);
      }
      const names = only ? [only] : Object.keys(vault.plan.databases).sort();
      const now = ctx.now();
      const all: DatabaseStats[] = [];
      for (const name of names) {
        const [backups, replica] = await Promise.all([loadBackups(vault, name), listFolders(vault.replica, name)]);
        all.push(
          databaseStats(vault.plan.databases[name], backups, replica, {
            now,
            graceSeconds: vault.plan.graceSeconds,
            throughputFloorMBps: floor,
          }),
        );
      }
      const fleet = fleetStats(all);
      if (ctx.common.json) {
        printJson(ctx, { vault: vault.description, at: now.toISOString(), databases: all, fleet });
        return EXIT.ok;
      }
      const out = ctx.io.out;
      out(`Strongbox stats, ${vault.description}, at ${formatInstant(now)}`);
      for (const s of all) {
        out('');
        out(`${s.database} (${s.engine}, ${s.tier})`);
        const rows: [string, string][] = [
          [
            'backups',
            `${s.backups.verified} verified of ${s.backups.folders} (${s.backups.failedVerification} failed verification, ${s.backups.unverified} not verified yet, ${s.backups.incomplete} without manifest)`,
          ],
          ['GFS slots', `daily ${s.slots.daily}, weekly ${s.slots.weekly}, monthly ${s.slots.monthly}, yearly ${s.slots.yearly}`],
          [
            'storage class',
            Object.entries(s.storageClasses)
              .map(([cls, n]) => `${cls} ${n}`)
              .join(', ') || '-',
          ],
          ['bytes', `primary ${formatBytes(s.bytes.primary)}, replica ${formatBytes(s.bytes.replica)}`],
          ['growth 7 days', growthText(s, 'days7')],
          ['growth 30 days', growthText(s, 'days30')],
          ['success rate', `${formatPercent(s.success.rate)} (${s.success.succeeded} of ${s.success.runs} runs)`],
          [
            `last ${Math.min(RUN_WINDOW, s.runs.count)} runs`,
            s.runs.durationSeconds
              ? `duration mean ${formatSeconds(s.runs.durationSeconds.mean)}, p95 ${formatSeconds(s.runs.durationSeconds.p95)}; throughput mean ${s.runs.throughputMBps!.mean.toFixed(1)} MB/s, p95 ${s.runs.throughputMBps!.p95.toFixed(1)} MB/s`
              : '-',
          ],
          ['compression', s.compression.latest ? `${s.compression.latest}x latest, ${s.compression.mean}x mean` : '-'],
          [
            'last drill',
            s.drill.last
              ? `${s.drill.last.passed ? 'passed' : 'FAILED'} ${formatInstant(s.drill.last.drilledAt)}, RTO ${formatSeconds(s.drill.last.restoreSeconds)} of ${formatSeconds(s.drill.rtoSeconds)}${s.drill.withinRto ? '' : ' (NOT within RTO)'}`
              : 'never drilled',
          ],
          [
            'oldest restorable',
            s.oldestRestorable ? `${s.oldestRestorable.backupId} (${formatInstant(s.oldestRestorable.takenAt)})` : 'none',
          ],
        ];
        for (const line of table(['', ''], rows).slice(2)) {
          out(`  ${line}`);
        }
        for (const flag of s.flags) {
          out(`  ! ${flag.message}`);
        }
      }
      out('');
      out(
        `fleet: ${fleet.databases} databases, ${fleet.verified} verified of ${fleet.backups} backups, primary ${formatBytes(fleet.bytes.primary)}, replica ${formatBytes(fleet.bytes.replica)}, success rate ${formatPercent(fleet.success.rate)} (${fleet.success.succeeded} of ${fleet.success.runs})`,
      );
      out(
        `  oldest restorable point: ${fleet.oldestRestorable ? `${fleet.oldestRestorable.backupId} (${fleet.oldestRestorable.database})` : 'none'}; last drill failed: ${fleet.drillsFailedLast.join(', ') || 'none'}; flagged: ${fleet.flagged.join(', ') || 'none'}`,
      );
      return EXIT.ok;
    });
  },
};
