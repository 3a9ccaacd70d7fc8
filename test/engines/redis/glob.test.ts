import fc from 'fast-check';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineServer, startRedis } from '../../../dev/servers/engines';
import { parseKeyspace } from '../../../engines/redis/connection';
import { globMatch, keyMatcher } from '../../../engines/redis/glob';

describe('Redis glob patterns', () => {
  it('matches keys with Redis glob semantics: *, ?, [abc], [^abc], [a-z], and backslash escapes', () => {
    // Prepare
    const cases: [string, string, boolean][] = [
      ['user:*', 'user:', true],
      ['user:*', 'users', false],
      ['user:?', 'user:1', true],
      ['user:?', 'user:10', false],
      ['user:[12]', 'user:2', true],
      ['user:[12]', 'user:3', false],
      ['user:[^12]', 'user:3', true],
      ['user:[^12]', 'user:1', false],
      ['user:[0-9]', 'user:7', true],
      ['user:[9-0]', 'user:7', true],
      ['user:[0-9]', 'user:x', false],
      ['weird\\*key', 'weird*key', true],
      ['weird\\*key', 'weirdXkey', false],
      ['a\\?', 'a?', true],
      ['a\\?', 'ab', false],
      ['[\\]]', ']', true],
      ['ü*', 'über', true],
      ['*', '', true],
      ['a*b*c', 'aXbYc', true],
      ['a*b*c', 'aXbY', false],
    ];
    // Act
    const results = cases.map(([pattern, key]) => keyMatcher([pattern])(Buffer.from(key)));
    // Assess
    expect(results).toEqual(cases.map(([, , expected]) => expected));
    expect(keyMatcher([])(Buffer.from([0x00, 0xff]))).toBe(true);
  });

  it('parses INFO keyspace and matches key patterns', () => {
    // Prepare, Act
    const entries = parseKeyspace('# Keyspace\r\ndb0:keys=7,expires=1,avg_ttl=0\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n');
    const match = keyMatcher(['user:*', 'q?eue']);
    // Assess
    expect(entries).toEqual([
      { name: 'db0', kind: 'keyspace', count: 7 },
      { name: 'db3', kind: 'keyspace', count: 1 },
    ]);
    expect([match(Buffer.from('user:1')), match(Buffer.from('queue')), match(Buffer.from('big'))]).toEqual([true, true, false]);
  });
});

describe('Redis glob patterns against redis-server', () => {
  let server: EngineServer;
  let redis: Redis;
  const keySet = [
    '',
    'a',
    'b',
    'ab',
    'ba',
    'abc',
    'cab',
    'aaa',
    'abab',
    'a*c',
    'a?c',
    '[a]',
    'a-c',
    '\\',
    ']',
    '^a',
    'a\\b',
    '-',
    'acb',
    'bbb',
  ];

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis({ host: server.host, port: server.port, password: server.password });
    await redis.mset(Object.fromEntries(keySet.map((k) => [k, '1'])));
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('selects exactly the keys KEYS/SCAN MATCH selects, for random patterns over the glob metacharacters', async () => {
    // Prepare
    const pattern = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '*', '?', '[', ']', '^', '-', '\\'), maxLength: 8 });
    // Act, Assess
    await fc.assert(
      fc.asyncProperty(pattern, async (p) => {
        const listed = (await redis.keys(p)).sort();
        const ours = keySet.filter((k) => globMatch(Buffer.from(p), Buffer.from(k))).sort();
        expect(ours).toEqual(listed);
      }),
      { numRuns: 400 },
    );
    expect((await redis.keys('a\\*c')).sort()).toEqual(['a*c']);
  });
});
