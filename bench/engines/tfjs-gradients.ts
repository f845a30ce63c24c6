/**
 * Gradient registrations for tfjs-core, which training needs and no tfjs-core bundle contains.
 *
 * tfjs-core ships its gradient configs only as unbundled ES modules with extensionless imports
 * (`dist/register_all_gradients.js`, normally pulled in by the `@tensorflow/tfjs` union
 * package), which neither Node nor jest can load from a CommonJS package. So they are bundled
 * here at run time with esbuild (~0.5 s) and evaluated once. The bundle carries its own copy of
 * the tfjs-core modules it uses; that is safe because tfjs-core keeps its engine, kernel and
 * gradient registries on a global namespace and makes `instanceof Tensor` structural, precisely
 * so that several copies can share one engine.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Esbuild {
  buildSync(options: Record<string, unknown>): { outputFiles: Array<{ text: string }> };
}

const benchDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** esbuild from bench/ if it is a dependency there, else the one tsx runs on. */
function loadEsbuild(): Esbuild {
  const fromBench = createRequire(path.join(benchDir, 'package.json'));
  try {
    return fromBench('esbuild') as Esbuild;
  } catch {
    const fromRoot = createRequire(path.join(benchDir, '..', 'package.json'));
    return createRequire(fromRoot.resolve('tsx/package.json'))('esbuild') as Esbuild;
  }
}

let done = false;

/** Registers every tfjs-core gradient into the global gradient registry (once per process). */
export function registerTfjsGradients(): void {
  if (done) return;
  const req = createRequire(path.join(benchDir, 'package.json'));
  const entry = req.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const { outputFiles } = loadEsbuild().buildSync({
    entryPoints: [entry],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    write: false,
    logLevel: 'error',
  });
  const module = { exports: {} };
  const run = new Function('module', 'exports', 'require', '__filename', '__dirname', outputFiles[0]!.text);
  run(module, module.exports, createRequire(entry), entry, path.dirname(entry));
  done = true;
}
