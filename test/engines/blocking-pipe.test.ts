import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyThrough, openBlockingPipes } from '../../engines/blocking-pipe';

/** Resolves with a child's exit code once it has exited. */
const exited = (child: ReturnType<typeof spawn>) => new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

describe('openBlockingPipes', () => {
  it('opens both ends of each FIFO at once, each pipe its own, and leaves no path behind', () => {
    // Prepare, Act
    const pipes = openBlockingPipes(2);

    // Assess: FIFOs, both ends of one the same kernel object, the two pipes different ones
    try {
      const [first, second] = pipes.map((pipe) => [fstatSync(pipe.readFd), fstatSync(pipe.writeFd)]);
      expect(first[0].isFIFO()).toBe(true);
      expect(first[0].ino).toBe(first[1].ino);
      expect(second[0].ino).toBe(second[1].ino);
      expect(first[0].ino).not.toBe(second[0].ino);
      expect(first[0].nlink).toBe(0);
    } finally {
      for (const pipe of pipes) {
        closeSync(pipe.readFd);
        closeSync(pipe.writeFd);
      }
    }
  });
});

describe('copyThrough', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'strongbox-copy-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it('copies a producer to a consumer byte for byte, shows every byte to the observer, and closes both ends', async () => {
    // Prepare: 3 MB from `cat` into pipe A, `cat` out of pipe B into a file
    const source = join(directory, 'source');
    const target = join(directory, 'target');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(source, data);
    const [a, b] = openBlockingPipes(2);
    const producer = spawn('cat', [source], { stdio: ['ignore', a.writeFd, 'inherit'] });
    closeSync(a.writeFd);
    const consumer = spawn('sh', ['-c', `cat > '${target}'`], { stdio: [b.readFd, 'ignore', 'inherit'] });
    closeSync(b.readFd);
    let observed = 0;

    // Act
    const bytes = copyThrough(a.readFd, b.writeFd, (chunk) => {
      observed += chunk.length;
    });

    // Assess: the consumer ends because the copy closed its end
    expect(await exited(producer)).toBe(0);
    expect(await exited(consumer)).toBe(0);
    expect(bytes).toBe(data.length);
    expect(observed).toBe(data.length);
    expect(readFileSync(target).equals(data)).toBe(true);
    expect(() => fstatSync(a.readFd)).toThrow(/EBADF/);
    expect(() => fstatSync(b.writeFd)).toThrow(/EBADF/);
  });

  it("fails with EPIPE when the consumer dies, and closes the producer's pipe so that it fails too", async () => {
    // Prepare: an endless producer, a consumer that exits at once
    const [a, b] = openBlockingPipes(2);
    const producer = spawn('sh', ['-c', 'cat /dev/zero; echo "producer: $?" >&2'], { stdio: ['ignore', a.writeFd, 'pipe'] });
    closeSync(a.writeFd);
    let stderr = '';
    producer.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const consumer = spawn('true', [], { stdio: [b.readFd, 'ignore', 'inherit'] });
    closeSync(b.readFd);
    await exited(consumer);

    // Act
    const copy = () => copyThrough(a.readFd, b.writeFd, () => undefined);

    // Assess
    expect(copy).toThrow(/EPIPE/);
    await exited(producer);
    expect(stderr).toMatch(/producer: [1-9]/);
    expect(() => fstatSync(a.readFd)).toThrow(/EBADF/);
  });
});
