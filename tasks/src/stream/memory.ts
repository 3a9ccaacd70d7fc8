import { readFileSync } from 'node:fs';

/**
 * Peak resident memory of this process, in MB. On Linux it is VmHWM, the high-water mark of this process's own
 * address space. getrusage's maxRSS is not: Linux carries it across fork and exec, so a task spawned by a
 * process holding 500 MB reports at least 500 MB whatever it used itself (the bench saw 586 MB for a 130 MB
 * MariaDB backup this way). Elsewhere maxRSS is the best there is.
 */
export function peakRssMb(): number {
  let kilobytes = process.resourceUsage().maxRSS;
  try {
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) {
      kilobytes = Number(hwm[1]);
    }
  } catch {
    // not Linux: keep maxRSS
  }
  return Math.round((kilobytes / 1024) * 10) / 10;
}
