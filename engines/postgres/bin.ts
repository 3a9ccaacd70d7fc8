/**
 * The PostgreSQL 15 binaries the task image carries (tasks/Dockerfile puts this directory first on PATH): the
 * throwaway and recovery servers, and the tools that read their files. Debian's /usr/bin entries for the client
 * tools are a Perl wrapper that picks a version at each start. STRONGBOX_PG_BIN names another directory.
 */
export const PG_BIN = process.env.STRONGBOX_PG_BIN ?? '/usr/lib/postgresql/15/bin';
