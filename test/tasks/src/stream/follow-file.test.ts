import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTool } from '../../../../engines/tools';
import { followFile } from '../../../../tasks/src/stream/follow-file';

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) {
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

describe('followFile', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'strongbox-follow-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads every byte of a file another process creates late and appends to with pauses, ending once it exited', async () => {
    // Prepare: a writer that creates the file after 100 ms, then appends 40 lines 10 ms apart
    const path = join(dir, 'sub', 'archive');
    const writer = startTool('sh', [
      '-c',
      `sleep 0.1; mkdir -p ${dir}/sub; i=0; while [ $i -lt 40 ]; do printf 'line %04d %s\\n' $i $(seq -s, 1 50) >> ${path}; sleep 0.01; i=$((i + 1)); done`,
    ]);

    // Act
    const followed = await collect(followFile(path, writer.exited, { chunkBytes: 100, pollMs: 5 }));

    // Assess
    await writer.succeeded();
    expect(followed.equals(readFileSync(path))).toBe(true);
    expect(followed.toString().split('\n')).toHaveLength(41);
  });

  it('ends empty when the writer exits without ever creating the file', async () => {
    // Prepare
    const writer = startTool('sh', ['-c', 'exit 3']);

    // Act
    const followed = await collect(followFile(join(dir, 'never'), writer.exited, { pollMs: 5 }));

    // Assess
    expect(followed.length).toBe(0);
    expect((await writer.exited).code).toBe(3);
  });
});
