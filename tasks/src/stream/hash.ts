import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { streamCollector } from './collect';

/** What the sinks (uploadStream, discardStream) read from: a Readable has all of it, and so has MeteredPipe. */
export interface ByteSource {
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  once(event: 'end' | 'close', listener: () => void): this;
  once(event: 'error', listener: (error: Error) => void): this;
  pause(): this;
  resume(): this;
}

/** A source that counts and hashes what passes: HashMeter (a Transform) or MeteredPipe (a pipe's fd). */
export interface Meter extends ByteSource {
  readonly bytes: number;
  /** performance.now() when the first byte passed: milliseconds since the process started. */
  readonly firstByteMs?: number;
  /** Hex SHA-256 of everything that passed; only valid once the source has ended. */
  sha256(): string;
  /** Stops it and releases what it reads from, for a sink that failed before the end. */
  destroy(error?: Error): void;
}

/**
 * Passes bytes through while counting them and computing their SHA-256. `beforeEnd` runs before the stream
 * ends: the backup waits there for the dump tool and zstd to exit, so a failed tool turns the stream into an
 * error and the multipart upload is aborted instead of completed.
 */
export class HashMeter extends Transform implements Meter {
  public bytes = 0;
  /** performance.now() when the first byte passed: milliseconds since the process started. */
  public firstByteMs?: number;
  private readonly hash = createHash('sha256');
  private digest?: string;

  public constructor(private readonly beforeEnd?: () => Promise<void>) {
    super();
  }

  public override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.firstByteMs ??= Math.round(performance.now());
    this.bytes += chunk.length;
    streamCollector.passed(chunk.length);
    this.hash.update(chunk);
    callback(null, chunk);
  }

  public override _flush(callback: TransformCallback): void {
    (this.beforeEnd ?? (async () => undefined))().then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  /** Hex SHA-256 of everything that passed; only valid once the stream has ended. */
  public sha256(): string {
    this.digest ??= this.hash.digest('hex');
    return this.digest;
  }
}

export class ChecksumMismatchError extends Error {
  public constructor(expected: string, actual: string) {
    super(`checksum mismatch: expected ${expected}, got ${actual}; the artifact is corrupt or was changed after the backup`);
    this.name = 'ChecksumMismatchError';
  }
}

/**
 * Hashes a restore's download and withholds its last `holdBytes` until the whole artifact matched the
 * manifest's SHA-256. The engine downstream therefore never receives a complete dump that is corrupt: on a
 * mismatch the stream fails with ChecksumMismatchError, the tool sees a truncated input and fails, and its
 * transaction (where the engine has one) is rolled back.
 */
export class VerifyingHoldBack extends Transform {
  public bytes = 0;
  private readonly hash = createHash('sha256');
  private held: Buffer[] = [];
  private heldBytes = 0;

  public constructor(
    private readonly expectedSha256: string,
    private readonly holdBytes = 4 * 1024 * 1024,
  ) {
    super();
  }

  public override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    streamCollector.passed(chunk.length);
    this.hash.update(chunk);
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    while (this.held.length > 1 && this.heldBytes - this.held[0].length >= this.holdBytes) {
      const first = this.held.shift() as Buffer;
      this.heldBytes -= first.length;
      this.push(first);
    }
    callback();
  }

  public override _flush(callback: TransformCallback): void {
    const actual = this.hash.digest('hex');
    if (actual !== this.expectedSha256) {
      this.held = [];
      callback(new ChecksumMismatchError(this.expectedSha256, actual));
      return;
    }
    for (const chunk of this.held) {
      this.push(chunk);
    }
    this.held = [];
    callback();
  }
}
