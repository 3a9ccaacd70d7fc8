/**
 * A streaming structural check of zstd data (RFC 8878), fed chunk by chunk while the artifact is hashed:
 * every frame starts with the zstd magic number (or is a skippable frame), every block header is valid, the
 * last block and the optional content checksum are present, and the stream ends exactly at a frame boundary.
 * It does not decompress (Node before 22.15 has no zstd; verify.ts also decodes where zlib can), but it
 * catches the failures that matter for a backup: a truncated upload, a wrong file, or a corrupt header.
 */

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const MAX_BLOCK_SIZE = 128 * 1024;

type Phase = 'magic' | 'skippableSize' | 'descriptor' | 'header' | 'blockHeader' | 'payload' | 'checksum';

export class ZstdFrameChecker {
  private phase: Phase = 'magic';
  private readonly pending: number[] = [];
  private need = 4;
  private remaining = 0;
  private afterPayload: 'block' | 'frameEnd' | 'magic' = 'magic';
  private hasChecksum = false;
  private offset = 0;
  public frames = 0;
  public blocks = 0;
  public problem: string | undefined;

  public push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && this.problem === undefined) {
      if (this.phase === 'payload') {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        this.offset += take;
        if (this.remaining === 0) {
          this.endPayload();
        }
        continue;
      }
      this.pending.push(chunk[i++]);
      this.offset++;
      if (this.pending.length === this.need) {
        const bytes = this.pending.splice(0, this.pending.length);
        this.onBytes(bytes);
      }
    }
  }

  /** Undefined when the stream was complete and well formed, else what is wrong with it. */
  public finish(): string | undefined {
    if (this.problem) {
      return this.problem;
    }
    if (this.frames === 0) {
      return 'no zstd frame found';
    }
    if (this.phase !== 'magic' || this.pending.length > 0) {
      return `zstd stream is truncated: it ends at byte ${this.offset} inside a frame (${this.phase})`;
    }
    return undefined;
  }

  private onBytes(bytes: number[]): void {
    const u32 = () => (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
    switch (this.phase) {
      case 'magic': {
        const magic = u32();
        if (magic === ZSTD_MAGIC) {
          this.frames++;
          this.expect('descriptor', 1);
        } else if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
          this.expect('skippableSize', 4);
        } else {
          this.problem = `byte ${this.offset - 4}: expected a zstd frame (magic 28 B5 2F FD), found ${bytes.map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(' ')}`;
        }
        return;
      }
      case 'skippableSize':
        this.skip(u32(), 'magic');
        return;
      case 'descriptor': {
        const d = bytes[0];
        if (d & 0x08) {
          this.problem = `byte ${this.offset - 1}: zstd frame header has its reserved bit set`;
          return;
        }
        const fcsFlag = d >> 6;
        const singleSegment = (d >> 5) & 1;
        this.hasChecksum = ((d >> 2) & 1) === 1;
        const dictionaryBytes = [0, 1, 2, 4][d & 3];
        const contentSizeBytes = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag];
        const length = (singleSegment ? 0 : 1) + dictionaryBytes + contentSizeBytes;
        if (length === 0) {
          this.expect('blockHeader', 3);
        } else {
          this.expect('header', length);
        }
        return;
      }
      case 'header':
        this.expect('blockHeader', 3);
        return;
      case 'blockHeader': {
        const value = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16);
        const last = value & 1;
        const type = (value >> 1) & 3;
        const size = value >>> 3;
        if (type === 3) {
          this.problem = `byte ${this.offset - 3}: zstd block uses the reserved block type`;
          return;
        }
        if (size > MAX_BLOCK_SIZE) {
          this.problem = `byte ${this.offset - 3}: zstd block of ${size} bytes exceeds the 128 KiB maximum`;
          return;
        }
        this.blocks++;
        this.skip(type === 1 ? 1 : size, last ? 'frameEnd' : 'block');
        return;
      }
      case 'checksum':
        this.expect('magic', 4);
        return;
      default:
        return;
    }
  }

  private expect(phase: Phase, need: number): void {
    this.phase = phase;
    this.need = need;
  }

  private skip(bytes: number, then: 'block' | 'frameEnd' | 'magic'): void {
    this.afterPayload = then;
    this.remaining = bytes;
    this.phase = 'payload';
    if (bytes === 0) {
      this.endPayload();
    }
  }

  private endPayload(): void {
    if (this.afterPayload === 'block') {
      this.expect('blockHeader', 3);
    } else if (this.afterPayload === 'frameEnd') {
      this.expect(this.hasChecksum ? 'checksum' : 'magic', 4);
    } else {
      this.expect('magic', 4);
    }
  }
}

export function hasZstdMagic(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd;
}
