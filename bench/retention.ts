import { performance } from 'node:perf_hooks';
import { classifyKey, keys, mintBackupId, parseBackupId, VerificationSchema } from '../contracts/vault';
import { type HistoryEntry, planRetention } from '../lambdas/backup/retain/planner';
import { peakRssMb } from '../tasks/src/stream/memory';

/**
 * Retention at scale: plans GFS over 400,000 backups of one database (a 15-minute schedule for ~11 years,
 * with jitter and 3% failed verifications). The timed part is what Retain does: walk the listing page by page
 * (three keys per backup, generated as the pages are consumed so that memory stays bounded, as with real
 * pages), classify every key, parse and validate every verification.json body, and run the planner. The time
 * spent generating pages and bodies stands in for S3 and is subtracted from the figure.
 * Last stdout line: {"retention_400k_seconds": n, "retention_400k_rss_mb": n}.
 */
const COUNT = 400_000;
const database = 'orders';
const start = Date.UTC(2015, 0, 1);

let seed = 42;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const takenAt = Array.from({ length: COUNT }, (_, i) => start + i * 15 * 60_000 + Math.floor(random() * 300) * 1000);
const failed = new Set(takenAt.filter(() => random() < 0.03).map((t) => mintBackupId(database, 'full', new Date(t))));
const now = start + COUNT * 15 * 60_000 + 3_600_000;

/** Time spent playing S3 (making listing pages and record bodies), taken out of the figure. */
let simulatedMs = 0;

/** The vault listing as ListObjectsV2 delivers it: pages of 1,000 keys, never all keys at once. */
function* listingPages(): Generator<string[]> {
  for (let i = 0; i < takenAt.length; i += 333) {
    const began = performance.now();
    const page: string[] = [];
    for (const t of takenAt.slice(i, i + 333)) {
      const backupId = mintBackupId(database, 'full', new Date(t));
      page.push(keys.artifact(backupId, 'pgdump'), keys.manifest(backupId), keys.verification(backupId));
    }
    simulatedMs += performance.now() - began;
    yield page;
  }
}

/** What a GET of verification.json returns. */
function fetchVerification(backupId: string): string {
  const began = performance.now();
  const at = parseBackupId(backupId).takenAt.getTime();
  const body = JSON.stringify({
    schemaVersion: 1,
    backupId,
    verified: !failed.has(backupId),
    verifiedAt: new Date(at + 120_000).toISOString(),
    method: 's3-checksum',
    bytes: 123_456_789,
    sha256: 'ab'.repeat(32),
    problems: [],
  });
  simulatedMs += performance.now() - began;
  return body;
}

const MANIFEST = 1;
const VERIFICATION = 2;
const began = performance.now();
const files = new Map<string, number>();
for (const page of listingPages()) {
  for (const key of page) {
    const classified = classifyKey(key);
    if (!classified) continue;
    const bit = classified.file === 'manifest.json' ? MANIFEST : classified.file === 'verification.json' ? VERIFICATION : 0;
    files.set(classified.backupId, (files.get(classified.backupId) ?? 0) | bit);
  }
}
const history: HistoryEntry[] = [];
for (const [backupId, bits] of files) {
  const status = !(bits & MANIFEST)
    ? 'incomplete'
    : !(bits & VERIFICATION)
      ? 'unverified'
      : VerificationSchema.parse(JSON.parse(fetchVerification(backupId))).verified
        ? 'verified'
        : 'failed';
  history.push({ backupId, takenAt: parseBackupId(backupId).takenAt.getTime(), status });
}
const plan = planRetention(
  history,
  { daily: 7, weekly: 4, monthly: 12, yearly: 7, legalHoldYearly: true, graceSeconds: 6 * 3600, timeZone: 'Europe/Berlin' },
  now,
);
const seconds = (performance.now() - began - simulatedMs) / 1000;
const kept = plan.decisions.filter((d) => d.action === 'keep').length;
// VmHWM: getrusage's maxRSS would include the memory of the process that spawned this section.
const rssMb = peakRssMb();

process.stderr.write(
  `retention: ${plan.decisions.length} backups planned, ${kept} kept, in ${seconds.toFixed(2)} s wall, peak RSS ${rssMb.toFixed(0)} MB\n`,
);
process.stdout.write(
  `${JSON.stringify({ retention_400k_seconds: Math.round(seconds * 100) / 100, retention_400k_rss_mb: Math.round(rssMb) })}\n`,
);
