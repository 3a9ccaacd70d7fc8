import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildApp } from '../infra/app';
import { parseConfig } from '../infra/config/load';
import { estimateFleet, loadUnitPrices } from '../infra/estimate/estimate';
import { fleetConfigYaml } from './fleet-config';

/**
 * Bench section "fleet": a generated 500-database config (engines and tiers cycling, each with a backup
 * schedule and a weekly drill).
 * - synth_500_seconds: buildApp + synth with cdk-nag, without bundling (the CLI's synth plus esbuild runs the
 *   14 bundles once per plan; synth_500_bundled_seconds measures that too); synth_500_cpu_seconds: its CPU time;
 * - max_template_kb, max_resources_per_stack: over the primary, replica and shard templates;
 * - lambda_bundle_kb_max: the largest function asset (index.js, no source map) of the bundled synth;
 * - alarms_metrics_insights, alarms_standard: the alarms in those templates (composites count as standard);
 * - alarm_cost_usd_per_db_month, control_plane_usd_per_db_month: `npm run estimate` figures for the fleet.
 */
const COUNT = 500;

/**
 * Wall and CPU seconds of one synth. On a shared 2-core machine the wall time follows the load (the same
 * synth took 37 s and 64 s minutes apart); the CPU time is this process's own work, the figure to compare.
 */
function synth(bundling: boolean, outdir: string): { seconds: number; cpuSeconds: number } {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const { app } = buildApp(parseConfig(fleetConfigYaml(COUNT), 'fleet.yaml'), { bundling, outdir });
  app.synth();
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - start) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

function main(): void {
  const root = mkdtempSync(join(tmpdir(), 'strongbox-bench-fleet-'));
  try {
    const plain = join(root, 'plain');
    const { seconds, cpuSeconds } = synth(false, plain);
    const templates = readdirSync(plain).filter((f) => f.endsWith('.template.json'));
    const maxTemplateKb = Math.max(...templates.map((f) => statSync(join(plain, f)).size / 1024));
    const parsed = templates.map(
      (f) =>
        JSON.parse(readFileSync(join(plain, f), 'utf8')) as {
          Resources: Record<string, { Type: string; Properties?: { Metrics?: { Expression?: string }[] } }>;
        },
    );
    const maxResources = Math.max(...parsed.map((t) => Object.keys(t.Resources).length));
    // The alarm layout the estimate prices: Metrics Insights tier alarms (billed per metric analyzed) and standard ones.
    const alarms = parsed.flatMap((t) =>
      Object.values(t.Resources).filter((r) => r.Type.startsWith('AWS::CloudWatch::') && r.Type.endsWith('Alarm')),
    );
    const insightsAlarms = alarms.filter((r) => r.Properties?.Metrics?.some((m) => m.Expression?.startsWith('SELECT '))).length;

    const bundled = join(root, 'bundled');
    const bundledSeconds = synth(true, bundled).seconds;
    const assets = readdirSync(bundled).filter((d) => d.startsWith('asset.') && statSync(join(bundled, d)).isDirectory());
    const bundleKb = assets
      .map((d) => join(bundled, d, 'index.js'))
      .filter((f) => {
        try {
          return statSync(f).isFile();
        } catch {
          return false;
        }
      })
      .map((f) => statSync(f).size / 1024);
    const maps = assets.filter((d) => readdirSync(join(bundled, d)).some((f) => f.endsWith('.map'))).length;

    const estimate = estimateFleet(parseConfig(fleetConfigYaml(COUNT), 'fleet.yaml'), loadUnitPrices());
    const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;
    process.stdout.write(
      `${JSON.stringify({
        synth_500_seconds: round(seconds, 1),
        synth_500_cpu_seconds: round(cpuSeconds, 1),
        synth_500_bundled_seconds: round(bundledSeconds, 1),
        max_template_kb: Math.round(maxTemplateKb),
        max_resources_per_stack: maxResources,
        lambda_bundle_kb_max: Math.round(Math.max(...bundleKb)),
        lambda_bundles: bundleKb.length,
        lambda_source_maps: maps,
        alarms_metrics_insights: insightsAlarms,
        alarms_standard: alarms.length - insightsAlarms,
        alarm_cost_usd_per_db_month: round(estimate.alarmUsdPerDatabase, 3),
        control_plane_usd_per_db_month: round(estimate.controlPlaneUsdPerDatabase, 3),
      })}\n`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main();
