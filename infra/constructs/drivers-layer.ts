import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AssetHashType, DockerImage, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ValidationError } from './validation-error';

const PROJECT_ROOT = path.join(__dirname, '../..');

/**
 * The database drivers the engines open connections with. A function that connects to a database (the restore
 * target checks) leaves them out of its bundle and finds them in {@link DriversLayer}: bundled, they are 1.3 MB
 * of each such function (mysql2's charset tables alone are several hundred KB).
 */
export const DRIVER_PACKAGES = ['pg', 'mysql2', 'ioredis'] as const;

interface LockedPackage {
  readonly version?: string;
  readonly integrity?: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly dev?: boolean;
}

export interface LockedDependency {
  /** The package's folder relative to the project root, as the lockfile names it (`node_modules/pg`, nested ones included). */
  readonly folder: string;
  readonly name: string;
  readonly version: string;
  readonly integrity: string;
}

/**
 * The packages `roots` need at run time, read from package-lock.json: each root and, transitively, its
 * dependencies and installed optional dependencies, resolved the way Node does (nearest `node_modules` first).
 * Peer dependencies (pg-native, @types/node) are the user's to provide and stay out. Sorted by folder, so the
 * list, and the layer's hash made of it, depend on the lockfile alone.
 */
export function lockedClosure(lockfile: { packages: Record<string, LockedPackage> }, roots: readonly string[]): LockedDependency[] {
  const found = new Map<string, LockedDependency>();
  const resolve = (from: string, name: string): string | undefined => {
    for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
      const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (lockfile.packages[candidate]) {
        return candidate;
      }
      if (!dir) {
        return undefined;
      }
    }
  };
  const visit = (folder: string) => {
    if (found.has(folder)) {
      return;
    }
    const entry = lockfile.packages[folder];
    if (!entry.version || !entry.integrity) {
      throw new Error(`package-lock.json: ${folder} has no version or integrity; run npm install to complete the lockfile`);
    }
    found.set(folder, {
      folder,
      name: folder.slice(folder.lastIndexOf('node_modules/') + 'node_modules/'.length),
      version: entry.version,
      integrity: entry.integrity,
    });
    for (const name of Object.keys(entry.dependencies ?? {})) {
      const dependency = resolve(folder, name);
      if (!dependency) {
        throw new Error(`package-lock.json: ${folder} depends on ${name}, which the lockfile does not hold; run npm install`);
      }
      visit(dependency);
    }
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      const dependency = resolve(folder, name);
      if (dependency) {
        visit(dependency);
      }
    }
  };
  for (const root of roots) {
    const folder = resolve('', root);
    if (!folder) {
      throw new Error(`package-lock.json has no ${root}; add it to package.json dependencies`);
    }
    visit(folder);
  }
  // By code unit, not locale: the same order on every machine.
  return [...found.values()].sort((a, b) => (a.folder < b.folder ? -1 : a.folder > b.folder ? 1 : 0));
}

/**
 * Copies each locked package from `root`'s node_modules into `outputDir/nodejs/`, where Lambda's NODE_PATH
 * (`/opt/nodejs/node_modules`) finds it. Refuses an installed version other than the lockfile's, so a layer
 * never ships what the tests did not run.
 */
export function copyLockedPackages(root: string, packages: readonly LockedDependency[], outputDir: string): void {
  for (const dependency of packages) {
    const source = path.join(root, dependency.folder);
    const manifest = path.join(source, 'package.json');
    const installed = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version : undefined;
    if (installed !== dependency.version) {
      throw new Error(
        `${dependency.folder} is ${installed ?? 'not installed'}, package-lock.json says ${dependency.version}; run npm ci so the drivers layer ships the locked versions`,
      );
    }
    // Nested node_modules are packages of their own in the closure (or not needed at run time): copied on their own turn.
    cpSync(source, path.join(outputDir, 'nodejs', dependency.folder), {
      recursive: true,
      filter: (file) => path.relative(source, file).split(path.sep)[0] !== 'node_modules',
    });
  }
}

/**
 * One Lambda layer per stack with {@link DRIVER_PACKAGES} and their dependencies at the lockfile's versions,
 * shared by every function that connects to a database. Its asset hash is the locked versions and integrity
 * hashes, so it changes exactly when the lockfile's drivers do; with bundling off (tests, the local runtime)
 * nothing is copied.
 */
export class DriversLayer extends Construct {
  /** The stack's layer, created on first use. */
  public static of(scope: Construct): lambda.LayerVersion {
    const stack = Stack.of(scope);
    const existing = stack.node.tryFindChild('StrongboxDriversLayer') as DriversLayer | undefined;
    return (existing ?? new DriversLayer(stack, 'StrongboxDriversLayer')).layer;
  }

  public readonly layer: lambda.LayerVersion;

  private constructor(scope: Construct, id: string) {
    super(scope, id);
    const lockfile = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockedPackage>;
    };
    let packages: LockedDependency[];
    try {
      packages = lockedClosure(lockfile, DRIVER_PACKAGES);
    } catch (error) {
      throw new ValidationError((error as Error).message, this);
    }
    const hash = createHash('sha256');
    for (const dependency of packages) {
      hash.update(`${dependency.folder}@${dependency.version} ${dependency.integrity}\n`);
    }
    this.layer = new lambda.LayerVersion(this, 'Layer', {
      description: `Strongbox database drivers: ${DRIVER_PACKAGES.map((name) => `${name} ${packages.find((p) => p.folder === `node_modules/${name}`)?.version}`).join(', ')}`,
      compatibleRuntimes: [lambda.Runtime.NODEJS_24_X],
      compatibleArchitectures: [lambda.Architecture.ARM_64],
      removalPolicy: RemovalPolicy.DESTROY,
      code: lambda.Code.fromAsset(path.join(PROJECT_ROOT, 'engines'), {
        assetHash: hash.digest('hex'),
        assetHashType: AssetHashType.CUSTOM,
        bundling: {
          // Never used: the packages are plain JavaScript copied from node_modules, which always works locally.
          image: DockerImage.fromRegistry('public.ecr.aws/sam/build-nodejs24.x'),
          local: {
            tryBundle: (outputDir) => {
              copyLockedPackages(PROJECT_ROOT, packages, outputDir);
              return true;
            },
          },
        },
      }),
    });
  }
}
