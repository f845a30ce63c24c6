/**
 * Real models exported by PyTorch 1.13 (scripts/onnx-pytorch-models.py: an MLP, a CNN with
 * conv, batchNorm, relu, maxPool, avgPool and dense, a 2-layer bidirectional LSTM, a GRU and a
 * TransformerEncoderLayer) import and reproduce PyTorch's outputs on every backend; an imported
 * model fine-tunes (its loss falls over a few SGD steps).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileWith } from '@kiln/core';
import { createCpuBackend } from '@kiln/cpu';
import { optim } from '@kiln/nn';
import { decodeTensor, fromTensorProto, type HostTensor, importModel } from '@kiln/onnx';
import { describeBackends, orSkip } from '../support/backends';

const DIR = new URL('../fixtures/onnx/pytorch/', import.meta.url).pathname;
const MODELS = ['mlp', 'cnn', 'lstm', 'gru', 'transformer'];

function load(name: string) {
  const d = join(DIR, name);
  const files = readdirSync(d);
  const read = (prefix: string): HostTensor[] => files.filter((f) => f.startsWith(prefix)).sort()
    .map((f) => fromTensorProto(decodeTensor(new Uint8Array(readFileSync(join(d, f)))), f));
  return { bytes: new Uint8Array(readFileSync(join(d, 'model.onnx'))), inputs: read('input_'), outputs: read('output_') };
}

test('the fixtures are all there', () => expect(readdirSync(DIR).sort()).toEqual([...MODELS].sort()));

describeBackends('PyTorch-exported models', (b) => {
  test.each(MODELS)('%s matches PyTorch', (name) => orSkip(async () => {
    const { bytes, inputs, outputs } = load(name);
    const m = importModel(bytes);
    const names = Object.keys(m.inputs);
    expect(names.length).toBe(inputs.length);
    const exe = await compileWith(m.graph, await b.make());
    const got = await exe.run(Object.fromEntries(names.map((n, i) => [n, { data: inputs[i]!.data as Float32Array, shape: inputs[i]!.dims }])), m.outputs);
    const outNames = Object.keys(m.outputs);
    expect(outNames.length).toBe(outputs.length);
    for (const [i, n] of outNames.entries()) {
      const r = (got as unknown as Record<string, { data: Float32Array; shape: number[] }>)[n]!, want = outputs[i]!;
      expect(r.shape).toEqual(want.dims);
      let worst = 0;
      for (let k = 0; k < want.data.length; k++) worst = Math.max(worst, Math.abs(r.data[k]! - want.data[k]!) / (1e-5 + Math.abs(want.data[k]!)));
      // f32 on both sides, sums in another order: within 1e-4 relative (1e-5 absolute near 0)
      expect(worst).toBeLessThan(10);
      for (let k = 0; k < want.data.length; k++) expect(Math.abs(r.data[k]! - want.data[k]!)).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(want.data[k]!));
    }
    await exe.dispose();
  }));
});

test('an imported model fine-tunes: its initializers are trainable params and the loss falls', async () => {
  const { bytes, inputs } = load('mlp');
  const m = importModel(bytes, { trainable: true });
  const g = m.graph;
  expect(g.trainableParams().length).toBe(6); // three Linear layers: weight and bias each
  const out = Object.values(m.outputs)[0]!;
  const target = g.input('target', out.shape, 'f32');
  const loss = out.sub(target).square().mean();
  g.minimize(loss, optim.sgd({ lr: 0.2 }));
  const exe = await compileWith(g, await createCpuBackend());
  const x = inputs[0]!;
  const t = Float32Array.from({ length: 4 * 3 }, (_, i) => Math.sin(i));
  const feeds = { [Object.keys(m.inputs)[0]!]: x.data as Float32Array, target: t };
  const losses: number[] = [];
  for (let step = 0; step < 10; step++) losses.push(((await exe.run(feeds, { loss }, { train: true })).loss.data as Float32Array)[0]!);
  const after = ((await exe.run(feeds, { loss })).loss.data as Float32Array)[0]!;
  for (let i = 1; i < losses.length; i++) expect(losses[i]!).toBeLessThan(losses[i - 1]!);
  expect(after).toBeLessThan(losses[0]! * 0.9);
  await exe.dispose();
});
