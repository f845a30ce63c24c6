/**
 * Kiln engines for the bench harness: one per backend (`webgpu`, `cpu`). Each case builds a
 * graph, compiles it once (not timed), keeps inputs as host arrays that run() uploads, and
 * fetches one scalar so the promise settles only after the device finished.
 *
 * Layout is NCHW (Kiln's native layout). Models are built with Kiln's own layers and Adam,
 * the same specs as the TF.js engines (types.ts).
 */
import { close, compile, type Executable, Graph, optim, type Tensor, nn } from 'kiln';
import {
  ADAM, CNN_SPEC, type Case, type Conv2dParams, type Engine, LSTM_SPEC, MLP_SPEC, TRANSFORMER_SPEC, conv2dFlops, conv2dOutSize, lstmTrainFlops, matmulFlops,
  randomData, randomLabels, transformerTrainFlops,
} from './types';

type KilnBackend = 'webgpu' | 'cpu';

/** A case around one compiled graph: run() feeds `feeds`, fetches `probe` (a scalar). */
async function graphCase(backend: KilnBackend, g: Graph, feeds: Record<string, Float32Array | Int32Array>, probe: Tensor, train: boolean, extra: { flops?: number; bytes?: number } = {}): Promise<Case> {
  const exe: Executable = await compile(g, { backend, quiet: true });
  const fetch = { probe };
  return {
    ...extra,
    run: async () => { await exe.run(feeds, fetch, { train }); },
    memory: () => exe.memoryReport(),
    dispose: () => { void exe.dispose(); },
  };
}

/** A one-element probe of a larger result, so run() reads back 4 bytes. */
const first = (t: Tensor): Tensor => t.reshape([-1]).slice({ begin: [0], size: [1] });

function mlp(g: Graph, x: Tensor): Tensor {
  const h = nn.dense(x, MLP_SPEC.hidden, { activation: 'relu', name: 'fc1' });
  return nn.dense(h, MLP_SPEC.classes, { name: 'fc2' });
}

function cnn(g: Graph, x: Tensor): Tensor {
  let h = nn.conv2d(x, CNN_SPEC.conv1, { kernel: CNN_SPEC.kernel, padding: 1, activation: 'relu', name: 'conv1' });
  h = nn.maxPool2d(h, { kernel: 2 });
  h = nn.conv2d(h, CNN_SPEC.conv2, { kernel: CNN_SPEC.kernel, padding: 1, activation: 'relu', name: 'conv2' });
  h = nn.maxPool2d(h, { kernel: 2 });
  h = nn.dense(nn.flatten(h), CNN_SPEC.dense, { activation: 'relu', name: 'fc1' });
  return nn.dense(h, CNN_SPEC.classes, { name: 'fc2' });
}

const adam = () => optim.adam({ lr: ADAM.lr, beta1: ADAM.beta1, beta2: ADAM.beta2, epsilon: ADAM.epsilon });

function model(kind: 'mlp' | 'cnn', batch: number, train: boolean) {
  const g = new Graph({ seed: 1 });
  const shape = kind === 'mlp' ? [batch, MLP_SPEC.input] : [batch, CNN_SPEC.channels, CNN_SPEC.height, CNN_SPEC.width];
  const x = g.input('x', shape);
  const logits = kind === 'mlp' ? mlp(g, x) : cnn(g, x);
  const feeds: Record<string, Float32Array | Int32Array> = { x: randomData(shape.reduce((a, b) => a * b, 1), 3) };
  if (!train) return { g, feeds, probe: first(logits) };
  const y = g.input('y', [batch], 'i32');
  feeds.y = randomLabels(batch, kind === 'mlp' ? MLP_SPEC.classes : CNN_SPEC.classes);
  const loss = logits.softmaxCrossEntropy(y).mean();
  g.minimize(loss, adam());
  return { g, feeds, probe: loss };
}

/** LSTM_SPEC with nn.lstm (unrolled over the time steps) and a dense head. */
function lstmModel(batch: number) {
  const { time, features, hidden, classes } = LSTM_SPEC;
  const g = new Graph({ seed: 1 });
  const x = g.input('x', [batch, time, features]);
  const y = g.input('y', [batch], 'i32');
  const last = nn.lstm(x, hidden, { returnSequences: false, kernelInit: 'glorotUniform', recurrentInit: 'glorotUniform', biasInit: 'zeros', name: 'lstm' });
  const loss = nn.dense(last, classes, { name: 'fc' }).softmaxCrossEntropy(y).mean();
  g.minimize(loss, adam());
  return { g, feeds: { x: randomData(batch * time * features, 3), y: randomLabels(batch, classes) }, probe: loss };
}

/** TRANSFORMER_SPEC with nn.transformerEncoderLayer (pre-norm, no dropout). */
function transformerModel(batch: number) {
  const { seq, dModel, heads, ff } = TRANSFORMER_SPEC;
  const g = new Graph({ seed: 1 });
  const x = g.input('x', [batch, seq, dModel]);
  const target = g.input('target', [batch, seq, dModel]);
  const block = nn.transformerEncoderLayer({ numHeads: heads, dimFeedforward: ff, dropout: 0, normFirst: true, name: 'block' });
  const loss = block(x).sub(target).square().mean();
  g.minimize(loss, adam());
  const n = batch * seq * dModel;
  return { g, feeds: { x: randomData(n, 3), target: randomData(n, 4) }, probe: loss };
}

export function createKilnEngine(backend: KilnBackend): Engine {
  let description = '';
  return {
    name: 'kiln',
    backend,
    async available() {
      try {
        const g = new Graph();
        const exe = await compile(g, { backend, quiet: true });
        description = exe.description;
        await exe.dispose();
        return true;
      } catch (e) {
        return (e as Error).message;
      }
    },
    async info() {
      return { layout: 'NCHW', device: description };
    },
    async matmul(m, k, n) {
      const g = new Graph();
      const a = g.input('a', [m, k]);
      const b = g.input('b', [k, n]);
      return graphCase(backend, g, { a: randomData(m * k, 1), b: randomData(k * n, 2) }, first(a.matmul(b)), false, { flops: matmulFlops(m, k, n), bytes: 4 * (m * k + k * n + m * n) });
    },
    async elementwiseChain(n) {
      const g = new Graph();
      const x = g.input('x', [n]);
      const y = x.mul(2).add(1).relu().mul(-0.5).exp();
      return graphCase(backend, g, { x: randomData(n, 1) }, first(y), false, { bytes: 8 * n });
    },
    async reduceSum(rows, cols) {
      const g = new Graph();
      const x = g.input('x', [rows, cols]);
      return graphCase(backend, g, { x: randomData(rows * cols, 1) }, first(x.sum({ axes: [1] })), false, { bytes: 4 * (rows * cols + rows) });
    },
    async softmax(rows, cols) {
      const g = new Graph();
      const x = g.input('x', [rows, cols]);
      return graphCase(backend, g, { x: randomData(rows * cols, 1) }, first(x.softmax()), false, { bytes: 8 * rows * cols });
    },
    async conv2d(p: Conv2dParams) {
      const g = new Graph();
      const x = g.input('x', [p.batch, p.inChannels, p.height, p.width]);
      const w = g.input('w', [p.outChannels, p.inChannels, p.kernel, p.kernel]);
      const y = x.conv2d(w, { stride: p.stride, padding: p.padding });
      const { outHeight, outWidth } = conv2dOutSize(p);
      return graphCase(backend, g, { x: randomData(p.batch * p.inChannels * p.height * p.width, 1), w: randomData(p.outChannels * p.inChannels * p.kernel * p.kernel, 2) }, first(y), false, {
        flops: conv2dFlops(p),
        bytes: 4 * (p.batch * p.inChannels * p.height * p.width + p.outChannels * p.inChannels * p.kernel * p.kernel + p.batch * p.outChannels * outHeight * outWidth),
      });
    },
    async mlpTrainStep(batch) { const m = model('mlp', batch, true); return graphCase(backend, m.g, m.feeds, m.probe, true); },
    async cnnTrainStep(batch) { const m = model('cnn', batch, true); return graphCase(backend, m.g, m.feeds, m.probe, true); },
    async lstmTrainStep(batch) { const m = lstmModel(batch); return graphCase(backend, m.g, m.feeds, m.probe, true, { flops: lstmTrainFlops(batch) }); },
    async transformerTrainStep(batch) { const m = transformerModel(batch); return graphCase(backend, m.g, m.feeds, m.probe, true, { flops: transformerTrainFlops(batch) }); },
    async mlpInference(batch) { const m = model('mlp', batch, false); return graphCase(backend, m.g, m.feeds, m.probe, false); },
    async cnnInference(batch) { const m = model('cnn', batch, false); return graphCase(backend, m.g, m.feeds, m.probe, false); },
    // Let the device finish what was submitted before the process exits (see kiln's close()).
    async dispose() { await close(); },
  };
}
