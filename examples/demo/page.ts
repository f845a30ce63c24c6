/**
 * The demo page: loads the MNIST subset that `pnpm demo` ships, builds the MLP of
 * examples/mnist, and trains it with `fit` in the page, drawing a live chart and a grid of
 * test digits with the model's predictions after every epoch.
 *
 * Settings come from the URL (all optional), e.g. `?backend=cpu&epochs=3`:
 *   backend auto|webgpu|cpu (auto), epochs (5), batch (128), lr (0.001), seed (1),
 *   train / test (images used, up to what was shipped), steps (stop after this many training
 *   steps), logEvery (steps between chart points, 10), grid (digits shown, 48), autostart (0|1).
 *
 * After training, a link downloads fit's HTML report of the run (`htmlReport`).
 * The page reports its progress in `document.body.dataset.state` ('loading', 'ready',
 * 'training', 'done', 'error') for tests and scripts.
 */
import { type BackendName, type Callback, compile, data, fit, htmlReport, type Model, nn, predict } from 'kiln';
import uPlot from 'uplot';
import { mnistModel } from '../mnist/model';

interface Settings {
  backend: BackendName;
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  train: number;
  test: number;
  steps: number;
  logEvery: number;
  grid: number;
  autostart: boolean;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function settings(search: string): Settings {
  const q = new URLSearchParams(search);
  const num = (name: string, fallback: number, integer = true, min = 1): number => {
    const raw = q.get(name);
    if (raw === null) return fallback;
    const v = Number(raw);
    if (!(v >= min) || (integer && !Number.isInteger(v))) throw new Error(`URL setting ${name}=${raw}: expected ${integer ? 'an integer' : 'a number'} >= ${min}`);
    return v;
  };
  const backend = (q.get('backend') ?? 'auto') as BackendName;
  if (!['auto', 'webgpu', 'cpu'].includes(backend)) throw new Error(`URL setting backend=${backend}: expected auto, webgpu or cpu`);
  return {
    backend,
    epochs: num('epochs', 5),
    batch: num('batch', 128),
    lr: num('lr', 1e-3, false, 1e-9),
    seed: num('seed', 1, true, 0),
    train: num('train', Infinity),
    test: num('test', Infinity),
    steps: num('steps', Infinity),
    logEvery: num('logEvery', 10),
    grid: num('grid', 48),
    autostart: q.get('autostart') === '1',
  };
}

/** One IDX file of the build's `mnist/` folder; gunzipped here unless the server already did. */
async function fetchIdx(file: string, sample: number[]): Promise<data.IdxTensor> {
  const res = await fetch(new URL(`mnist/${file}.gz`, document.baseURI));
  if (!res.ok) throw new Error(`mnist/${file}.gz: HTTP ${res.status}`);
  let bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  return data.parseIdx(bytes, file, { dtype: 'u8', shape: [null, ...sample] });
}

/** The first `limit` images of a split as a Dataset: pixels scaled to [0, 1], labels i32. */
async function loadSplit(split: data.MnistSplitName, limit: number): Promise<data.Dataset<Int32Array>> {
  const files = data.MNIST_FILES[split];
  const [images, labels] = await Promise.all([fetchIdx(files.images, [28, 28]), fetchIdx(files.labels, [])]);
  const count = Math.min(limit, labels.shape[0]!);
  return data.createDataset({
    x: Float32Array.from(images.data.subarray(0, count * 784), (v) => v / 255),
    y: Int32Array.from(labels.data.subarray(0, count)),
    xShape: [784],
  });
}

/** Loss (left axis) and accuracy (right axis, 0..1) against images seen; test accuracy per epoch. */
class Chart {
  readonly plot: uPlot;
  private readonly columns: (number | null)[][] = [[], [], [], []];

  constructor(el: HTMLElement) {
    this.plot = new uPlot({
      width: el.clientWidth || 900,
      height: 300,
      scales: { x: { time: false }, acc: { range: [0, 1] } },
      axes: [
        { label: 'images seen' },
        { label: 'loss', scale: 'loss' },
        { label: 'accuracy', scale: 'acc', side: 1, grid: { show: false } },
      ],
      series: [
        { label: 'images' },
        { label: 'train loss', scale: 'loss', stroke: '#e8590c', width: 2 },
        { label: 'train accuracy', scale: 'acc', stroke: '#1c7ed6', width: 2 },
        { label: 'test accuracy', scale: 'acc', stroke: '#2f9e44', width: 2, spanGaps: true, points: { show: true, size: 9, fill: '#2f9e44' } },
      ],
    }, [[], [], [], []], el);
  }

  /** A point of the train curves, or (at an epoch's end) of the test accuracy. */
  push(seen: number, values: { loss?: number; accuracy?: number; testAccuracy?: number }): void {
    const row = [seen, values.loss ?? null, values.accuracy ?? null, values.testAccuracy ?? null];
    const [xs] = this.columns;
    // NOTE: one row per x: uPlot finds the visible rows by binary search on x, so a repeated
    // last x (the test accuracy after the epoch's last train point) would never be drawn.
    if (xs!.at(-1) === seen) row.forEach((v, i) => { if (v !== null) this.columns[i]![xs!.length - 1] = v; });
    else row.forEach((v, i) => this.columns[i]!.push(v));
    this.plot.setData(this.columns as uPlot.AlignedData);
  }
}

/** Test digits drawn from their pixels, each captioned with its label and the prediction. */
class DigitGrid {
  private readonly cells: HTMLElement[] = [];

  constructor(el: HTMLElement, readonly digits: data.Dataset<Int32Array>) {
    for (let i = 0; i < digits.count; i++) {
      const cell = document.createElement('figure');
      cell.className = 'digit';
      cell.dataset.label = String(digits.y[i]);
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 28;
      const image = new ImageData(28, 28);
      for (let p = 0; p < 784; p++) {
        const ink = 255 - Math.round(digits.x[i * 784 + p]! * 255);
        image.data.set([ink, ink, ink, 255], p * 4);
      }
      canvas.getContext('2d')!.putImageData(image, 0, 0);
      const caption = document.createElement('figcaption');
      caption.textContent = `${digits.y[i]} → ?`;
      cell.append(canvas, caption);
      el.append(cell);
      this.cells.push(cell);
    }
  }

  /** Predict every digit with `model` (evaluation mode) and caption the cells. */
  async update(model: Model): Promise<void> {
    const { data: logits } = await predict(model, this.digits.x, { batchSize: this.digits.count });
    const predicted = nn.argMaxRows(logits, 10);
    this.cells.forEach((cell, i) => {
      const label = this.digits.y[i]!;
      cell.dataset.prediction = String(predicted[i]);
      cell.className = `digit ${predicted[i] === label ? 'right' : 'wrong'}`;
      cell.querySelector('figcaption')!.textContent = `${label} → ${predicted[i]}`;
    });
  }
}

const nextFrame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));

/**
 * Chart points and figures while `fit` runs. fit reports running means over the epoch so
 * far (as Keras does); the chart shows the mean over the steps since the previous point,
 * recovered from two running means and their sample counts.
 */
function liveView(s: Settings, model: Model, chart: Chart, grid: DigitGrid, stopRequested: () => boolean): Callback & { steps: number } {
  let seen = 0, steps = 0, inEpoch = 0;
  let last = { count: 0, loss: 0, accuracy: 0, seen: 0, time: performance.now() };
  return {
    get steps() { return steps; },
    onEpochBegin(epoch, ctx) {
      inEpoch = 0;
      last = { ...last, count: 0, loss: 0, accuracy: 0 };
      $('epoch').textContent = `${epoch + 1} / ${ctx.epochs}`;
    },
    async onBatchEnd(_batch, logs, ctx) {
      steps++;
      seen += logs.size;
      inEpoch += logs.size;
      if (logs.loss !== undefined && logs['accuracy'] !== undefined) {
        const since = (mean: number, previous: number) => (mean * inEpoch - previous * last.count) / (inEpoch - last.count);
        const now = performance.now();
        chart.push(seen, { loss: since(logs.loss, last.loss), accuracy: since(logs['accuracy'], last.accuracy) });
        $('speed').textContent = Math.round((seen - last.seen) / ((now - last.time) / 1000)).toLocaleString('en');
        $('step').textContent = steps.toLocaleString('en');
        last = { count: inEpoch, loss: logs.loss, accuracy: logs['accuracy'], seen, time: now };
        await nextFrame();
      }
      if (steps >= s.steps || stopRequested()) {
        ctx.stopTraining = true;
        ctx.stopReason = stopRequested() ? 'stopped' : 'step limit reached';
      }
    },
    async onEpochEnd(_epoch, logs) {
      const testAccuracy = logs['val_accuracy']!;
      chart.push(seen, { testAccuracy });
      $('test-accuracy').textContent = `${(testAccuracy * 100).toFixed(2)}%`;
      await grid.update(model);
    },
  };
}

async function main(): Promise<void> {
  const body = document.body;
  const status = $('status');
  const say = (text: string) => { status.textContent = text; };
  body.dataset.state = 'loading';
  const s = settings(location.search);
  const [train, test] = await Promise.all([loadSplit('train', s.train), loadSplit('test', s.test)]);
  const grid = new DigitGrid($('grid'), data.subset(test, Uint32Array.from({ length: Math.min(s.grid, test.count) }, (_, i) => i)));
  const chart = new Chart($('chart'));
  say(`compiling the MLP for ${s.backend === 'auto' ? 'the best backend' : s.backend}…`);
  const model = await mnistModel('mlp', { lr: s.lr, seed: s.seed, compile: (g) => compile(g, { backend: s.backend }) });
  const exe = model.exe;
  // 'auto' says in the description when it measured a software adapter against the CPU.
  $('backend').textContent = `${exe.description}${'gpu' in navigator ? '' : ' (this browser has no WebGPU)'}`;
  await grid.update(model);
  say(`${train.count.toLocaleString('en')} training and ${test.count.toLocaleString('en')} test images loaded; untrained predictions shown`);
  body.dataset.state = 'ready';

  let stop = false;
  const start = $<HTMLButtonElement>('start'), stopButton = $<HTMLButtonElement>('stop');
  const run = async () => {
    start.disabled = true;
    stopButton.disabled = false;
    stop = false;
    body.dataset.state = 'training';
    say('training…');
    const live = liveView(s, model, chart, grid, () => stop);
    const report = htmlReport({ title: `Kiln MNIST MLP in the browser (${exe.backend})` });
    const history = await fit(model, train, {
      epochs: s.epochs, batchSize: s.batch, seed: s.seed, logEvery: s.logEvery,
      validation: test, validationBatchSize: Math.min(500, test.count), verbose: false, callbacks: [live, report],
    });
    const link = $<HTMLAnchorElement>('report');
    URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([report.html()], { type: 'text/html' }));
    link.hidden = false;
    const lastEpoch = history.epochs.at(-1);
    const accuracy = lastEpoch ? `; test accuracy ${(lastEpoch['val_accuracy']! * 100).toFixed(2)}%` : '';
    say(`${history.stopReason ?? `${s.epochs} epochs done`} (${live.steps} steps)${accuracy}`);
    stopButton.disabled = true;
    body.dataset.state = 'done';
  };
  start.disabled = false;
  start.addEventListener('click', () => void run().catch(fail));
  stopButton.addEventListener('click', () => { stop = true; });
  if (s.autostart) await run();
}

function fail(e: unknown): void {
  const status = $('status');
  status.textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  status.className = 'error';
  document.body.dataset.state = 'error';
  console.error(e);
}

main().catch(fail);
