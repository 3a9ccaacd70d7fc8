/**
 * Strongbox's Redis logical format: what a logical dump writes and a logical restore reads.
 *
 * Logical format, version 2 (all integers big-endian):
 *   magic   "STRONGBOX-REDIS-LOGICAL/2\n"
 *   0x01 u32 db                                             select database
 *   0x03 u32 keyLength key u32 dumpLength dump i64 expireAt  one key; expireAt is its expiry as an absolute
 *                                                           instant in Unix ms on the source's clock, -1: none
 *   0xFF                                                    end of stream (its absence means a truncated artifact)
 * Version 1 (still read, no longer written) had the magic "STRONGBOX-REDIS-LOGICAL/1\n" and 0x02 key records
 * whose i64 was the key's PTTL when it was dumped. A relative TTL replayed later moves every expiry by the age
 * of the backup, so a version-1 TTL is made an instant counted from the backup's start (the manifest's
 * startedAt): such a key expires early by at most the time the dump had run when it reached the key.
 */
export const LOGICAL_MAGIC = Buffer.from('STRONGBOX-REDIS-LOGICAL/2\n');
const LOGICAL_MAGIC_V1 = Buffer.from('STRONGBOX-REDIS-LOGICAL/1\n');
const TAG_SELECT = 0x01;
const TAG_KEY_V1 = 0x02;
const TAG_KEY = 0x03;
export const TAG_END = 0xff;
export const NO_EXPIRY = -1;

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

export function selectRecord(db: number): Buffer {
  return Buffer.concat([Buffer.from([TAG_SELECT]), u32(db)]);
}

/** One key's record, as parts to concatenate. */
export function keyRecord(key: Buffer, dump: Buffer, expireAt: number): Buffer[] {
  const at = Buffer.alloc(8);
  at.writeBigInt64BE(BigInt(expireAt));
  return [Buffer.from([TAG_KEY]), u32(key.length), key, u32(dump.length), dump, at];
}

/** A logical artifact that is not one, or is damaged; the message says what was expected (main prints only it). */
export class RedisArtifactError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'RedisArtifactError';
  }
}

/** Bytes as a quoted string: printable ASCII as is, the rest as \n or \xNN (an artifact's head in an error). */
function printable(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    out +=
      b === 0x0a
        ? '\\n'
        : b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c
          ? String.fromCharCode(b)
          : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `"${out}"`;
}

/** Why `head` (shorter than the header when the stream ended early) is not a logical format's header. */
function headerError(head: Buffer): RedisArtifactError {
  const expected = `expected a Strongbox redis logical artifact, whose first bytes are ${printable(LOGICAL_MAGIC)} (or ${printable(LOGICAL_MAGIC_V1)} before version 2)`;
  if (head.length === 0) {
    return new RedisArtifactError(`redis logical artifact is empty: ${expected}, but the decompressed stream ended before its first byte`);
  }
  const prefixOf = (magic: Buffer) => head.length < magic.length && head.equals(magic.subarray(0, head.length));
  if (prefixOf(LOGICAL_MAGIC) || prefixOf(LOGICAL_MAGIC_V1)) {
    return new RedisArtifactError(`redis logical artifact is truncated: ${expected}, but it ends after ${head.length} of them`);
  }
  const newer = /^STRONGBOX-REDIS-LOGICAL\/(\d+)/.exec(head.toString('latin1'));
  if (newer) {
    return new RedisArtifactError(
      `redis logical artifact is format version ${newer[1]}, which this task does not read (it reads versions 1 and 2): restore it with the Strongbox release that wrote it or a newer one`,
    );
  }
  const rdb = /^REDIS\d{4}/.test(head.toString('latin1'))
    ? '; this is an RDB file, which is restored with STRONGBOX_RESTORE_PATH for a fresh redis-server to load'
    : '';
  return new RedisArtifactError(`not a Strongbox redis logical artifact: ${expected}, found ${printable(head.subarray(0, 32))}${rdb}`);
}

/** One record of the logical format; a key's `expireAt` is an absolute Unix ms instant, -1 for none. */
export type LogicalRecord = { readonly db: number } | { readonly key: Buffer; readonly dump: Buffer; readonly expireAt: number };

export interface ReadLogicalOptions {
  /** Unix ms that a version-1 artifact's relative TTLs are counted from: the backup's start. */
  readonly relativeTo?: number;
}

/**
 * Reads the logical format (version 2, or version 1 with `relativeTo`) from a stream, holding at most one record
 * plus one chunk in memory; any chunking of the bytes reads the same. The source is read only when a record is
 * asked for, and released (a Readable is destroyed) when the reader stops for any reason, so a producer behind
 * it (zstd) is never left blocked on a full pipe after an error.
 */
export async function* readLogical(input: AsyncIterable<Uint8Array>, options: ReadLogicalOptions = {}): AsyncGenerator<LogicalRecord> {
  const iterator = input[Symbol.asyncIterator]();
  let buffer: Buffer = Buffer.alloc(0);
  const need = async (n: number): Promise<boolean> => {
    while (buffer.length < n) {
      const next = await iterator.next();
      if (next.done) {
        return false;
      }
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    }
    return true;
  };
  const take = (n: number): Buffer => {
    const out = buffer.subarray(0, n);
    buffer = buffer.subarray(n);
    return out;
  };
  const truncated = () => new RedisArtifactError('redis logical artifact is truncated: it ends before its end marker');
  try {
    if (!(await need(LOGICAL_MAGIC.length))) {
      throw headerError(buffer);
    }
    const head = take(LOGICAL_MAGIC.length);
    const v1 = head.equals(LOGICAL_MAGIC_V1);
    if (!v1 && !head.equals(LOGICAL_MAGIC)) {
      throw headerError(head);
    }
    const relativeTo = options.relativeTo;
    if (v1 && relativeTo === undefined) {
      throw new RedisArtifactError(
        "redis logical artifact is format version 1, whose TTLs are relative to the moment each key was dumped: restoring it needs the backup's start time (the manifest's startedAt) to make them instants",
      );
    }
    const keyTag = v1 ? TAG_KEY_V1 : TAG_KEY;
    for (;;) {
      if (!(await need(1))) {
        throw truncated();
      }
      const tag = take(1)[0];
      if (tag === TAG_END) {
        break;
      }
      if (tag === TAG_SELECT) {
        if (!(await need(4))) throw truncated();
        yield { db: take(4).readUInt32BE() };
      } else if (tag === keyTag) {
        if (!(await need(4))) throw truncated();
        const keyLength = take(4).readUInt32BE();
        if (!(await need(keyLength + 4))) throw truncated();
        const key = Buffer.from(take(keyLength));
        const dumpLength = take(4).readUInt32BE();
        if (!(await need(dumpLength + 8))) throw truncated();
        const dump = Buffer.from(take(dumpLength));
        const expiry = Number(take(8).readBigInt64BE());
        yield { key, dump, expireAt: expiry < 0 ? NO_EXPIRY : v1 ? (relativeTo as number) + expiry : expiry };
      } else {
        throw new RedisArtifactError(`redis logical artifact is corrupt: unknown record tag 0x${tag.toString(16).padStart(2, '0')}`);
      }
    }
    // The end marker is the last byte: reading on to the end of the stream also lets its producer finish.
    if (buffer.length > 0 || (await need(1))) {
      throw new RedisArtifactError('redis logical artifact is corrupt: bytes follow its end marker');
    }
  } finally {
    await iterator.return?.();
  }
}
