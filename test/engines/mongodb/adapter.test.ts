import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mongoConfigFile, mongodumpArgs, mongorestoreArgs } from '../../../engines/mongodb/adapter';

const connection = { host: 'db.internal', port: 27017, username: 'backup', password: 'p@ss"word', tls: 'require' as const };

describe('MongoDB adapter (argv only: no mongod runs here)', () => {
  it('dumps a whole replica set with --oplog, or one database with --db, never with the password in argv', () => {
    // Prepare
    const file = mongoConfigFile(connection);
    // Act
    const all = mongodumpArgs(connection, file.path);
    const one = mongodumpArgs({ ...connection, database: 'shop' }, file.path);
    const config = readFileSync(file.path, 'utf8');
    const mode = statSync(file.path).mode & 0o777;
    file.remove();
    // Assess
    expect(all).toEqual(expect.arrayContaining(['--archive', '--oplog', '--username=backup', `--config=${file.path}`, '--ssl']));
    expect(one).toContain('--db=shop');
    expect(one).not.toContain('--oplog');
    expect([...all, ...one].join(' ')).not.toContain('p@ss');
    expect(config).toBe('password: "p@ss\\"word"\n');
    expect(mode).toBe(0o600);
  });

  it('restores with namespace selection and oplog replay', () => {
    // Prepare, Act
    const args = mongorestoreArgs(connection, '/tmp/c.yaml', ['shop', 'crm.contacts'], true);
    // Assess
    expect(args).toEqual(expect.arrayContaining(['--archive', '--oplogReplay', '--nsInclude=shop.*', '--nsInclude=crm.contacts']));
  });
});
