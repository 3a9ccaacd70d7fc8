import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LOGICAL_MAGIC, type LogicalRecord, RedisArtifactError, readLogical } from '../../../engines/redis/logical-format';
import { frame, frameV1, i64, u32 } from './frames';

/** `data` cut at the given offsets (sorted, duplicates give empty chunks). */
function chunked(data: Buffer, cuts: readonly number[]): Buffer[] {
  const sorted = [...cuts].sort((a, b) => a - b);
  return [0, ...sorted].map((start, i) => data.subarray(start, i < sorted.length ? sorted[i] : data.length));
}

async function readAll(chunks: Iterable<Buffer> | AsyncIterable<Buffer>, relativeTo?: number): Promise<LogicalRecord[]> {
  const out: LogicalRecord[] = [];
  for await (const record of readLogical(Readable.from(chunks), { relativeTo })) {
    out.push(record);
  }
  return out;
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('Redis logical format', () => {
  it('reads back what it frames and rejects a stream cut before its end marker', async () => {
    // Prepare
    const record = Buffer.concat([Buffer.from([3]), u32(1), Buffer.from('k'), u32(2), Buffer.from('vv'), i64(-1)]);
    const complete = Buffer.concat([LOGICAL_MAGIC, Buffer.from([1]), u32(2), record, Buffer.from([0xff])]);
    // Act
    const read = async (data: Buffer) => {
      const out: unknown[] = [];
      for await (const item of readLogical(Readable.from([data.subarray(0, 7), data.subarray(7)]))) out.push(item);
      return out;
    };
    // Assess
    expect(await read(complete)).toEqual([{ db: 2 }, { key: Buffer.from('k'), dump: Buffer.from('vv'), expireAt: -1 }]);
    await expect(read(complete.subarray(0, complete.length - 1))).rejects.toThrow('truncated');
  });

  it('reads the same records however the bytes are chunked, down to 1-byte chunks and empty chunks', async () => {
    // Prepare
    const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
    const record: fc.Arbitrary<LogicalRecord> = fc.oneof(
      fc.record({ db: fc.integer({ min: 0, max: 15 }) }),
      fc.record({ key: bytes, dump: bytes, expireAt: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 2 ** 42 })) }),
    );
    const input = fc.array(record, { maxLength: 8 }).chain((records) => {
      const data = frame(records);
      const cuts = fc.oneof(
        fc.array(fc.integer({ min: 0, max: data.length }), { maxLength: 12 }),
        fc.constant(Array.from({ length: data.length - 1 }, (_, i) => i + 1)),
      );
      return fc.tuple(fc.constant(records), fc.constant(data), cuts);
    });
    // Act, Assess
    await fc.assert(
      fc.asyncProperty(input, async ([records, data, cuts]) => {
        expect(await readAll(chunked(data, cuts))).toEqual(records);
      }),
      { numRuns: 300 },
    );
  });

  it('reads a fixed artifact split at every single offset, and at every pair of offsets inside the header', async () => {
    // Prepare
    const records: LogicalRecord[] = [{ db: 3 }, { key: Buffer.from('k'), dump: Buffer.from('vv'), expireAt: 1234 }, { db: 0 }];
    const data = frame(records);
    const splits: number[][] = [];
    for (let i = 0; i <= data.length; i++) {
      splits.push([i]);
    }
    for (let i = 1; i < LOGICAL_MAGIC.length; i++) {
      for (let j = i; j <= LOGICAL_MAGIC.length + 1; j++) {
        splits.push([i, j]);
      }
    }
    // Act
    const results = await Promise.all(splits.map((cuts) => readAll(chunked(data, cuts))));
    // Assess
    expect(results.filter((r) => JSON.stringify(r) !== JSON.stringify(records))).toEqual([]);
  });

  it('rejects every strict prefix of an artifact with a clear RedisArtifactError, never with partial success', async () => {
    // Prepare
    const data = frame([{ db: 0 }, { key: Buffer.from('key'), dump: Buffer.from('dump'), expireAt: -1 }]);
    // Act
    const failures = await Promise.all(
      Array.from({ length: data.length }, (_, n) => failureOf(readAll(chunked(data.subarray(0, n), [Math.floor(n / 2)])))),
    );
    // Assess
    expect(failures.every((e) => e instanceof RedisArtifactError)).toBe(true);
    expect(failures[0].message).toBe(
      'redis logical artifact is empty: expected a Strongbox redis logical artifact, whose first bytes are "STRONGBOX-REDIS-LOGICAL/2\\n" (or "STRONGBOX-REDIS-LOGICAL/1\\n" before version 2), but the decompressed stream ended before its first byte',
    );
    expect(failures[10].message).toContain('truncated');
    expect(failures[10].message).toContain('ends after 10 of them');
    expect(failures.slice(LOGICAL_MAGIC.length).every((e) => e.message.includes('ends before its end marker'))).toBe(true);
  });

  it('names what it expected when the artifact is foreign or corrupt', async () => {
    // Prepare
    const rdb = Buffer.concat([Buffer.from('REDIS0010'), Buffer.from([0xfa, 0x09]), Buffer.from('redis-ver'), randomBytes(64)]);
    const unknownTag = Buffer.concat([LOGICAL_MAGIC, Buffer.from([0x07])]);
    const trailing = Buffer.concat([frame([]), Buffer.from('x')]);
    // Act
    const [foreign, tag, after] = await Promise.all([
      failureOf(readAll([rdb])),
      failureOf(readAll([unknownTag])),
      failureOf(readAll([trailing])),
    ]);
    // Assess
    expect(foreign).toBeInstanceOf(RedisArtifactError);
    expect(foreign.message).toMatch(
      /^not a Strongbox redis logical artifact: expected a Strongbox redis logical artifact, whose first bytes are "STRONGBOX-REDIS-LOGICAL\/2\\n" \(or "STRONGBOX-REDIS-LOGICAL\/1\\n" before version 2\), found "REDIS0010\\xfa\\x09redis-ver/,
    );
    expect(foreign.message).toContain('this is an RDB file, which is restored with STRONGBOX_RESTORE_PATH');
    expect(tag.message).toBe('redis logical artifact is corrupt: unknown record tag 0x07');
    expect(after.message).toBe('redis logical artifact is corrupt: bytes follow its end marker');
  });

  it('reads version 1 (relative PTTLs) as instants counted from the backup start, and refuses it without one', async () => {
    // Prepare
    const v1 = frameV1([
      { db: 1 },
      { key: Buffer.from('ttl'), dump: Buffer.from('d1'), pttl: 1500 },
      { key: Buffer.from('none'), dump: Buffer.from('d2'), pttl: -1 },
    ]);
    // Act
    const [read, refused] = await Promise.all([readAll(chunked(v1, [5, 30]), 1_700_000_000_000), failureOf(readAll([v1]))]);
    // Assess
    expect(read).toEqual([
      { db: 1 },
      { key: Buffer.from('ttl'), dump: Buffer.from('d1'), expireAt: 1_700_000_001_500 },
      { key: Buffer.from('none'), dump: Buffer.from('d2'), expireAt: -1 },
    ]);
    expect(refused).toBeInstanceOf(RedisArtifactError);
    expect(refused.message).toBe(
      "redis logical artifact is format version 1, whose TTLs are relative to the moment each key was dumped: restoring it needs the backup's start time (the manifest's startedAt) to make them instants",
    );
  });

  it("names a newer format version as such, and keeps each version's key records apart", async () => {
    // Prepare
    const newer = Buffer.concat([Buffer.from('STRONGBOX-REDIS-LOGICAL/3\n'), Buffer.from([0xff])]);
    const v1RecordInV2 = Buffer.concat([
      LOGICAL_MAGIC,
      Buffer.from([0x02]),
      u32(1),
      Buffer.from('k'),
      u32(0),
      i64(-1),
      Buffer.from([0xff]),
    ]);
    // Act
    const [version, mixed] = await Promise.all([failureOf(readAll([newer])), failureOf(readAll([v1RecordInV2]))]);
    // Assess
    expect(version.message).toBe(
      'redis logical artifact is format version 3, which this task does not read (it reads versions 1 and 2): restore it with the Strongbox release that wrote it or a newer one',
    );
    expect(mixed.message).toBe('redis logical artifact is corrupt: unknown record tag 0x02');
  });

  it('releases (destroys) its source stream when it stops on an error, so the producer behind it is not left blocked', async () => {
    // Prepare
    const source = Readable.from([Buffer.from('GARBAGE-GARBAGE-GARBAGE-GARBAGE'), Buffer.alloc(1024 * 1024)], { objectMode: false });
    // Act
    const error = await failureOf(
      (async () => {
        for await (const _ of readLogical(source)) {
          // no records expected
        }
      })(),
    );
    // Assess
    expect(error.message).toContain('not a Strongbox redis logical artifact');
    expect(source.destroyed).toBe(true);
  });
});
