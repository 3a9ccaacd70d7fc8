import type { LogicalRecord } from '../../../engines/redis/logical-format';

/** The logical format framed by hand, independently of the code under test. */
export type V1Record = { db: number } | { key: Buffer; dump: Buffer; pttl: number };

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function i64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
}

/** The logical format, version 2, framed independently of the code under test (see the format comment in engines/redis/logical-format.ts). */
export function frame(records: readonly LogicalRecord[]): Buffer {
  const parts: Buffer[] = [Buffer.from('STRONGBOX-REDIS-LOGICAL/2\n')];
  for (const r of records) {
    if ('db' in r) {
      parts.push(Buffer.from([0x01]), u32(r.db));
    } else {
      parts.push(Buffer.from([0x03]), u32(r.key.length), r.key, u32(r.dump.length), r.dump, i64(r.expireAt));
    }
  }
  parts.push(Buffer.from([0xff]));
  return Buffer.concat(parts);
}

/** Version 1 of the logical format (relative PTTLs), as Strongbox wrote it before version 2. */
export function frameV1(records: readonly V1Record[]): Buffer {
  const parts: Buffer[] = [Buffer.from('STRONGBOX-REDIS-LOGICAL/1\n')];
  for (const r of records) {
    if ('db' in r) {
      parts.push(Buffer.from([0x01]), u32(r.db));
    } else {
      parts.push(Buffer.from([0x02]), u32(r.key.length), r.key, u32(r.dump.length), r.dump, i64(r.pttl));
    }
  }
  parts.push(Buffer.from([0xff]));
  return Buffer.concat(parts);
}
