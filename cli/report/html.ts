import { formatBytes, formatInstant, formatPercent, formatSeconds } from '../format';
import type { MonthDatabase, MonthWindow } from './month';

/**
 * The monthly evidence report as one self-contained HTML file: inline CSS, inline SVG charts, no script and no
 * external resource, so it opens offline, prints, and can be archived as it is.
 */

export interface ReportDocument {
  readonly app: string;
  readonly vault: string;
  readonly window: MonthWindow;
  readonly generatedAt: Date;
  readonly databases: readonly MonthDatabase[];
  /** Caveats about the evidence basis (retention, partial month). */
  readonly notes: readonly string[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

interface Series {
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number | null; readonly label?: string }[];
}

interface ChartOptions {
  readonly id: string;
  readonly title: string;
  readonly xFrom: number;
  readonly xTo: number;
  readonly yMax: number;
  readonly yTick: (value: number) => string;
  readonly reference?: { readonly y: number; readonly label: string };
  /** Draw a dot at every point (sparse series such as drills). */
  readonly markers?: boolean;
}

const WIDTH = 860;
const HEIGHT = 280;
const M = { left: 70, right: 20, top: 30, bottom: 40 };

/** One `<path class="series">` per series (a gap where y is null), axes, an optional reference line, a legend. */
export function lineChart(series: readonly Series[], o: ChartOptions): string {
  const plotW = WIDTH - M.left - M.right;
  const plotH = HEIGHT - M.top - M.bottom;
  const span = Math.max(1, o.xTo - o.xFrom);
  const yMax = o.yMax > 0 ? o.yMax : 1;
  const x = (v: number) => (M.left + ((v - o.xFrom) / span) * plotW).toFixed(1);
  const y = (v: number) => (M.top + plotH - (Math.min(v, yMax) / yMax) * plotH).toFixed(1);
  const parts: string[] = [];
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" class="plot"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    parts.push(`<line class="grid" x1="${M.left}" x2="${M.left + plotW}" y1="${y(v)}" y2="${y(v)}"/>`);
    parts.push(
      `<text class="tick" x="${M.left - 6}" y="${y(v)}" text-anchor="end" dominant-baseline="middle">${escapeHtml(o.yTick(v))}</text>`,
    );
  }
  const days = Math.round(span / 86_400_000);
  const step = days > 20 ? 7 : days > 6 ? 2 : 1;
  for (let d = 0; d <= days; d += step) {
    const at = o.xFrom + d * 86_400_000;
    parts.push(
      `<text class="tick" x="${x(at)}" y="${M.top + plotH + 16}" text-anchor="middle">${new Date(at).toISOString().slice(5, 10)}</text>`,
    );
  }
  if (o.reference) {
    parts.push(
      `<line class="reference" x1="${M.left}" x2="${M.left + plotW}" y1="${y(o.reference.y)}" y2="${y(o.reference.y)}"/>`,
      `<text class="reference-label" x="${M.left + plotW - 4}" y="${Number(y(o.reference.y)) - 4}" text-anchor="end">${escapeHtml(o.reference.label)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    let d = '';
    let pen = false;
    for (const p of s.points) {
      if (p.y === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(p.x)} ${y(p.y)} `;
      pen = true;
    }
    parts.push(
      `<path class="series" data-database="${escapeHtml(s.name)}" d="${d.trim()}" stroke="${color}" fill="none" stroke-width="2"><title>${escapeHtml(s.name)}</title></path>`,
    );
    if (o.markers) {
      for (const p of s.points) {
        if (p.y !== null) {
          parts.push(
            `<circle class="marker" cx="${x(p.x)}" cy="${y(p.y)}" r="4" fill="${color}"><title>${escapeHtml(`${s.name}: ${p.label ?? ''}`)}</title></circle>`,
          );
        }
      }
    }
    parts.push(
      `<rect x="${M.left + 10 + i * 150}" y="8" width="12" height="12" fill="${color}"/><text class="legend" x="${M.left + 26 + i * 150}" y="18">${escapeHtml(s.name)}</text>`,
    );
  });
  return `<figure><figcaption>${escapeHtml(o.title)}</figcaption><svg id="${o.id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeHtml(o.title)}">${parts.join('')}</svg></figure>`;
}

const CSS = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;margin:2rem auto;max-width:960px;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #d8dce4;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;width:100%}th,td{border:1px solid #d8dce4;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#b3261e;font-weight:600}.good{color:#1e7b34}
.meta{color:#5b6475}figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.3rem}
svg .plot{fill:#fafbfc;stroke:#c9ced8}svg .grid{stroke:#e3e6ec}svg .tick,svg .legend,svg .reference-label{font-size:11px;fill:#5b6475}
svg .reference{stroke:#b3261e;stroke-dasharray:6 4;stroke-width:1.5}ul.notes li{color:#5b6475}`;

function pctClass(share: number | undefined, good = 0.999): string {
  return share === undefined ? '' : share >= good ? 'good' : 'bad';
}

function databaseSection(db: MonthDatabase): string {
  const rows = (cells: readonly (readonly string[])[]) => cells.map((c) => `<tr><th>${c[0]}</th><td>${c[1]}</td></tr>`).join('');
  const passed = db.drills.filter((d) => d.passed).length;
  const imm = db.immutability;
  const immText = !imm.supported
    ? 'unknown: not supported by this vault (no Object Lock)'
    : `${imm.locked} of ${imm.objects} verified backups locked${
        Object.keys(imm.modes).length
          ? ` (${Object.entries(imm.modes)
              .map(([m, n]) => `${m} ${n}`)
              .join(', ')})`
          : ''
      }${imm.earliestRetainUntil ? `, retained until ${imm.earliestRetainUntil.slice(0, 10)} to ${imm.latestRetainUntil!.slice(0, 10)}` : ''}; legal holds: ${imm.legalHolds}`;
  const drills = db.drills.length
    ? `<table><tr><th>drilled</th><th>backup</th><th>result</th><th>measured RTO</th><th>target</th></tr>${db.drills
        .map(
          (d) =>
            `<tr><td>${formatInstant(d.drilledAt)}</td><td>${escapeHtml(d.backupId)}</td><td class="${d.passed ? 'good' : 'bad'}">${d.passed ? 'passed' : 'failed'}</td><td class="num ${d.withinRto ? '' : 'bad'}">${formatSeconds(d.restoreSeconds)}</td><td class="num">${formatSeconds(db.rtoSeconds)}</td></tr>`,
        )
        .join('')}</table>`
    : '<p>No drill in this month.</p>';
  const restores = db.restores.length
    ? `<table><tr><th>started</th><th>outcome</th><th>backup</th><th>target</th><th>requested by</th><th>time</th></tr>${db.restores
        .map(
          (r) =>
            `<tr><td>${formatInstant(r.startedAt)}</td><td class="${r.outcome === 'restored' ? 'good' : 'bad'}">${escapeHtml(r.outcome)}</td><td>${escapeHtml(r.backupId ?? '-')}</td><td>${escapeHtml(r.target ? `${r.target.host}:${r.target.port}${r.target.database ? `/${r.target.database}` : ''}` : '-')}</td><td>${escapeHtml(r.startedBy.requestedBy ?? r.startedBy.executionName)}</td><td class="num">${formatSeconds(r.restoreSeconds)}</td></tr>`,
        )
        .join('')}</table>`
    : '<p>No restore in this month.</p>';
  return `<section id="db-${escapeHtml(db.database)}"><h2>${escapeHtml(db.database)} <span class="meta">(${escapeHtml(db.engine)}, ${escapeHtml(db.tier)})</span></h2>
<table>${rows([
    [
      'Within RPO',
      `<span class="${pctClass(db.rpo.share)}">${formatPercent(db.rpo.share, 2)}</span> of the period (RPO ${formatSeconds(db.rpo.rpoSeconds)}; outside for ${formatSeconds(db.rpo.totalSeconds - db.rpo.withinSeconds)}; oldest recovery point age ${db.rpo.worstAgeSeconds === null ? 'none: no recovery point for part of the period' : formatSeconds(db.rpo.worstAgeSeconds)})`,
    ],
    [
      'Backups',
      `${db.backups.taken} taken, ${db.backups.withManifest} finished, ${db.backups.verified} verified, ${db.backups.failedDumps} failed dumps`,
    ],
    ['Drills', `${passed} passed, ${db.drills.length - passed} failed; RTO target ${formatSeconds(db.rtoSeconds)}`],
    ['Immutability', escapeHtml(immText)],
    [
      'Replica coverage',
      `<span class="${pctClass(db.replica.share, 1)}">${formatPercent(db.replica.share, 1)}</span> (${db.replica.copied} of ${db.replica.verified} verified backups in the replica vault${db.replica.missing.length ? `; missing: ${escapeHtml(db.replica.missing.join(', '))}` : ''})`,
    ],
    ['Restores', `${db.restores.length} (${db.restores.filter((r) => r.outcome === 'restored').length} restored)`],
  ])}</table>
<h3>Drills</h3>${drills}<h3>Restores performed</h3>${restores}</section>`;
}

/** A % axis up to the next 100% above the data (at least 200%, so the 100% line sits inside), at most 400%. */
function percentAxis(max: number): number {
  return Math.min(400, Math.max(200, Math.ceil(max / 100) * 100));
}

export function renderHtml(doc: ReportDocument): string {
  const { window } = doc;
  const ageSeries: Series[] = doc.databases.map((db) => ({
    name: db.database,
    points: db.rpo.series.map((p) => ({ x: p.at, y: p.ageSeconds === null ? null : (p.ageSeconds / db.rpo.rpoSeconds) * 100 })),
  }));
  const maxAge = Math.max(150, ...ageSeries.flatMap((s) => s.points.map((p) => p.y ?? 0)));
  const sizeSeries: Series[] = doc.databases.map((db) => ({
    name: db.database,
    points: db.sizes.map((s) => ({ x: s.at, y: s.bytes, label: `${s.backupId} ${formatBytes(s.bytes)}` })),
  }));
  const maxSize = Math.max(1, ...doc.databases.flatMap((db) => db.sizes.map((s) => s.bytes)));
  const rtoSeries: Series[] = doc.databases.map((db) => ({
    name: db.database,
    points: db.drills.map((d) => ({
      x: Date.parse(d.drilledAt),
      y: (d.restoreSeconds / db.rtoSeconds) * 100,
      label: `${formatSeconds(d.restoreSeconds)} of ${formatSeconds(db.rtoSeconds)}${d.passed ? '' : ' (failed)'}`,
    })),
  }));
  const maxRto = Math.max(150, ...rtoSeries.flatMap((s) => s.points.map((p) => p.y ?? 0)));
  const summary = doc.databases
    .map(
      (db) =>
        `<tr><td><a href="#db-${escapeHtml(db.database)}">${escapeHtml(db.database)}</a></td><td>${escapeHtml(db.tier)}</td><td class="num ${pctClass(db.rpo.share)}">${formatPercent(db.rpo.share, 2)}</td><td class="num">${db.backups.verified} / ${db.backups.taken}</td><td class="num">${db.drills.filter((d) => d.passed).length} / ${db.drills.length}</td><td class="num">${db.drills.length ? formatSeconds(Math.max(...db.drills.map((d) => d.restoreSeconds))) : '-'} / ${formatSeconds(db.rtoSeconds)}</td><td class="num">${formatPercent(db.replica.share, 1)}</td><td class="num">${db.restores.length}</td></tr>`,
    )
    .join('');
  const title = `Strongbox evidence report ${window.month}: ${doc.app}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${CSS}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<p class="meta">Period ${formatInstant(window.from)} to ${formatInstant(window.to)}${window.partial ? ' (month in progress)' : ''}. Vault: ${escapeHtml(doc.vault)}. Generated ${formatInstant(doc.generatedAt)} by <code>strongbox report</code> from the vault's own records (manifests, verification.json, drill.json, restores/), so it can be regenerated and checked by anyone with read access.</p>
<table><tr><th>database</th><th>tier</th><th>within RPO</th><th>verified / taken</th><th>drills passed</th><th>max RTO / target</th><th>replica</th><th>restores</th></tr>${summary}</table>
${lineChart(ageSeries, { id: 'rpo-chart', title: "Recovery-point age as % of each database's RPO (dashed: the RPO)", xFrom: window.from, xTo: window.to, yMax: percentAxis(maxAge), yTick: (v) => `${v.toFixed(0)}%`, reference: { y: 100, label: 'RPO' } })}
${lineChart(sizeSeries, { id: 'size-chart', title: 'Backup size (stored artifact) over the month', xFrom: window.from, xTo: window.to, yMax: maxSize * 1.1, yTick: (v) => formatBytes(Math.round(v)), markers: true })}
${lineChart(rtoSeries, { id: 'rto-chart', title: 'Drill restore time (measured RTO) as % of the RTO target (dashed: the target)', xFrom: window.from, xTo: window.to, yMax: percentAxis(maxRto), yTick: (v) => `${v.toFixed(0)}%`, reference: { y: 100, label: 'RTO target' }, markers: true })}
${doc.databases.map(databaseSection).join('\n')}
<h2>Evidence basis</h2><ul class="notes">${doc.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>
</body></html>
`;
}
