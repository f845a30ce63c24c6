// Bundles the bench harness for the GPU check kit (build.sh calls it): bench.mjs (the kit's
// entry, main.ts) and engine-worker.mjs (the child process each engine runs in). TF.js is not
// in the kit: its engine module is replaced by one that reports it unavailable.
// Usage: node bench/gpu-kit/bundle.mjs <out-dir>
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = process.argv[2];
if (!out) throw new Error('usage: node bench/gpu-kit/bundle.mjs <out-dir>');

const noTfjs = {
  name: 'no-tfjs',
  setup(b) {
    b.onResolve({ filter: /\/engines\/tfjs(-gradients)?$/ }, (args) => ({ path: args.path, namespace: 'no-tfjs' }));
    b.onLoad({ filter: /.*/, namespace: 'no-tfjs' }, () => ({
      contents: `export const TFJS_BACKENDS = [];
        export class TfjsEngine { constructor() { throw new Error('TF.js is not in the GPU kit'); } }`,
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: { bench: path.join(root, 'bench/gpu-kit/main.ts'), 'engine-worker': path.join(root, 'bench/engine-worker.ts') },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  // Real ES module chunks: without splitting, esbuild turns the harness's dynamic import of
  // the Kiln engine into lazily initialised wrappers, whose order breaks Kiln's import cycle
  // (Tensor's methods come from the op table); chunks keep Node's ESM evaluation order.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Dawn (`webgpu`, a native module) and gpu.js are loaded at run time from the kit's node_modules.
  external: ['webgpu', 'gpu.js'],
  // CommonJS dependencies call require(); an ES module bundle has none of its own.
  banner: { js: "import { createRequire as __kitRequire } from 'node:module'; const require = __kitRequire(import.meta.url);" },
  plugins: [noTfjs],
  logLevel: 'warning',
  legalComments: 'none',
});
