// What a first-time user hits, one table row per case: missing or wrong-typed arguments to the
// public nn/onnx/checkpoint/data functions are typed errors naming the function and the argument
// (never a TypeError from inside); labels that fit no loss are named as such; a bad label in
// fit names its dataset sample; a save under /proc fails instead of hanging; exported bytes own
// their buffer; npm pack is refused with one line.
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReferenceBackend, DTypeError, ownedBytes, FeedError, Graph, GraphError, OptionsError, ShapeError, type Tensor } from '@kiln/core';
import { CheckpointError } from '../../packages/nn/src/checkpoint';
import { readFileChecked, writeFileAtomic } from '../../packages/nn/src/checkpoint/atomic';
import { createDataset, DataFormatError, loadCifar10, parseCifar10, parseIdx } from '../../packages/nn/src/data';
import { accuracy, binaryAccuracy, binaryCrossEntropy, confusionMatrix, confusionMatrixOp, dense, mae, mse, softmaxCrossEntropy, topKAccuracy } from '../../packages/nn/src/nn';
import { sgd } from '../../packages/nn/src/optim';
import { buildModel, checkpointBytes, evaluate, fit, loadCheckpoint, loadCheckpointBytes, saveCheckpoint } from '../../packages/nn/src/train';
import * as kilnNn from '../../packages/nn/src';
import * as onnx from '../../packages/onnx/src';
import { exportModel } from '../../packages/onnx/src';

const tinyModel = () => buildModel((g) => {
  const x = g.input('x', ['batch', 4]);
  const y = g.input('y', ['batch'], 'i32');
  const logits = dense(x, 3);
  return { x, y, output: logits, loss: softmaxCrossEntropy(logits, y), optimizer: sgd({ lr: 0.1 }) };
}, { seed: 2, compile: createReferenceBackend() });

const graph = () => {
  const g = new Graph();
  return { g, x: g.input('x', [2, 3]), y: g.input('y', [2], 'i32') };
};
const U = undefined as never;

describe('bad arguments are typed errors naming the function and the argument', () => {
  const sync: [string, () => unknown, new (...a: never[]) => Error, RegExp][] = [
    ['nn.softmaxCrossEntropy labels', () => { const { x } = graph(); return softmaxCrossEntropy(x, U); }, GraphError, /^softmaxCrossEntropy: argument 'labels': expected a Tensor, got undefined/],
    ['nn.accuracy labels', () => { const { x } = graph(); return accuracy(x, U); }, GraphError, /^accuracy: argument 'labels': expected a Tensor, got undefined/],
    ['nn.mse targets null', () => { const { x } = graph(); return mse(x, null as never); }, GraphError, /^mse: argument 'targets'/],
    ['nn.mae predictions', () => { const { x } = graph(); return mae(U, x); }, GraphError, /^mae: argument 'predictions'/],
    ['nn.topKAccuracy k', () => { const { x, y } = graph(); return topKAccuracy(x, y, U); }, OptionsError, /^topKAccuracy: argument 'k': expected a positive integer/],
    ['nn.confusionMatrix labels', () => confusionMatrix([0], U, 2), OptionsError, /^confusionMatrix: argument 'labels'/],
    ['nn.dense missing input', () => dense(U, 3), GraphError, /^dense: argument 'x': expected a Tensor, got undefined/],
    ['data.parseIdx bytes', () => parseIdx(U), OptionsError, /^parseIdx: argument 'bytes': expected a Uint8Array, got undefined/],
    ['data.parseCifar10 bytes', () => parseCifar10('x' as never), OptionsError, /^parseCifar10: argument 'bytes': expected a Uint8Array/],
    ['data.createDataset parts', () => createDataset(U), OptionsError, /^createDataset: argument 'parts'/],
    ['data.createDataset count/xShape', () => createDataset({ x: new Float32Array(10), y: new Int32Array(3), xShape: [4] }), DataFormatError, /not a multiple of xShape \[4\]/],
    ['data.createDataset x/y count', () => createDataset({ x: new Float32Array(8), y: new Int32Array(3), xShape: [4] }), DataFormatError, /expected 2 for yShape/],
    ['onnx.exportModel options', () => exportModel(graph().g, U), OptionsError, /^exportModel: argument 'options': expected an options object/],
    ['onnx.exportModel outputs', () => { const { g, x } = graph(); return exportModel(g, { inputs: { x }, outputs: U }); }, OptionsError, /^exportModel: options.outputs: expected an object of Tensors by name, got undefined/],
    ['onnx.exportModel graph', () => exportModel(U, { inputs: {}, outputs: {} }), OptionsError, /^exportModel: argument 'graph': expected a Graph/],
    ['onnx.exportModel output not a tensor', () => { const { g, x } = graph(); return exportModel(g, { inputs: { x }, outputs: { y: 3 as never } }); }, GraphError, /^exportModel: options.outputs.y: expected a Tensor, got 3/],
  ];
  test.each(sync)('%s', (_, call, Err, message) => {
    expect(call).toThrow(Err);
    expect(call).toThrow(message);
  });

  const async: [string, (m: Awaited<ReturnType<typeof tinyModel>>) => Promise<unknown>, new (...a: never[]) => Error, RegExp][] = [
    ['fit model', () => fit(U, createDataset({ x: new Float32Array(4), y: new Int32Array(1), xShape: [4] })), OptionsError, /^fit: argument 'model': expected a Model/],
    ['fit data', (m) => fit(m, U), OptionsError, /^fit: argument 'data': expected a Dataset/],
    ['evaluate data', (m) => evaluate(m, null as never), OptionsError, /^evaluate: argument 'data'/],
    ['loadCheckpointBytes bytes', (m) => loadCheckpointBytes(m, U), OptionsError, /^loadCheckpointBytes: argument 'bytes': expected a Uint8Array, got undefined/],
    ['saveCheckpoint path', (m) => saveCheckpoint(m, U), OptionsError, /^saveCheckpoint: argument 'path': expected a file path/],
    ['loadCheckpoint path', (m) => loadCheckpoint(m, 7 as never), OptionsError, /^loadCheckpoint: argument 'path'/],
    ['checkpointBytes target', () => checkpointBytes(U), OptionsError, /^checkpointBytes: argument 'target': expected a Model or an Executable/],
  ];
  test.each(async)('%s', async (_, call, Err, message) => {
    const m = await tinyModel();
    try {
      const e = await call(m).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(Err);
      expect((e as Error).message).toMatch(message);
    } finally {
      await m.dispose();
    }
  });
});

// Every public function of @kiln/nn (nn, data, checkpoint, optim and the top level) and
// @kiln/onnx, with undefined and then null in each argument position (the others filled with a
// tensor and small numbers): a typed error or a result, never a TypeError or a bare Error.
const publicFunctions = Object.entries({ nn: kilnNn.nn, data: kilnNn.data, checkpoint: kilnNn.checkpoint, optim: kilnNn.optim, top: kilnNn, onnx })
  .flatMap(([mod, ns]) => Object.entries(ns as Record<string, unknown>)
    .filter(([name, f]) => typeof f === 'function' && !/^[A-Z]/.test(name)) // classes (errors, Model, ProgressBar) are not calls
    .map(([name, f]) => [`${mod}.${name}`, f as (...a: unknown[]) => unknown] as const));

describe('every public function: a missing argument is a typed error', () => {
  test('the table covers the exports', () => {
    expect(publicFunctions.length).toBeGreaterThan(80);
    for (const name of ['nn.dense', 'nn.softmaxCrossEntropy', 'data.parseIdx', 'top.fit', 'top.saveCheckpoint', 'onnx.exportModel', 'onnx.importModel']) {
      expect(publicFunctions.map(([n]) => n)).toContain(name);
    }
  });
  test.each(publicFunctions)('%s', async (_, f) => {
    const arity = Math.max(f.length, 1);
    for (let k = 0; k < arity; k++) {
      for (const missing of [undefined, null]) {
        const { x } = graph();
        const callArgs: unknown[] = [x, 3, 3, 3].slice(0, arity);
        callArgs[k] = missing;
        const e = await (async () => f(...callArgs))().then(() => undefined, (err: unknown) => err);
        if (e === undefined) continue;
        expect({ argument: k, missing, error: `${(e as Error).name}: ${(e as Error).message}` }).toEqual({ argument: k, missing, error: expect.not.stringMatching(/^(TypeError|Error):/) });
      }
    }
  });
});

describe('labels that fit no loss name the loss and what it takes', () => {
  const rows: [string, [number[], 'f32' | 'i32' | 'bool'], new (...a: never[]) => Error, RegExp][] = [
    ['f32 class indices', [[2], 'f32'], ShapeError, /^softmaxCrossEntropy: labels Tensor\(lab: f32\[2\]\) must be i32 class indices \[2\] \(the logits' shape without the class axis\) or f32 one-hot\/probability rows \[2, 3\].*cast them with \.cast\('i32'\)/],
    ['i32 of the wrong batch', [[3], 'i32'], ShapeError, /^softmaxCrossEntropy: labels .* must be i32 class indices \[2\]/],
    ['f32 rows of the wrong width', [[2, 4], 'f32'], ShapeError, /^softmaxCrossEntropy: labels .* f32 one-hot\/probability rows \[2, 3\]/],
    ['bool labels', [[2, 3], 'bool'], DTypeError, /^softmaxCrossEntropy: labels .* must be i32 class indices/],
  ];
  test.each(rows)('%s (Tensor method and nn loss)', (_, [shape, dtype], Err, message) => {
    const { g, x } = graph();
    const lab = g.input('lab', shape, dtype);
    for (const call of [() => x.softmaxCrossEntropy(lab), () => softmaxCrossEntropy(x, lab)]) {
      expect(call).toThrow(Err);
      expect(call).toThrow(message);
    }
  });
  test.each([['mse', mse], ['mae', mae], ['binaryCrossEntropy', binaryCrossEntropy]] as const)('%s: targets of another shape or dtype name the loss', (name, loss) => {
    const { g, x, y } = graph();
    expect(() => loss(x, g.input('t', [2]))).toThrow(new RegExp(`^${name}: predictions .* and targets .* must have the same shape`));
    expect(() => loss(x, y.reshape([2, 1]).broadcastTo([2, 3]))).toThrow(DTypeError);
  });
  const metrics = [['accuracy', accuracy], ['topKAccuracy', (a: Tensor, b: Tensor) => topKAccuracy(a, b, 2)], ['confusionMatrixOp', confusionMatrixOp]] as const;
  test.each(metrics)('%s: labels of another batch or rank name the metric, not an internal node', (name, metric) => {
    const { g, x } = graph();
    for (const [shape, dtype, Err] of [[[3], 'i32', ShapeError], [[2], 'f32', DTypeError], [[2, 4], 'f32', ShapeError]] as const) {
      const labels = g.input(`l${shape.join('x')}${dtype}`, [...shape], dtype);
      const call = () => metric(x, labels);
      expect(call).toThrow(Err);
      expect(call).toThrow(new RegExp(`^${name}: labels .* must be i32 class indices \\[2\\] \\(the logits' shape without the class axis\\) or f32 one-hot rows \\[2, 3\\]`));
    }
  });
  test('binaryAccuracy: targets of another shape or dtype name the metric', () => {
    const { g, x, y } = graph();
    expect(() => binaryAccuracy(x, g.input('t', [2]))).toThrow(/^binaryAccuracy: predictions .* and targets .* must have the same shape/);
    expect(() => binaryAccuracy(x, y.reshape([2, 1]).broadcastTo([2, 3]))).toThrow(/^binaryAccuracy: targets .* must be f32/);
  });
});

test('fit names a bad label by its dataset sample, not its row in the shuffled batch', async () => {
  const m = await tinyModel();
  try {
    const y = new Int32Array(16).fill(1);
    y[11] = 7;
    const ds = createDataset({ x: new Float32Array(64).fill(0.5), y, xShape: [4] });
    const e = await fit(m, ds, { epochs: 1, batchSize: 16, shuffle: true, seed: 3, verbose: false }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(FeedError);
    expect((e as Error).message).toMatch(/value 7 of dataset sample 11 \(batch row \d+\) is out of range/);
  } finally {
    await m.dispose();
  }
});

test('a checkpoint save under /proc fails with a CheckpointError instead of hanging', async () => {
  const e = await writeFileAtomic('/proc/nope/x.safetensors', new Uint8Array(4)).then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(CheckpointError);
  expect((e as Error).message).toMatch(/^\/proc\/nope\/x\.safetensors: create folder \/proc\/nope failed: ENOENT/);
}, 5000);

test('onnx.exportModel returns a plain Uint8Array that owns its buffer', () => {
  const { g, x } = graph();
  const bytes = exportModel(g, { inputs: { x }, outputs: { y: x.relu() } });
  expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype);
  expect(bytes.byteOffset).toBe(0);
  expect(bytes.buffer.byteLength).toBe(bytes.byteLength);
  const copy = bytes.slice();
  copy[0] = (bytes[0]! + 1) & 255;
  expect(copy[0]).not.toBe(bytes[0]);
});

describe('bytes a public API returns own their buffer', () => {
  const pooled = Buffer.from([1, 2, 3]); // a small Buffer is a view into Node's shared pool
  const rows: [string, Uint8Array][] = [
    ['a pooled Buffer', pooled],
    ['a view at an offset', new Uint8Array(new ArrayBuffer(8), 2, 3)],
    ['a whole Buffer', Buffer.alloc(16384)],
    ['a plain Uint8Array', Uint8Array.of(1, 2, 3)],
  ];
  test.each(rows)('ownedBytes(%s)', (_, input) => {
    const out = ownedBytes(input);
    expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype);
    expect(out.byteOffset).toBe(0);
    expect(out.buffer.byteLength).toBe(out.byteLength);
    expect([...out]).toEqual([...input]);
  });
  test('readFileChecked of a small file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-owned-'));
    await writeFile(join(dir, 'f'), Uint8Array.of(9, 8, 7));
    const bytes = await readFileChecked(join(dir, 'f'));
    expect(bytes.buffer.byteLength).toBe(3);
    expect([...bytes]).toEqual([9, 8, 7]);
  });
});

describe('loadCifar10 names a wrong folder once, not each missing file', () => {
  const rows: [string, () => Promise<string>, RegExp][] = [
    ['a folder that does not exist', async () => '/tmp/kiln-nonexistent-cifar', /^\/tmp\/kiln-nonexistent-cifar: no such folder \(CIFAR-10 needs/],
    ['a folder with none of the files', () => mkdtemp(join(tmpdir(), 'kiln-cifar-empty-')), /: none of the CIFAR-10 files is in this folder \(CIFAR-10 needs/],
  ];
  test.each(rows)('%s', async (_, folder, message) => {
    const e = await loadCifar10({ dir: await folder() }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DataFormatError);
    expect((e as Error).message).toMatch(message);
    expect((e as Error).message).not.toMatch(/ENOENT/);
  });
});

test('npm pack of a package is refused with one line; pnpm without a build too', () => {
  for (const [agent, why] of [['npm/11.0.0 node/v20', /refusing to pack with npm\/11\.0\.0/], ['pnpm/9.0.0 node/v20', /dist\/ is missing/]] as const) {
    const r = spawnSync(process.execPath, ['../../scripts/prepack-guard.mjs'], { cwd: 'packages/onnx', env: { ...process.env, npm_config_user_agent: agent }, encoding: 'utf8' });
    if (agent.startsWith('pnpm') && r.status === 0) continue; // a build is present here (pack-check ran): the pnpm path passes
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(why);
    expect(r.stderr).toMatch(/^@kiln\/onnx: .*pnpm build && pnpm pack/);
  }
});
