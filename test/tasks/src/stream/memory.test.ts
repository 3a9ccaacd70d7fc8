import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MEMORY = join(__dirname, '..', '..', '..', '..', 'tasks', 'src', 'stream', 'memory.ts');

describe('peak RSS', () => {
  it("reports the task's own peak, not the memory of the process that spawned it", () => {
    // Prepare: this process holds 400 MB when it spawns the child (getrusage's maxRSS carries that over exec).
    const held = Buffer.alloc(400 * 1024 * 1024, 1);
    // Act
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { peakRssMb } = require(${JSON.stringify(MEMORY)}); console.log(JSON.stringify({ ours: peakRssMb(), maxRss: process.resourceUsage().maxRSS / 1024 }));`,
      ],
      { encoding: 'utf8' },
    );
    // Assess
    const { ours, maxRss } = JSON.parse(out.trim().split('\n').pop() ?? '{}');
    expect(held.length).toBe(400 * 1024 * 1024);
    expect(maxRss).toBeGreaterThan(400);
    expect(ours).toBeGreaterThan(10);
    expect(ours).toBeLessThan(300);
  });
});
