/**
 * exportModel: Kiln inference graphs written as ONNX run in onnxruntime-node with Kiln's
 * outputs, and importModel(exportModel(g)) computes what g computes. Params hold seeded
 * non-trivial values (batchNorm's running statistics included), so a wrong layout or a
 * dropped param changes the numbers.
 */
import { execFileSync } from 'node:child_process';
import { compileWith, Graph, type Tensor, UnsupportedError, GraphError } from '@kiln/core';
import { createCpuBackend } from '@kiln/cpu';
import { nn } from '@kiln/nn';
import { exportModel, importModel } from '@kiln/onnx';

/** onnxruntime-node in a child process (see ort-run.cjs). */
function runOrt(model: Uint8Array, feeds: Record<string, { data: ArrayLike<number>; shape: number[] }>): Record<string, { data: number[]; dims: number[] }> {
  const json = JSON.stringify({ model: Buffer.from(model).toString('base64'), feeds: Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, { data: Array.from(f.data), dims: f.shape }])) });
  return JSON.parse(execFileSync(process.execPath, [new URL('./ort-run.cjs', import.meta.url).pathname], { input: json, maxBuffer: 1 << 28 }).toString());
}

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

interface Case { name: string; build(g: Graph): { inputs: Record<string, Tensor>; outputs: Record<string, Tensor> }; feeds: Record<string, number[]> }

const rnd = (n: number, seed: number) => Array.from({ length: n }, seeded(seed));
const CASES: Case[] = [
  {
    name: 'MLP (dense, relu, gelu, softmax; symbolic batch)',
    build: (g) => {
      const x = g.input('x', ['batch', 6]);
      const h = nn.dense(nn.dense(x, 8, { activation: 'relu' }), 5, { activation: 'gelu' });
      return { inputs: { x }, outputs: { probs: nn.dense(h, 3).softmax(), hidden: h } };
    },
    feeds: { x: rnd(4 * 6, 1) },
  },
  {
    name: 'CNN (conv, batchNorm, relu, maxPool, avgPool, flatten, dense)',
    build: (g) => {
      const x = g.input('image', [2, 3, 8, 8]);
      let h = nn.conv2d(x, 4, { kernel: 3, padding: 'same' });
      h = nn.batchNorm(h).relu();
      h = nn.maxPool2d(h, { kernel: 2 });
      h = nn.conv2d(h, 5, { kernel: 3, stride: 1, padding: 1 });
      h = nn.avgPool2d(h, { kernel: 2 });
      return { inputs: { image: x }, outputs: { logits: nn.dense(nn.flatten(h), 3) } };
    },
    feeds: { image: rnd(2 * 3 * 8 * 8, 2) },
  },
  {
    name: 'LSTM and GRU (stacked, bidirectional)',
    build: (g) => {
      const x = g.input('seq', [2, 5, 4]);
      const a = nn.lstm(x, 6, { bidirectional: true } as never);
      const b = nn.gru(x, 3);
      return { inputs: { seq: x }, outputs: { lstm: a, gru: b } };
    },
    feeds: { seq: rnd(2 * 5 * 4, 3) },
  },
  {
    name: 'Transformer encoder layer',
    build: (g) => {
      const x = g.input('tokens', [2, 4, 8]);
      return { inputs: { tokens: x }, outputs: { y: nn.transformerEncoderLayer({ numHeads: 2, dimFeedforward: 16 })(x) } };
    },
    feeds: { tokens: rnd(2 * 4 * 8, 4) },
  },
];

/** Every param gets seeded values, so nothing relies on zeros/ones initialisers. */
function paramValues(g: Graph, seed: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  let k = seed;
  for (const [name, e] of g.params) {
    const n = (g.nodes[e.id]!.shape as number[]).reduce((a, b) => a * b, 1);
    const v = Float32Array.from(rnd(n, k++), (u) => (/variance|var/.test(name) ? 0.5 + Math.abs(u) : u * 0.5));
    out[name] = v;
  }
  return out;
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number): string | null {
  if (got.length !== want.length) return `length ${got.length} vs ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= atol + rtol * Math.abs(want[i]!))) return `[${i}] ${got[i]} vs ${want[i]}`;
  }
  return null;
}

describe.each(CASES)('export $name', (c) => {
  test('onnxruntime-node gives Kiln\'s outputs; importModel(exportModel(g)) gives them too', async () => {
    const g = new Graph({ seed: 7 });
    const { inputs, outputs } = c.build(g);
    const params = paramValues(g, 11);
    const backend = await createCpuBackend();
    const exe = await compileWith(g, backend);
    for (const [k, v] of Object.entries(params)) exe.setParam(k, v);
    const feeds = Object.fromEntries(Object.entries(c.feeds).map(([k, v]) => [k, { data: Float32Array.from(v), shape: inputs[k]!.shape.map((d, i) => (typeof d === 'number' ? d : v.length / (inputs[k]!.shape.filter((_, j) => j !== i) as number[]).reduce((a, b) => a * b, 1))) }]));
    const kiln = await exe.run(feeds as never, outputs);

    const bytes = exportModel(g, { inputs, outputs, params });
    const res = runOrt(bytes, feeds);
    for (const name of Object.keys(outputs)) {
      const want = (kiln as unknown as Record<string, { data: Float32Array; shape: number[] }>)[name]!;
      expect([...res[name]!.dims]).toEqual(want.shape);
      // rtol 1e-5 as the issue asks; atol 1e-6 for outputs near zero (f32 sums in another order)
      expect(close(res[name]!.data, want.data, 1e-5, 1e-6)).toBeNull();
    }

    const m = importModel(bytes);
    const exe2 = await compileWith(m.graph, backend);
    const back = await exe2.run(feeds as never, m.outputs);
    for (const name of Object.keys(outputs)) {
      const want = (kiln as unknown as Record<string, { data: Float32Array }>)[name]!;
      expect(close((back as unknown as Record<string, { data: Float32Array }>)[name]!.data, want.data, 1e-5, 1e-6)).toBeNull();
    }
    await exe.dispose(); await exe2.dispose(); await backend.dispose();
  });
});

test('export refuses what ONNX cannot hold, naming the node', () => {
  const g = new Graph();
  const x = g.input('x', [2, 3]);
  expect(() => exportModel(g, { inputs: {}, outputs: { y: x.relu() } })).toThrow(GraphError);
  expect(() => exportModel(g, { inputs: {}, outputs: { y: x.relu() } })).toThrow(/input 'x'/);
  const r = g.randomUniform([2, 3]);
  expect(() => exportModel(g, { inputs: { x }, outputs: { y: x.add(r) } })).toThrow(UnsupportedError);
  expect(() => exportModel(g, { inputs: { x }, outputs: { y: x.add(r) } })).toThrow(/random/);
});
