import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `npm run bench`: each section is `bench/<name>.ts`, run as its own process (so one section's memory and
 * servers cannot skew another's); its last stdout line is a JSON object of figures. The merged figures are
 * printed as one JSON line, last.
 */
const SECTIONS = ['dump', 'mariadb', 'basebackup', 'binlog', 'logs', 'retention', 'drill', 'fleet', 'pg-recovery'];

function runSection(file: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    let last = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      const lines = (last + chunk.toString()).split('\n').filter((l) => l.trim());
      last = lines[lines.length - 1] ?? last;
    });
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`bench section ${file} exited with code ${code}`));
        return;
      }
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`bench section ${file} did not end with a JSON line: ${last.slice(0, 200)}`));
      }
    });
  });
}

async function main(): Promise<void> {
  const figures: Record<string, unknown> = {};
  for (const name of SECTIONS) {
    const file = join(__dirname, `${name}.ts`);
    if (!existsSync(file)) {
      process.stderr.write(`bench: skipping section "${name}": ${file} does not exist\n`);
      continue;
    }
    process.stderr.write(`bench: running section "${name}"\n`);
    Object.assign(figures, await runSection(file));
  }
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`bench: ${error.message}\n`);
  process.exit(1);
});
