/**
 * The demo page (`pnpm demo`, examples/demo): a Vite production build of a page that imports
 * `kiln` and uPlot, then the page itself in Debian's chromium, headless, training the MNIST MLP
 * for a few steps on SwiftShader's WebGPU adapter.
 *
 * Build: `examples/demo/main.ts --build-only` (what `pnpm demo` runs before serving), with a
 * small data subset; the output must hold no `node:` import. Page: served from the build folder
 * through a route (http://localhost is a secure context, which WebGPU needs), opened with
 * settings in its URL; the test waits for it to finish, takes a screenshot, and checks that the
 * chart's series and the grid's digits were drawn (pixels of each series' colour, ink in each
 * digit, a prediction on each), and that the page's report link holds fit's HTML report.
 * KILN_DEMO_SCREENSHOT=path keeps the screenshot.
 *
 * Runs under `pnpm test:browser`; skipped only when /usr/bin/chromium is missing outside CI
 * (KILN_REQUIRE_BROWSER=1 makes that a failure).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
if (!present && process.env.KILN_REQUIRE_BROWSER === '1') throw new Error(`KILN_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing (apt-get install chromium)`);

const GRID = 12;
const STEPS = 6;
// Tiny on purpose: SwiftShader runs WebGPU on the CPU, and every batch size is one more compiled variant.
const PAGE = `index.html?backend=webgpu&train=256&test=64&batch=32&epochs=1&steps=${STEPS}&logEvery=2&lr=0.003&grid=${GRID}&autostart=1`;
// The chart's series colours (examples/demo/page.ts): train loss, train accuracy, test accuracy.
const SERIES = { 'train loss': [0xe8, 0x59, 0x0c], 'train accuracy': [0x1c, 0x7e, 0xd6], 'test accuracy': [0x2f, 0x9e, 0x44] };
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.gz': 'application/gzip' };

describe('the demo page', () => {
  let out: string;
  let browser: Browser | undefined;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'kiln-demo-'));
    await promisify(execFile)(join(root, 'node_modules/.bin/tsx'), ['examples/demo/main.ts', '--build-only', '--out', out, '--train', '256', '--test', '64'], {
      cwd: root, env: { ...process.env, NO_COLOR: '1' },
    });
  });
  afterAll(async () => {
    await browser?.close();
    await rm(out, { recursive: true, force: true });
  });

  test('Vite builds it: one script, no node: import, the data subset as gzipped IDX files', async () => {
    const html = await readFile(join(out, 'index.html'), 'utf8');
    expect(html).toMatch(/<script type="module" crossorigin src="\.\/assets\/index-[\w-]+\.js">/);
    const scripts = (await readdir(join(out, 'assets'))).filter((f) => f.endsWith('.js'));
    expect(scripts).toHaveLength(1);
    const code = await readFile(join(out, 'assets', scripts[0]!), 'utf8');
    // An ES import of a Node built-in would break the page, and so would Vite's stub for one;
    // nodeBuiltin('node:fs/promises', ...) names and the Node worker's source text are strings.
    expect(code).not.toMatch(/(\bfrom\s*|\bimport\s*\(?\s*)["'`]node:/);
    expect(code).not.toContain('__vite-browser-external');
    expect(code).toContain('u-legend'); // uPlot is bundled, not fetched
    const mnist = (await readdir(join(out, 'mnist'))).sort();
    expect(mnist).toEqual(['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', 'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']);
    expect((await stat(join(out, 'mnist/train-images-idx3-ubyte.gz'))).size).toBeLessThan(256 * 784);
  });

  (present ? test : test.skip)('in chromium it trains on webgpu and draws the chart and the digit grid', async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await browser.newPage({ viewport: { width: 1000, height: 1200 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.route('http://localhost/**', async (r) => {
      const path = normalize(decodeURIComponent(new URL(r.request().url()).pathname)).replace(/^\/+/, '');
      const file = join(out, path);
      if (!file.startsWith(out) || !existsSync(file)) return r.fulfill({ status: 404, body: 'not found' });
      return r.fulfill({ contentType: TYPES[extname(file)] ?? 'application/octet-stream', body: await readFile(file) });
    });
    await page.goto(`http://localhost/${PAGE}`);
    await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 120_000 });
    // KILN_DEMO_SCREENSHOT=path keeps the screenshot; otherwise it goes with the build folder.
    const screenshot = process.env.KILN_DEMO_SCREENSHOT ?? join(out, 'demo.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(await page.textContent('#status')).not.toMatch(/Error/);
    expect(errors).toEqual([]);

    const drawn = await page.evaluate(async ({ series }) => {
      const chart = document.querySelector<HTMLCanvasElement>('#chart .uplot canvas')!;
      const px = chart.getContext('2d')!.getImageData(0, 0, chart.width, chart.height).data;
      const near = ([r, g, b]: number[]) => {
        let n = 0;
        for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i]! - r!) + Math.abs(px[i + 1]! - g!) + Math.abs(px[i + 2]! - b!) < 40) n++;
        return n;
      };
      const cells = [...document.querySelectorAll<HTMLElement>('#grid .digit')].map((cell) => {
        const canvas = cell.querySelector('canvas')!;
        const ink = canvas.getContext('2d')!.getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 === 0 && v < 128).length;
        return { label: cell.dataset.label, prediction: cell.dataset.prediction, caption: cell.textContent, ink };
      });
      return {
        legend: [...document.querySelectorAll('#chart .u-legend .u-series .u-label')].map((e) => e.textContent),
        pixels: Object.fromEntries(Object.entries(series).map(([k, rgb]) => [k, near(rgb)])),
        cells,
        backend: document.getElementById('backend')!.textContent,
        speed: Number(document.getElementById('speed')!.textContent!.replace(/,/g, '')),
        step: document.getElementById('step')!.textContent,
        accuracy: document.getElementById('test-accuracy')!.textContent,
        report: await (await fetch(document.querySelector<HTMLAnchorElement>('#report:not([hidden])')!.href)).text(),
      };
    }, { series: SERIES });

    expect(drawn.backend).toMatch(/^webgpu: /);
    expect(drawn.step).toBe(String(STEPS));
    expect(drawn.speed).toBeGreaterThan(0);
    expect(drawn.accuracy).toMatch(/^\d+\.\d\d%$/);
    expect(drawn.legend).toEqual(['images', ...Object.keys(SERIES)]);
    // Each series left a line (train curves: STEPS / logEvery points) or a point (test accuracy).
    for (const [name, count] of Object.entries(drawn.pixels)) expect([name, count > 20]).toEqual([name, true]);
    expect(drawn.cells).toHaveLength(GRID);
    for (const c of drawn.cells) {
      expect(c.label).toMatch(/^\d$/);
      expect(c.prediction).toMatch(/^\d$/);
      expect(c.caption).toBe(`${c.label} → ${c.prediction}`);
      expect(c.ink).toBeGreaterThan(20);
    }
    // fit's HTML report of the run, made in the page, behind the download link.
    expect(drawn.report).toContain('<h1>Kiln MNIST MLP in the browser (webgpu)</h1>');
    expect(drawn.report).toMatch(/<dt>epochs<\/dt><dd>1 of 1 <span class="stopped">\(stopped: step limit reached\)/);
    // A few Adam steps already beat chance on the grid's digits.
    expect(drawn.cells.filter((c) => c.label === c.prediction).length).toBeGreaterThan(GRID / 10);
    const png = await readFile(screenshot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });
});
