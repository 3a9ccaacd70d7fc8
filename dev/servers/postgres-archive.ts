import { closeSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { postgresThrowaway } from '../../engines/postgres/throwaway';
import { own } from '../../engines/process';
import { startThrowaway, type ThrowawayServer } from '../../engines/throwaway';
import { startTool } from '../../engines/tools';

/**
 * A PostgreSQL 15 source for point-in-time tests and the bench: wal_level=replica, replication connections, and
 * every completed WAL file copied by archive_command into `archive` (the stock way WAL leaves a server, which
 * the recovery tests read from without any Strongbox archiver).
 */
export interface ArchivingPostgres {
  readonly server: ThrowawayServer;
  /** Directory of archived WAL files, named as PostgreSQL names them. */
  readonly archive: string;
  query<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  /** Switches to a new WAL file and waits until the one that held everything so far is archived. */
  archiveNow(): Promise<void>;
  /** `pg_basebackup -Ft -X fetch -D -` into `path`: the base tar as a stream gives it (WAL for consistency included). */
  baseBackup(path: string, maxRate?: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startArchivingPostgres(): Promise<ArchivingPostgres> {
  const server = await startThrowaway(postgresThrowaway, {
    prefix: join(tmpdir(), 'strongbox-pg-archiving-'),
    timeoutMs: 60_000,
    options: (directory) => {
      const archive = join(directory, 'archive');
      mkdirSync(archive, { recursive: true });
      own(archive, 'postgres');
      return [
        'fsync=off',
        'synchronous_commit=off',
        'wal_level=replica',
        'max_wal_senders=4',
        'archive_mode=on',
        `archive_command=test ! -f ${archive}/%f && cp %p ${archive}/%f`,
        'shared_buffers=128MB',
      ];
    },
  });
  const archive = join(server.directory, 'archive');
  const { port, username, password } = server.connection;
  const query = async <T>(text: string, values?: unknown[]): Promise<T[]> => {
    const client = new Client({ host: '127.0.0.1', port, user: username, password, database: 'postgres' });
    await client.connect();
    try {
      return (await client.query(text, values)).rows as T[];
    } finally {
      await client.end();
    }
  };
  return {
    server,
    archive,
    query,
    async archiveNow() {
      const [{ file }] = await query<{ file: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS file');
      const deadline = Date.now() + 30_000;
      while (!readdirSync(archive).includes(file)) {
        if (Date.now() > deadline) {
          throw new Error(`WAL file ${file} was not archived within 30 s`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async baseBackup(path, maxRate) {
      const fd = openSync(path, 'w', 0o600);
      try {
        const tool = startTool(
          'pg_basebackup',
          [
            '-h',
            '127.0.0.1',
            '-p',
            String(port),
            '-U',
            username ?? 'postgres',
            '--no-password',
            '-Ft',
            '-X',
            'fetch',
            // An immediate checkpoint: the default spread one waited minutes on a server that had just loaded data.
            '--checkpoint=fast',
            '-D',
            '-',
            ...(maxRate ? [`--max-rate=${maxRate}`] : []),
          ],
          { env: { PGPASSWORD: password }, stdout: fd },
        );
        await tool.succeeded();
      } finally {
        closeSync(fd);
      }
    },
    stop: () => server.stop(20_000),
  };
}
