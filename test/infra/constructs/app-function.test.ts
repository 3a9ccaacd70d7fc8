import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ServerlessChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { runtimePlan } from '../../../infra/config/plan';
import { AppFunction } from '../../../infra/constructs/app-function';
import { DRIVER_PACKAGES } from '../../../infra/constructs/drivers-layer';
import { testPlan } from '../../lambdas/fixtures';

/**
 * Every `<workflow>/<step>` (or lone) folder under lambdas/ with a handler.ts: the functions the app deploys.
 * lambdas/runtime/handler.ts is the wrapper every handler uses, not a function of its own.
 */
function handlerNames(): string[] {
  const root = path.join(__dirname, '../../../lambdas');
  return readdirSync(root).flatMap((top) =>
    top === 'runtime'
      ? []
      : existsSync(path.join(root, top, 'handler.ts'))
        ? [top]
        : statSync(path.join(root, top)).isDirectory()
          ? readdirSync(path.join(root, top))
              .filter((step) => existsSync(path.join(root, top, step, 'handler.ts')))
              .map((step) => `${top}/${step}`)
          : [],
  );
}

/** The functions that open a connection to a database (target checks): they run with the drivers layer. */
const CONNECTING = ['restore/guard', 'restore/validate'];
const BUNDLE_LIMIT_KB = 500;
/** test/support/setup-env.ts turns bundling off for every test; postCliContext wins over it. */
const BUNDLING_ON = { 'aws:cdk:bundling-stacks': ['**'] };

/** The plan a bundle carries brotli-compressed (it is 14 copies of up to 300 KB at 500 databases), inflated back. */
function bakedPlan(bundle: string): unknown {
  const packed = /Buffer\.from\(["'`]([A-Za-z0-9+/=]{40,})["'`],\s*["'`]base64["'`]\)/.exec(bundle)?.[1];
  return packed === undefined ? undefined : JSON.parse(brotliDecompressSync(Buffer.from(packed, 'base64')).toString('utf8'));
}

describe('AppFunction', () => {
  // The only file that bundles: this test bundles every function (esbuild, about 2 s each), the next one.
  it(`bundles every function without source map or AWS SDK, at most ${BUNDLE_LIMIT_KB} KB, the drivers in a layer`, () => {
    // Prepare: bundling on (test/support/setup-env.ts turns it off everywhere else)
    const app = new App({ autoSynth: false, postCliContext: BUNDLING_ON });
    const stack = new Stack(app, 'Lean');
    const names = handlerNames();
    for (const name of names) {
      new AppFunction(stack, name.replace('/', '-'), { name, plan: testPlan(), description: name, drivers: CONNECTING.includes(name) });
    }

    // Act
    const assembly = app.synth();
    const template = Template.fromStack(stack);
    const bundles = Object.values(template.findResources('AWS::Lambda::Function')).map((fn) => {
      const dir = path.join(assembly.directory, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
      const code = readFileSync(path.join(dir, 'index.js'), 'utf8');
      return {
        // Each function's description is its name (see Prepare).
        name: String(fn.Properties.Description),
        kb: Math.round(statSync(path.join(dir, 'index.js')).size / 1024),
        files: readdirSync(dir),
        requiresSdk: code.includes('require("@aws-sdk/client-s3")') || code.includes('require("@aws-sdk/client-sns")'),
        // Every package the bundle leaves to the runtime, other than Node's own modules and the runtime's SDK.
        external: [...new Set([...code.matchAll(/(?:require\(|import\()"([^".][^"]*)"\)/g)].map((m) => m[1]))]
          .filter((id) => !id.startsWith('node:') && !id.startsWith('@aws-sdk/') && !builtinModules.includes(id))
          .sort(),
        layers: fn.Properties.Layers ?? [],
        plan: bakedPlan(code),
      };
    });
    const [[layerId, layer]] = Object.entries(template.findResources('AWS::Lambda::LayerVersion'));
    const layerDir = path.join(assembly.directory, `asset.${String(layer.Properties.Content.S3Key).replace(/\.zip$/, '')}`);
    const load = (ids: string[]) =>
      spawnSync(process.execPath, ['-e', ids.map((id) => `require(${JSON.stringify(id)});`).join('')], {
        // Lambda's NODE_PATH, and a directory with no node_modules above it, so only the layer can answer.
        cwd: layerDir,
        env: { PATH: process.env.PATH, NODE_PATH: path.join(layerDir, 'nodejs/node_modules') },
        encoding: 'utf8',
      });

    // Assess
    expect(names.length).toBeGreaterThanOrEqual(14);
    expect(bundles.map((b) => b.name).sort()).toEqual([...names].sort());
    for (const bundle of bundles) {
      expect({ name: bundle.name, files: bundle.files, requiresSdk: bundle.requiresSdk }).toEqual({
        name: bundle.name,
        files: ['index.js'],
        requiresSdk: true,
      });
    }
    // Every function, the watchdog's included, carries the plan in its bundle and not in its environment.
    expect(bundles.filter((b) => JSON.stringify(b.plan) !== JSON.stringify(runtimePlan(testPlan()))).map((b) => b.name)).toEqual([]);
    expect(bundles.filter((b) => b.kb > BUNDLE_LIMIT_KB).map((b) => `${b.name}: ${b.kb} KB`)).toEqual([]);
    // The drivers (pg, mysql2 with its charset tables, ioredis) stay out of every bundle; the functions that
    // connect to a database require them from the one layer, and the others need nothing outside the runtime.
    const heavy = bundles.filter((b) => CONNECTING.includes(b.name));
    expect(heavy.map((b) => ({ name: b.name, external: b.external, layers: b.layers }))).toEqual(
      CONNECTING.map((name) => ({ name, external: ['ioredis', 'mysql2/promise', 'pg'], layers: [{ Ref: layerId }] })),
    );
    expect(
      bundles.filter((b) => !CONNECTING.includes(b.name) && (b.external.length > 0 || b.layers.length > 0)).map((b) => b.name),
    ).toEqual([]);
    expect(load(heavy[0].external)).toMatchObject({ status: 0, stderr: '' });
    expect(load(['no-such-driver']).status).not.toBe(0);
    const locked = (name: string) =>
      JSON.parse(readFileSync(path.join(__dirname, '../../../package-lock.json'), 'utf8')).packages[`node_modules/${name}`].version;
    for (const name of DRIVER_PACKAGES) {
      const shipped = JSON.parse(readFileSync(path.join(layerDir, 'nodejs/node_modules', name, 'package.json'), 'utf8')).version;
      expect({ name, version: shipped }).toEqual({ name, version: locked(name) });
    }
    template.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleRuntimes: ['nodejs24.x'], CompatibleArchitectures: ['arm64'] });
  });

  it('builds node24.x on arm64 with tracing, a retained log group, and the plan compiled into the bundle only', () => {
    // Prepare
    const app = new App({ autoSynth: false, postCliContext: BUNDLING_ON });
    const stack = new Stack(app, 'Test');
    const plan = testPlan();

    // Act
    new AppFunction(stack, 'Fn', {
      name: 'backup/prepare',
      plan,
      description: 'test',
      environment: { STRONGBOX_A: 'b' },
      logRetention: logs.RetentionDays.ONE_WEEK,
    });
    const template = Template.fromStack(stack);
    const assembly = app.synth();

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: { STRONGBOX_A: 'b', POWERTOOLS_SERVICE_NAME: 'backup-prepare', POWERTOOLS_METRICS_NAMESPACE: 'Strongbox' },
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    const assetHash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
    const assetDir = path.join(assembly.directory, `asset.${assetHash}`);
    const bundle = readFileSync(path.join(assetDir, 'index.js'), 'utf8');
    // The plan travels brotli-compressed (it is 14 copies of up to 300 KB at 500 databases); inflate it back.
    expect(bakedPlan(bundle)).toEqual(runtimePlan(plan));
    expect(JSON.stringify(fn.Properties)).not.toContain('sbx-orders-dump');
    expect(bundle.includes('PutObjectCommand')).toBe(true);
    expect(readdirSync(assetDir)).toEqual(['index.js']);
  });

  it("runs the newest Node.js runtime: cdk-nag's Serverless pack finds nothing to say about it", () => {
    // Prepare
    const app = new App({ autoSynth: false, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Runtime');
    new AppFunction(stack, 'Fn', { name: 'backup/prepare', plan: testPlan(), description: 'test' });

    const older = new App({ autoSynth: false });
    new lambda.Function(new Stack(older, 'Older'), 'Fn', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => 1;'),
    });
    const runtimeFindings = (scope: App) =>
      new ServerlessChecks(scope).validateScope(scope).violations.filter((v) => v.ruleName.includes('LambdaLatestVersion'));

    // Act
    const ours = runtimeFindings(app);
    const theirs = runtimeFindings(older);

    // Assess: the rule does fire for an older runtime, and not for ours.
    expect(theirs).toHaveLength(1);
    expect(ours).toEqual([]);
  });

  it('rejects a name without a handler, showing where it looked', () => {
    // Act
    const act = () =>
      new AppFunction(new Stack(new App({ autoSynth: false }), 'Bad'), 'Fn', { name: 'nope', plan: testPlan(), description: 'x' });

    // Assess
    expect(act).toThrow(/name must be a folder under lambdas\/ with a handler.ts, got "nope"/);
  });
});
