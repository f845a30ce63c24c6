/**
 * Kiln in a real page: Debian's chromium, headless, driven by playwright-core. The page gets the
 * esbuild browser bundle of `kiln` and runs, on webgpu (SwiftShader's adapter from
 * --enable-unsafe-webgpu) and on cpu: two op rows (matmul+relu, softmax over an axis), a
 * gradient, and 3 Adam steps; each must match the same graph run in Node within f32 tolerance.
 *
 * Runs under `pnpm test:browser` (not `pnpm test`: it needs chromium); skipped only when /usr/bin/chromium is
 * missing outside CI (KILN_REQUIRE_BROWSER=1, set by .ci/run under CI, makes that a failure).
 */
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { close, compile, Graph, nn, optim } from 'kiln';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
if (!present && process.env.KILN_REQUIRE_BROWSER === '1') throw new Error(`KILN_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing (apt-get install chromium)`);
const maybe = present ? describe : describe.skip;

type Api = { Graph: typeof Graph; nn: typeof nn; optim: typeof optim };
type Result = { backend: string; values: Record<string, number[]> };

// One program, run in the page and in Node: op rows, a gradient, then 3 Adam steps.
async function program(api: Api & { compile: typeof compile }, backend: string): Promise<Result> {
  const seq = (n: number, k: number) => new Float32Array(n).map((_, i) => Math.sin(i * k));
  const g = new api.Graph({ seed: 5 });
  const a = g.input('a', [3, 4]);
  const b = g.input('b', [4, 5]);
  const mm = a.matmul(b).relu();
  const sm = b.softmax({ axis: 1 });
  const [da] = g.grad(a.matmul(b).tanh().sum(), [a]);
  const y = g.input('y', [3], 'i32');
  const loss = api.nn.dense(api.nn.dense(a, 6, { activation: 'relu' }), 3).softmaxCrossEntropy(y).mean();
  g.minimize(loss, api.optim.adam({ lr: 0.05 }));
  const exe = await api.compile(g, { backend: backend as 'cpu' });
  const feeds = { a: seq(12, 0.7), b: seq(20, 1.3), y: new Int32Array([0, 2, 1]) };
  const out = await exe.run(feeds, { mm, sm, da: da! });
  const values: Record<string, number[]> = { mm: [...out.mm.data], sm: [...out.sm.data], da: [...out.da.data], loss: [] };
  for (let i = 0; i < 3; i++) values.loss!.push((await exe.run(feeds, { loss }, { train: true })).loss.data[0]!);
  const ran = exe.backend;
  await exe.dispose();
  return { backend: ran, values };
}

maybe('kiln in chromium (webgpu and cpu) matches Node', () => {
  let browser: Browser;
  let bundle: string;
  beforeAll(async () => {
    const out = await build({
      stdin: { contents: `import { Graph, compile, nn, optim } from 'kiln';\nconst program = ${program.toString()};\nglobalThis.run = (backend) => program({ Graph, compile, nn, optim }, backend);`, resolveDir: root, loader: 'js' },
      bundle: true, platform: 'browser', format: 'iife', write: false, logLevel: 'silent',
    });
    bundle = out.outputFiles[0]!.text;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await close();
  });

  async function inPage(backend: string): Promise<Result> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // http://localhost is a secure context (WebGPU needs one); the route answers without a server.
    await page.route('http://localhost/**', (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>kiln</title>' }));
    await page.goto('http://localhost/');
    await page.addScriptTag({ content: bundle });
    const r = await page.evaluate((b) => (globalThis as unknown as { run(b: string): Promise<Result> }).run(b), backend);
    await page.close();
    expect(errors).toEqual([]);
    return r;
  }

  const close32 = (got: number[], want: number[]) => {
    expect(got.length).toBe(want.length);
    got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(want[i]!)));
  };

  test.each(['webgpu', 'cpu'])('%s in the page', async (backend) => {
    const node = await program({ Graph, compile, nn, optim }, 'cpu');
    const page = await inPage(backend);
    expect(page.backend).toBe(backend);
    for (const key of ['mm', 'sm', 'da', 'loss']) close32(page.values[key]!, node.values[key]!);
    expect(page.values.loss![2]!).toBeLessThan(page.values.loss![0]!);
  });
});
