/**
 * `import { Graph, compile, nn, optim } from 'kiln'` bundled for a page with esbuild (platform
 * 'browser'): nothing unresolved, no `node:` import left in the output, and the bundle runs in a
 * context with a page's globals only (no process, no require) — `compile(g, { backend: 'auto' })`
 * finds no navigator.gpu (or no adapter), falls back to the CPU backend, says why without
 * pointing at a Node setup script, and trains to the same losses as Node.
 */
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { close, compile, Graph, nn, optim } from 'kiln';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

// The same program in the page and in Node: 3 Adam steps of a small classifier, seeded.
function program(api: { Graph: typeof Graph; nn: typeof nn; optim: typeof optim }) {
  const g = new api.Graph({ seed: 3 });
  const x = g.input('x', ['batch', 4]);
  const y = g.input('y', ['batch'], 'i32');
  const loss = api.nn.dense(api.nn.dense(x, 8, { activation: 'relu' }), 3).softmaxCrossEntropy(y).mean();
  g.minimize(loss, api.optim.adam({ lr: 0.05 }));
  const xs = new Float32Array(24).map((_, i) => Math.sin(i * 1.7));
  const ys = new Int32Array([0, 1, 2, 1, 0, 2]);
  return { g, loss, xs, ys };
}

const PAGE_ENTRY = `
import { Graph, compile, nn, optim, data } from 'kiln';
globalThis.loadFiles = () => data.loadMnist({ dir: '/data/mnist' }).then(() => 'loaded', (e) => \`\${e.name}: \${e.message}\`);
const program = ${program.toString()};
globalThis.train = async () => {
  const { g, loss, xs, ys } = program({ Graph, nn, optim });
  const exe = await compile(g, { backend: 'auto' });
  const losses = [];
  for (let i = 0; i < 3; i++) losses.push((await exe.run({ x: xs, y: ys }, { loss }, { train: true })).loss.data[0]);
  const backend = exe.backend;
  await exe.dispose();
  return { backend, losses };
};
`;

async function bundle(format: 'esm' | 'iife') {
  return build({
    stdin: { contents: PAGE_ENTRY, resolveDir: root, loader: 'js' },
    bundle: true,
    platform: 'browser',
    format,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
}

/** Run the iife bundle with a page's globals; `navigator` is what the page offers. */
async function runInPage(code: string, navigator: object): Promise<{ result: { backend: string; losses: number[] }; warnings: string[] }> {
  const warnings: string[] = [];
  const context = vm.createContext({
    console: { ...console, warn: (...a: unknown[]) => warnings.push(a.join(' ')), log: () => {} },
    navigator,
    setTimeout, clearTimeout, queueMicrotask, TextEncoder, TextDecoder, performance, URL,
  });
  vm.runInContext(code, context);
  const result = await (context.train as () => Promise<{ backend: string; losses: number[] }>)();
  return { result: { backend: result.backend, losses: [...result.losses] }, warnings };
}

describe('kiln in a browser bundle', () => {
  afterAll(() => close());

  test('esbuild (platform browser) resolves everything and leaves no node: import', async () => {
    const out = await bundle('esm');
    expect(out.errors).toEqual([]);
    const text = out.outputFiles[0]!.text;
    const imports = Object.values(out.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imports.filter((p) => p.startsWith('node:'))).toEqual([]);
    expect(text).not.toMatch(/(from|import\(|require\()\s*["']node:/);
    // Dawn's Node package is imported only by a computed name, which a bundler leaves alone.
    expect(Object.keys(out.metafile.inputs).some((p) => p.includes('/webgpu@'))).toBe(false);
  });

  test("compile(g, { backend: 'auto' }) in a page falls back to the CPU backend and matches Node", async () => {
    const code = (await bundle('iife')).outputFiles[0]!.text;
    const { g, loss, xs, ys } = program({ Graph, nn, optim });
    const exe = await compile(g, { backend: 'cpu' });
    const node: number[] = [];
    for (let i = 0; i < 3; i++) node.push((await exe.run({ x: xs, y: ys }, { loss }, { train: true })).loss.data[0]!);
    await exe.dispose();
    expect(node[2]!).toBeLessThan(node[0]!);

    // No WebGPU in this browser.
    const noGpu = await runInPage(code, { hardwareConcurrency: 2 });
    expect(noGpu.result.backend).toBe('cpu');
    expect(noGpu.result.losses).toEqual(node);
    expect(noGpu.warnings.join('\n')).toMatch(/navigator\.gpu is missing/);

    // WebGPU present but no adapter: the hint is about the browser, not a Node setup script.
    const noAdapter = await runInPage(code, { hardwareConcurrency: 2, gpu: { requestAdapter: async () => null } });
    expect(noAdapter.result.backend).toBe('cpu');
    expect(noAdapter.result.losses).toEqual(node);
    const hint = noAdapter.warnings.join('\n');
    expect(hint).toMatch(/no adapter/);
    expect(hint).not.toMatch(/install-vulkan|lavapipe/);
  });

  test('a file loader in a page is a typed error naming the loader, not a crash at import', async () => {
    const code = (await bundle('iife')).outputFiles[0]!.text;
    const context = vm.createContext({ console, navigator: {}, setTimeout, clearTimeout, queueMicrotask, TextEncoder, TextDecoder, performance, URL });
    vm.runInContext(code, context);
    const message = await (context.loadFiles as () => Promise<string>)();
    expect(message).toBe("UnsupportedError: loadMnist needs Node's 'node:fs/promises', which a browser does not have");
  });
});
