import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FollowOptions {
  /** Bytes asked for per read. @default 1 MiB */
  readonly chunkBytes?: number;
  /** How long to wait before asking again when the writer is behind. @default 25 */
  readonly pollMs?: number;
}

/**
 * A file read while another process writes it (pg_basebackup's compressed tar), to the end it has once the writer
 * exited: bytes reach the upload as they are written, not after the writer is done. Polling rather than
 * inotify: the file appears in a directory that only the writer creates, and a read that finds nothing new costs
 * microseconds. A file that never appears ends the stream empty; the writer's exit is the verdict on that.
 */
export function followFile(path: string, writerExited: Promise<unknown>, options: FollowOptions = {}): Readable {
  return Readable.from(follow(path, writerExited, options.chunkBytes ?? 1024 * 1024, options.pollMs ?? 25), { objectMode: false });
}

async function* follow(path: string, writerExited: Promise<unknown>, chunkBytes: number, pollMs: number): AsyncGenerator<Buffer> {
  let exited = false;
  writerExited.then(
    () => {
      exited = true;
    },
    () => {
      exited = true;
    },
  );
  let file: FileHandle | undefined;
  try {
    let position = 0;
    for (;;) {
      // Read after seeing the exit, never before: a read that came up empty before the writer's last write and
      // exit would otherwise end the stream short.
      const writerGone = exited;
      file ??= await open(path, 'r').catch(() => undefined);
      let read = 0;
      if (file) {
        const buffer = Buffer.allocUnsafe(chunkBytes);
        ({ bytesRead: read } = await file.read(buffer, 0, chunkBytes, position));
        if (read > 0) {
          position += read;
          yield read === chunkBytes ? buffer : buffer.subarray(0, read);
          continue;
        }
      }
      if (writerGone) {
        return;
      }
      await sleep(pollMs);
    }
  } finally {
    await file?.close();
  }
}
