import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWorker } from '../../engines/worker-thread';

const firstMessage = (worker: Worker) =>
  new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });

describe('startWorker', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'strongbox-worker-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it("runs the bundle's file beside the entry when there is one, and never asks for the source", async () => {
    // Prepare: a bundle directory with its entry and the worker's file
    writeFileSync(join(directory, 'main.mjs'), '');
    writeFileSync(
      join(directory, 'echo-worker.mjs'),
      "import { parentPort, workerData } from 'node:worker_threads'; parentPort.postMessage({ from: 'bundle', workerData });",
    );
    const source = () => {
      throw new Error('the source was asked for');
    };

    // Act
    const worker = startWorker({ name: 'echo-worker', source }, { n: 7 }, join(directory, 'main.mjs'));

    // Assess
    expect(await firstMessage(worker)).toEqual({ from: 'bundle', workerData: { n: 7 } });
  });

  it('runs the TypeScript source through tsx where no bundle is beside the entry', async () => {
    // Prepare: a TypeScript worker (type annotations and an import of the project's own source)
    const file = join(directory, 'echo-worker.ts');
    writeFileSync(
      file,
      [
        "import { parentPort, workerData } from 'node:worker_threads';",
        `import { InsertCounter } from ${JSON.stringify(join(__dirname, '..', '..', 'engines', 'mysql', 'insert-counter'))};`,
        'const counter: InsertCounter = new InsertCounter();',
        "counter.write(Buffer.from('INSERT INTO `t` VALUES (1),(2);\\n'));",
        "parentPort?.postMessage({ from: 'source', rows: counter.end()[0].rows, workerData });",
      ].join('\n'),
    );

    // Act
    const worker = startWorker({ name: 'echo-worker', source: () => file }, 'x', join(directory, 'main.mjs'));

    // Assess
    expect(await firstMessage(worker)).toEqual({ from: 'source', rows: 2, workerData: 'x' });
  });
});
