import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBlockingPipes } from '../../../engines/blocking-pipe';
import { countThrough, HEAD_BYTES, startCountingCopy } from '../../../engines/mysql/dump-worker';

const exited = (child: ReturnType<typeof spawn>) => new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

describe('countThrough (the MySQL dump worker)', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'strongbox-dump-worker-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  /** `dump` from a `cat` into the copy, and the copy into a file, as the adapter wires the tool and zstd. */
  const through = async (dump: string, consumer = 'cat') => {
    const source = join(directory, 'dump.sql');
    const target = join(directory, 'copy.sql');
    writeFileSync(source, dump);
    const [a, b] = openBlockingPipes(2);
    const tool = exited(spawn('cat', [source], { stdio: ['ignore', a.writeFd, 'ignore'] }));
    closeSync(a.writeFd);
    const downstream = exited(spawn('sh', ['-c', `${consumer} > '${target}'`], { stdio: [b.readFd, 'ignore', 'ignore'] }));
    closeSync(b.readFd);
    if (consumer !== 'cat') {
      await downstream;
    }
    const result = countThrough({ role: 'mysql-dump', input: a.readFd, output: b.writeFd, database: 'shop' });
    await Promise.all([tool, downstream]);
    return { result, copy: consumer === 'cat' ? readFileSync(target, 'utf8') : '' };
  };

  it('passes the dump on unchanged and reports its rows, its head and the GTID comment', async () => {
    // Prepare: ~1 MB of rows, so the copy takes many reads
    const rows = Array.from({ length: 20_000 }, (_, i) => `(${i},'row ${i} it''s \\'quoted\\' (x),(y)')`).join(',');
    const dump = `-- MariaDB dump\nCREATE TABLE \`t\` (id int, s text);\nINSERT INTO \`t\` VALUES ${rows};\nCREATE TABLE \`e\` (id int);\n-- SET GLOBAL gtid_slave_pos='0-1-42';\n`;

    // Act
    const { result, copy } = await through(dump);

    // Assess
    expect(copy).toBe(dump);
    expect(result).toEqual({
      ok: true,
      bytes: Buffer.byteLength(dump),
      // The first HEAD_BYTES of a dump over three times that long, kept across reads of the reused buffer.
      head: dump.slice(0, HEAD_BYTES),
      gtid: '0-1-42',
      tables: [
        { database: 'shop', name: 't', kind: 'table', rows: 20_000 },
        { database: 'shop', name: 'e', kind: 'table', rows: 0 },
      ],
    });
  });

  it('reports a dump cut inside an INSERT as a parse failure, after copying all of it', async () => {
    // Prepare
    const dump = 'CREATE TABLE `t` (id int);\nINSERT INTO `t` VALUES (1),(2';

    // Act
    const { result, copy } = await through(dump);

    // Assess
    expect(copy).toBe(dump);
    expect(result).toMatchObject({ ok: false, parse: true, bytes: Buffer.byteLength(dump) });
    expect(result.ok === false && result.message).toMatch(/ended inside the INSERT statement of `shop`\.`t`/);
  });

  it('reports a consumer that died (EPIPE) as a copy failure, not a parse failure', async () => {
    // Prepare: more than a pipe holds, to a consumer that has already exited
    const dump = `INSERT INTO \`t\` VALUES ${Array.from({ length: 50_000 }, (_, i) => `(${i})`).join(',')};\n`;

    // Act
    const { result } = await through(dump, 'true');

    // Assess
    expect(result).toMatchObject({ ok: false, parse: false });
    expect(result.ok === false && result.message).toMatch(/EPIPE/);
  });
});

describe('startCountingCopy', () => {
  it("counts a tool's output in the worker thread on its way to zstd", async () => {
    // Prepare
    const dump = 'CREATE TABLE `t` (id int);\nINSERT INTO `t` VALUES (1),(2),(3);\n';
    const copy = startCountingCopy('shop');
    const tool = spawn('printf', ['%s', dump], { stdio: ['ignore', copy.toolStdout, 'ignore'] });
    copy.closeToolStdout();
    const zstdStdin = copy.takeZstdStdin();
    const zstd = spawn('zstd', ['-q', '-c'], { stdio: [zstdStdin, 'pipe', 'ignore'] });
    closeSync(zstdStdin);
    const compressed: Buffer[] = [];
    zstd.stdout?.on('data', (chunk: Buffer) => compressed.push(chunk));

    // Act
    const [result] = await Promise.all([copy.result, exited(tool), exited(zstd)]);

    // Assess
    expect(result).toEqual({
      ok: true,
      bytes: dump.length,
      head: dump,
      gtid: undefined,
      tables: [{ database: 'shop', name: 't', kind: 'table', rows: 3 }],
    });
    expect(execFileSync('zstd', ['-d', '-c'], { input: Buffer.concat(compressed) }).toString()).toBe(dump);
    expect(() => copy.takeZstdStdin()).toThrow(/already handed over/);
  });

  it('lets the worker end when the dump fails before its tool started', async () => {
    // Prepare
    const copy = startCountingCopy(undefined);

    // Act
    copy.abandon();

    // Assess: the worker saw the end of a pipe nobody wrote to, and reported
    expect(await copy.result).toMatchObject({ ok: true, bytes: 0, tables: [] });
  });
});
