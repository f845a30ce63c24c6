#!/usr/bin/env node
/**
 * Build every workspace package into `packages/<name>/dist/` for publishing:
 *   dist/index.js       one ESM file per package (esbuild; dependencies, @kiln/* included, stay imports)
 *   dist/index.js.map   source map with the TypeScript sources inlined (src/ is not shipped)
 *   dist/**\/*.d.ts      declarations (tsc, packages/<name>/tsconfig.build.json)
 *
 * The workspace itself runs from source (package.json `exports` point at src/index.ts; jest,
 * tsc and tsx never see dist/). `pnpm pack` swaps in `publishConfig.exports`, which points at
 * dist/, and rewrites `workspace:*` to the version. Node-only modules are reached at call time
 * through `process.getBuiltinModule` (see packages/core/src/platform.ts), so the same
 * dist/index.js serves Node and browser bundlers.
 *
 * Usage: node scripts/build-packages.mjs [name ...]     (default: all, in dependency order)
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// Dependency order: each package's declarations import those of the packages before it.
const ORDER = ['core', 'cpu', 'webgpu', 'nn', 'onnx', 'kiln'];
const wanted = process.argv.slice(2);
for (const w of wanted) if (!ORDER.includes(w)) throw new Error(`build-packages: unknown package '${w}' (one of ${ORDER.join(', ')})`);

/** Declarations keep extensionless relative specifiers from the sources ('./x', '..'); Node's ESM
 * resolution (moduleResolution node16/nodenext in a user's project) needs './x.js' or '../index.js'. */
function fixSpecifiers(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      fixSpecifiers(path);
      continue;
    }
    if (!path.endsWith('.d.ts')) continue;
    const text = readFileSync(path, 'utf8').replace(/((?:from|import)\s*\(?\s*)(['"])(\.{1,2}(?:\/[^'"]*?)?)\2/g, (m, head, q, spec) => {
      if (/\.(js|json)$/.test(spec)) return m;
      const base = resolve(dirname(path), spec);
      const target = existsSync(`${base}.d.ts`) && !/\.\.?$/.test(spec) ? `${spec}.js` : existsSync(join(base, 'index.d.ts')) ? `${spec.replace(/\/$/, '')}/index.js` : null;
      if (!target) throw new Error(`build-packages: ${path}: cannot resolve '${spec}'`);
      return `${head}${q}${target}${q}`;
    });
    writeFileSync(path, text);
  }
}

const tsc = join(root, 'node_modules/.bin/tsc');
for (const name of wanted.length ? ORDER.filter((n) => wanted.includes(n)) : ORDER) {
  const dir = join(root, 'packages', name);
  const started = Date.now();
  rmSync(join(dir, 'dist'), { recursive: true, force: true });
  await build({
    entryPoints: [join(dir, 'src/index.ts')],
    outfile: join(dir, 'dist/index.js'),
    bundle: true,
    packages: 'external',
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
  });
  execFileSync(tsc, ['-p', join(dir, 'tsconfig.build.json')], { stdio: 'inherit' });
  fixSpecifiers(join(dir, 'dist'));
  console.log(`built packages/${name}/dist in ${Date.now() - started} ms`);
}
