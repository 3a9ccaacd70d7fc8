/**
 * The direction of imports, enforced in `npm run lint` (README, "Layout"). From the bottom up:
 *   contracts/, util/  <- engines/  <- tasks/     (the Fargate container; util/ is generic and imports nothing)
 *   contracts/  <- lambdas/                       (the functions; never the engines' task side, never infra)
 *   contracts/  <- infra/                         (the cloud; bundles lambdas/ by path, never imports them)
 *   everything  <- dev/servers/, local/, cli/, bench/, bin/   (runners on top)
 *   test/ imports anything; nothing imports test/.
 * A rule names what a folder may NOT import, so a new folder is free until it is given a place here.
 */
const RUNNERS = '^(local|dev|cli|bench|bin)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A circle has no bottom: split the shared part into a file both can import.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'nothing-imports-tests',
      severity: 'error',
      comment: 'Tests are leaves. Move what production code needs from test/ to dev/servers/ or the module it serves.',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'contracts-import-nothing',
      severity: 'error',
      comment: 'contracts/ is the neutral package every side imports; it may use npm packages, nothing of the project.',
      from: { path: '^contracts/' },
      to: { pathNot: ['^contracts/', '(^|/)node_modules/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'util-imports-nothing',
      severity: 'error',
      comment: 'util/ holds small generic helpers (mapLimit) that any side may use; it knows nothing of Strongbox.',
      from: { path: '^util/' },
      to: { pathNot: ['^util/', '(^|/)node_modules/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'engines-import-only-contracts',
      severity: 'error',
      comment: 'An engine adapter is the extension point: it may use contracts/ and its own folder, nothing above.',
      from: { path: '^engines/' },
      to: { pathNot: ['^engines/', '^contracts/', '^util/', '(^|/)node_modules/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'tasks-stay-in-the-container',
      severity: 'error',
      comment: 'The task container ships tasks/, engines/ and contracts/ only (tasks/Dockerfile).',
      from: { path: '^tasks/' },
      to: { pathNot: ['^tasks/', '^engines/', '^contracts/', '^util/', '(^|/)node_modules/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'lambdas-never-import-tasks-or-infra',
      severity: 'error',
      comment: 'A Lambda bundle holds its handler, lambdas/runtime, contracts/ and, for steps that connect, engines/.',
      from: { path: '^lambdas/' },
      to: { path: ['^tasks/', '^infra/', RUNNERS] },
    },
    {
      name: 'infra-describes-the-cloud',
      severity: 'error',
      comment: 'infra/ may use contracts/ (names, paths, schemas); the functions and the task are bundled by path.',
      from: { path: '^infra/' },
      to: { path: ['^lambdas/', '^tasks/', '^engines/', RUNNERS] },
    },
    {
      name: 'dev-servers-below-the-local-runtime',
      severity: 'error',
      comment: 'Tests, the bench and the demo share dev/servers/; it builds on the engines, not on local/ or cli/.',
      from: { path: '^dev/' },
      to: { path: ['^local/', '^cli/', '^bench/', '^bin/', '^infra/', '^lambdas/', '^tasks/'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^node_modules/', '^cdk\\.out', '^\\.strongbox/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
