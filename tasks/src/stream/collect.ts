/**
 * Frees the stream's spent chunks on a byte cadence. Every chunk a child's pipe or a socket delivers is a fresh
 * 64 KiB Buffer whose memory lives outside V8's heap and returns only when a collection finds its small JS
 * wrapper dead. The stream allocates so few JS objects that the young generation fills slowly, so V8 learns of
 * the spent chunks from its external-memory accounting, after ~32 MB of them, and then runs a full mark-compact
 * of the whole heap (a MariaDB backup passed every dumped byte through Node and ran ~30 of them, ~1 s of CPU
 * taken from the dump and zstd on a 2-core task, with ~33 MB of dead chunks at its peak). A scavenge of the
 * 1 MB young generation every STREAM_COLLECT_BYTES frees them within a few MB at ~0.5 ms each (8 MiB left
 * ~3 MB more at a MariaDB backup's peak than 4 MiB): the image's
 * node exposes `gc` for it (TASK_NODE_FLAGS in tasks/build.ts); where it is not exposed (tsx, tests) this does
 * nothing and V8 collects as it would.
 */
export const STREAM_COLLECT_BYTES = 4 * 1024 * 1024;

type Collect = (options: { type: 'minor' | 'major' }) => void;

export class StreamCollector {
  private since = 0;
  /** Scavenges run so far (the backup's log reports them). */
  public collections = 0;

  public constructor(
    private readonly collect: Collect | undefined = (globalThis as { gc?: Collect }).gc,
    private readonly every = STREAM_COLLECT_BYTES,
  ) {}

  /** Counts bytes that passed through Node; scavenges once `every` bytes passed since the last one. */
  public passed(bytes: number): void {
    this.since += bytes;
    if (this.since >= this.every && this.collect) {
      this.since = 0;
      this.collections++;
      this.collect({ type: 'minor' });
    }
  }
}

/** The process's one collector: a Redis backup's engine stream, the hash meters (a restore's download, a base backup) and the restore's holdback share the cadence. */
export const streamCollector = new StreamCollector();
