// Preloaded (--require) into a task started by a test: records which files the task loaded and, at each
// child process it starts, whether the AWS SDK was loaded yet. Written to STRONGBOX_TEST_MODULES_FILE at exit.
const childProcess = require('node:child_process');
const { writeFileSync } = require('node:fs');

const out = process.env.STRONGBOX_TEST_MODULES_FILE;
const spawns = [];
const sdkLoaded = () => Object.keys(require.cache).some((file) => file.includes('/node_modules/@aws-sdk/'));
const spawn = childProcess.spawn;
childProcess.spawn = function recordSpawn(command, args, ...rest) {
  spawns.push({ command: String(command).split('/').pop(), args: Array.isArray(args) ? args.map(String) : [], sdkLoaded: sdkLoaded() });
  return spawn.call(this, command, args, ...rest);
};
process.on('exit', () => {
  if (out) {
    writeFileSync(out, JSON.stringify({ modules: Object.keys(require.cache), spawns }));
  }
});
