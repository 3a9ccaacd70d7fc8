import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openBlockingPipes } from '../../../../engines/blocking-pipe';
import { startMeteredCompressor } from '../../../../tasks/src/stream/compress';
import { discardStream } from '../../../../tasks/src/stream/discard';
import { MeteredPipe } from '../../../../tasks/src/stream/metered-pipe';

const directory = mkdtempSync(join(tmpdir(), 'strongbox-metered-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** A file of `chunks` 64 KiB blocks, each filled with its own byte, so an overwritten view is visible. */
function patternFile(name: string, chunks: number): { path: string; content: Buffer } {
  const content = Buffer.concat(Array.from({ length: chunks }, (_, i) => Buffer.alloc(64 * 1024, i + 1)));
  const path = join(directory, name);
  writeFileSync(path, content);
  return { path, content };
}

/** `cat path` writing into a blocking pipe; returns the pipe's read end and cat's exit. */
function catWriting(path: string): { readFd: number; exited: Promise<{ code: number | null; signal: string | null }> } {
  const [pipe] = openBlockingPipes(1);
  const cat = spawn('cat', [path], { stdio: ['ignore', pipe.writeFd, 'ignore'] });
  closeSync(pipe.writeFd);
  return { readFd: pipe.readFd, exited: new Promise((resolve) => cat.once('exit', (code, signal) => resolve({ code, signal }))) };
}

const catIntoPipe = (path: string) => catWriting(path).readFd;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('MeteredPipe', () => {
  it('reads nothing before a data listener, so bytes written meanwhile reach the sink', async () => {
    // Prepare: the writer fills the pipe and waits while no sink listens yet.
    const { path, content } = patternFile('early.bin', 40);
    const meter = new MeteredPipe(catIntoPipe(path));
    const ended = new Promise<void>((resolve, reject) => {
      meter.once('end', resolve);
      meter.once('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const bytesBeforeSink = meter.bytes;
    const received: Buffer[] = [];
    // Act
    meter.on('data', (chunk) => received.push(Buffer.from(chunk)));
    await ended;
    // Assess
    expect(bytesBeforeSink).toBe(0);
    expect(Buffer.concat(received).equals(content)).toBe(true);
    expect(meter.bytes).toBe(content.length);
    expect(meter.sha256()).toBe(sha256(content));
  });

  it('leaves the chunk a paused listener holds unchanged until it resumes', async () => {
    // Prepare
    const { path, content } = patternFile('paused.bin', 8);
    const meter = new MeteredPipe(catIntoPipe(path));
    let held: { view: Buffer; copy: Buffer } | undefined;
    const received: Buffer[] = [];
    meter.on('data', (chunk) => {
      received.push(Buffer.from(chunk));
      if (!held) {
        held = { view: chunk, copy: Buffer.from(chunk) };
        meter.pause();
      }
    });
    // Act: more bytes wait in the pipe while the listener is paused.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const bytesWhilePaused = meter.bytes;
    const viewIntact = held ? held.view.equals(held.copy) : false;
    meter.resume();
    await new Promise<void>((resolve, reject) => {
      meter.once('end', resolve);
      meter.once('error', reject);
    });
    // Assess
    expect(viewIntact).toBe(true);
    expect(bytesWhilePaused).toBe(held?.copy.length);
    expect(bytesWhilePaused).toBeLessThan(content.length);
    expect(Buffer.concat(received).equals(content)).toBe(true);
  });

  it('ends only after its gate resolved, and fails with the error of a gate that rejects', async () => {
    // Prepare
    const { path } = patternFile('gated.bin', 4);
    let opened = false;
    const gated = new MeteredPipe(catIntoPipe(path), async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      opened = true;
    });
    const refused = new MeteredPipe(catIntoPipe(path), async () => {
      throw new Error('pg_dump was killed by SIGKILL');
    });
    const events: string[] = [];
    refused.on('error', () => events.push('error'));
    refused.once('end', () => events.push('end'));
    refused.once('close', () => events.push('close'));
    // Act
    const [gatedRun, refusedRun] = await Promise.allSettled([discardStream(gated, 0).then(() => opened), discardStream(refused, 0)]);
    // Assess
    expect(gatedRun).toEqual({ status: 'fulfilled', value: true });
    expect(refusedRun.status === 'rejected' && String(refusedRun.reason)).toContain('SIGKILL');
    expect(events).toEqual(['error', 'close']);
  });

  it('closes the read end when a sink that never listened destroys it, so the writer stops on EPIPE', async () => {
    // Prepare: more than a pipe holds, so the writer is blocked when the sink gives up.
    const { path } = patternFile('abandoned.bin', 40);
    const { readFd, exited } = catWriting(path);
    const meter = new MeteredPipe(readFd);
    const closed = new Promise<void>((resolve) => meter.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Act
    meter.destroy();
    // Assess
    await closed;
    expect(await exited).toEqual({ code: null, signal: 'SIGPIPE' });
    expect(meter.bytes).toBe(0);
  });
});

describe('startMeteredCompressor', () => {
  it("hashes exactly the bytes zstd writes, and fails when the producer's gate rejects", async () => {
    // Prepare
    const { path } = patternFile('input.bin', 64);
    const expected = execFileSync('sh', ['-c', `zstd -3 -T0 -c -q < "${path}"`]);
    const input = openSync(path, 'r');
    const good = startMeteredCompressor(3, input);
    const failedInput = openSync(path, 'r');
    const failed = startMeteredCompressor(3, failedInput, async () => {
      throw new Error('mariadb-dump exited 2');
    });
    closeSync(input);
    closeSync(failedInput);
    // Act
    const [goodRun, failedRun] = await Promise.allSettled([discardStream(good.meter, 0), discardStream(failed.meter, 0)]);
    // Assess
    expect(goodRun.status).toBe('fulfilled');
    expect(good.meter.bytes).toBe(expected.length);
    expect(good.meter.sha256()).toBe(sha256(expected));
    expect(failedRun.status === 'rejected' && String(failedRun.reason)).toContain('mariadb-dump exited 2');
  });
});
