import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTool, ToolFailedError } from '../../engines/tools';

/** Fake tools on a PATH of their own: each prints `stderr` and exits with `code`. */
describe('startTool: failure signalled on stderr', () => {
  let bin: string;
  let path: string | undefined;

  const fake = (name: string, stderr: string, code: number) =>
    writeFileSync(join(bin, name), `#!/bin/sh\nprintf '%s' '${stderr.replace(/'/g, `'\\''`)}' >&2\nexit ${code}\n`, { mode: 0o755 });

  beforeAll(() => {
    bin = mkdtempSync(join(tmpdir(), 'strongbox-tools-'));
    path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
  });

  afterAll(() => {
    process.env.PATH = path;
    rmSync(bin, { recursive: true, force: true });
  });

  it('fails a tool that exits 0 after an error line, naming the line', async () => {
    // Prepare
    fake('pg_dump', 'pg_dump: error: query failed: ERROR:  permission denied for table payroll\n', 0);

    // Act
    const error = await startTool('pg_dump', [])
      .succeeded()
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ToolFailedError);
    expect((error as ToolFailedError).message).toBe(
      'pg_dump exited 0 but reported an error on stderr: pg_dump: error: query failed: ERROR:  permission denied for table payroll',
    );
    expect((error as ToolFailedError).exit).toEqual({ code: 0, signal: null });
  });

  it('sees an early error line that a long stderr has pushed out of the kept tail', async () => {
    // Prepare
    const noise = Array.from({ length: 2000 }, (_, i) => `mariadb-dump: progress line ${i}`).join('\n');
    fake('mariadb-dump', `mariadb-dump: Couldn't execute 'SHOW CREATE TABLE t': table is crashed\n${noise}\n`, 0);

    // Act
    const error = await startTool('mariadb-dump', [])
      .succeeded()
      .catch((e: unknown) => e);

    // Assess
    expect((error as ToolFailedError).errorLine).toBe("mariadb-dump: Couldn't execute 'SHOW CREATE TABLE t': table is crashed");
    expect((error as ToolFailedError).stderrTail).not.toContain("Couldn't execute");
  });

  it.each([
    ['pg_dump', 'pg_dump: warning: there are circular foreign-key constraints on this table\n'],
    ['redis-cli', "sending REPLCONF capa eof\nSYNC sent to master, writing 1234 bytes to '-'\nTransfer finished with success.\n"],
    ['mariadb', 'mariadb: Deprecated program name. It will be removed in a future release\n'],
  ])('lets %s succeed when stderr holds only warnings and progress', async (name, stderr) => {
    // Prepare
    fake(name, stderr, 0);

    // Act
    const outcome = await startTool(name, []).succeeded();

    // Assess
    expect(outcome).toBeUndefined();
  });

  it('keeps reporting a non-zero exit as before', async () => {
    // Prepare
    fake('redis-cli', 'Error: Server closed the connection\n', 1);

    // Act
    const error = await startTool('redis-cli', [])
      .succeeded()
      .catch((e: unknown) => e);

    // Assess
    expect((error as Error).message).toBe('redis-cli exited with code 1: Error: Server closed the connection');
  });
});
