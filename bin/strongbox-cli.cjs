#!/usr/bin/env -S node --openssl-legacy-provider
'use strict';
// The `strongbox` command (package.json "bin"). It loads tsx the way `node --import tsx` does (TypeScript for
// require and for import(): the local runtime imports the Lambda handlers dynamically), resolved from this
// file so the command works from any directory, then runs cli/main.ts. --openssl-legacy-provider is on the
// shebang line because the local vault (s3rver) needs it from process start.
const { pathToFileURL } = require('node:url');

// The SDK's "Node 22 will be required from 2027" notice would open every command's output; the project runs Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import(pathToFileURL(require.resolve('tsx')).href).then(
  () => require('../cli/main.ts').launch(),
  (error) => {
    process.stderr.write(`strongbox: cannot load tsx (${error.message}); run npm ci in the Strongbox folder\n`);
    process.exitCode = 3;
  },
);
