// No import cycles in any package: a module graph that loads in one order, with no module
// seeing another half-initialised. Checked with dpdm (its CLI; jest's ESM loader cannot load
// its library) over each package's entry point. Type-only imports are erased at compile
// time (verbatimModuleSyntax) and left out (`-T`): Tensor and Graph name each other's types,
// which is no load-order hazard.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const dpdm = join(require.resolve('dpdm/package.json'), '..', 'lib', 'bin', 'dpdm.js');

const ENTRIES = ['core', 'webgpu', 'cpu', 'nn', 'onnx', 'kiln'].map((p) => `packages/${p}/src/index.ts`);

test('no package has an import cycle', () => {
  const out = execFileSync(process.execPath, [dpdm, '-T', '--no-tree', '--no-warning', '--circular', '--skip-dynamic-imports', 'circular', ...ENTRIES], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  expect(out).toMatch(/Circular Dependencies/); // the check ran
  expect(out).toMatch(/no circular dependency was found/);
});
