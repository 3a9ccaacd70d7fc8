import { runAsEntry } from './main';

// The image's entry point (tasks/build.ts bundles it as an ES module, split so that each command loads only
// its own code). glibc read the image's allocator setting at exec (TASK_PROCESS_ENV in tasks/build.ts); the
// dump tools and the drills' servers the task starts keep glibc's defaults.
delete process.env.MALLOC_MMAP_THRESHOLD_;
runAsEntry();
