import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyLockedPackages, DRIVER_PACKAGES, lockedClosure } from '../../../infra/constructs/drivers-layer';

const pkg = (version: string, extra: Record<string, unknown> = {}) => ({ version, integrity: `sha512-${version}`, ...extra });

describe('lockedClosure', () => {
  it('follows dependencies the way Node resolves them, nested copies first, and leaves peers out', () => {
    // Prepare: pg depends on pg-types, whose nested copy wins over the top-level one; pg-native is only a peer.
    const lockfile = {
      packages: {
        'node_modules/pg': pkg('8.0.0', {
          dependencies: { 'pg-types': '^2' },
          optionalDependencies: { 'pg-cloudflare': '^1', absent: '^1' },
          peerDependencies: { 'pg-native': '*' },
        }),
        'node_modules/pg/node_modules/pg-types': pkg('2.2.0', { dependencies: { 'pg-int8': '1' } }),
        'node_modules/pg-types': pkg('4.0.0'),
        'node_modules/pg-int8': pkg('1.0.1'),
        'node_modules/pg-cloudflare': pkg('1.4.1'),
      },
    };

    // Act
    const closure = lockedClosure(lockfile, ['pg']);

    // Assess
    expect(closure.map((d) => `${d.folder}@${d.version}`)).toEqual([
      'node_modules/pg@8.0.0',
      'node_modules/pg-cloudflare@1.4.1',
      'node_modules/pg-int8@1.0.1',
      'node_modules/pg/node_modules/pg-types@2.2.0',
    ]);
    expect(closure.find((d) => d.folder.endsWith('pg-types'))?.name).toBe('pg-types');
  });

  it('names the missing package when the lockfile lacks a driver or a dependency', () => {
    // Prepare
    const broken = { packages: { 'node_modules/pg': pkg('8.0.0', { dependencies: { 'pg-types': '^2' } }) } };

    // Act
    const missingRoot = () => lockedClosure(broken, ['mysql2']);
    const missingDependency = () => lockedClosure(broken, ['pg']);

    // Assess
    expect(missingRoot).toThrow('package-lock.json has no mysql2; add it to package.json dependencies');
    expect(missingDependency).toThrow(
      'package-lock.json: node_modules/pg depends on pg-types, which the lockfile does not hold; run npm install',
    );
  });

  it("holds every driver of the project's lockfile", () => {
    // Prepare
    const lockfile = JSON.parse(readFileSync(path.join(__dirname, '../../../package-lock.json'), 'utf8'));

    // Act
    const folders = lockedClosure(lockfile, DRIVER_PACKAGES).map((d) => d.folder);

    // Assess
    expect(DRIVER_PACKAGES.filter((name) => !folders.includes(`node_modules/${name}`))).toEqual([]);
  });
});

describe('copyLockedPackages', () => {
  const dirs: string[] = [];
  const scratch = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'strongbox-layer-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const install = (root: string, folder: string, version: string) => {
    mkdirSync(path.join(root, folder, 'node_modules', 'other'), { recursive: true });
    writeFileSync(path.join(root, folder, 'package.json'), JSON.stringify({ version }));
    writeFileSync(path.join(root, folder, 'index.js'), 'module.exports = 1;');
  };

  it('copies each package under nodejs/, without the nested node_modules it does not list', () => {
    // Prepare
    const root = scratch();
    const out = scratch();
    install(root, 'node_modules/pg', '8.0.0');

    // Act
    copyLockedPackages(root, [{ folder: 'node_modules/pg', name: 'pg', version: '8.0.0', integrity: 'x' }], out);

    // Assess
    expect(readFileSync(path.join(out, 'nodejs/node_modules/pg/index.js'), 'utf8')).toBe('module.exports = 1;');
    expect(() => readFileSync(path.join(out, 'nodejs/node_modules/pg/node_modules/other'))).toThrow(/ENOENT/);
  });

  it('refuses an installed version other than the locked one', () => {
    // Prepare
    const root = scratch();
    install(root, 'node_modules/pg', '8.1.0');

    // Act
    const act = () => copyLockedPackages(root, [{ folder: 'node_modules/pg', name: 'pg', version: '8.0.0', integrity: 'x' }], scratch());

    // Assess
    expect(act).toThrow(
      'node_modules/pg is 8.1.0, package-lock.json says 8.0.0; run npm ci so the drivers layer ships the locked versions',
    );
  });
});
