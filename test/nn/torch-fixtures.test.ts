// Kiln's recurrent, attention and Transformer layers against PyTorch 1.13: the fixtures in
// test/fixtures/torch (weights already in Kiln's layout, inputs, outputs, and the gradients
// of sum(output * w) with respect to inputs and params, computed in float64 by make.py)
// on every device backend and on the float64 reference.
import { compileWith, createReferenceBackend, type FeedValue, Graph, type Tensor } from '@kiln/core';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gru, lstm, multiHeadAttention, simpleRnn, transformerEncoderLayer } from '../../packages/nn/src/layers';
import { describeBackends, orSkip } from '../support/backends';
import { expectClose } from '../support/harness';

interface Json { shape: number[]; data: number[]; dtype?: 'f32' | 'i32' | 'bool' }
interface Fixture {
  module: string;
  config: Record<string, unknown> & { file: string };
  params: Record<string, Json>;
  inputs: Record<string, Json>;
  outputs: Record<string, Json>;
  outputWeights: Record<string, Json>;
  grads: Record<string, Json>;
}

const DIR = fileURLToPath(new URL('../fixtures/torch/', import.meta.url));
const FIXTURES: Fixture[] = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Fixture);

/** The Kiln graph of a fixture's module: its outputs by the fixture's names. */
function build(f: Fixture, g: Graph, inputs: Record<string, Tensor>): Record<string, Tensor> {
  const c = f.config;
  const x = inputs['x']!;
  switch (f.module) {
    case 'RNN': case 'LSTM': case 'GRU': {
      const options = { numLayers: c['numLayers'] as number, bidirectional: c['bidirectional'] as boolean };
      const hidden = c['hidden'] as number;
      const layer = f.module === 'RNN' ? simpleRnn(hidden, { ...options, activation: (c['nonlinearity'] as 'tanh' | 'relu' | undefined) ?? 'tanh' })
        : f.module === 'LSTM' ? lstm(hidden, options)
        : gru(hidden, { ...options, linearBeforeReset: true }); // PyTorch's GRU
      const state = {
        ...(inputs['h0'] ? { initialH: inputs['h0'] } : {}), ...(inputs['c0'] ? { initialC: inputs['c0'] } : {}),
        ...(inputs['lengths'] ? { lengths: inputs['lengths'] } : {}),
      };
      const r = layer.run(x, state);
      return { y: r.y, h: r.h, ...(r.c ? { c: r.c } : {}) };
    }
    case 'MultiheadAttention':
      return { y: multiHeadAttention(x, { numHeads: c['numHeads'] as number, causal: c['causal'] as boolean, keyPaddingMask: inputs['pad']! }) };
    case 'TransformerEncoderLayer':
      return {
        y: transformerEncoderLayer({
          numHeads: c['numHeads'] as number, dimFeedforward: c['dimFeedforward'] as number, normFirst: c['normFirst'] as boolean,
          activation: c['activation'] as 'relu' | 'gelu', dropout: 0,
        })(x, { keyPaddingMask: inputs['pad']! }),
      };
    default:
      throw new Error(`no Kiln module for fixture module ${f.module}`);
  }
}

function prepare(f: Fixture) {
  const g = new Graph();
  const inputs: Record<string, Tensor> = {};
  const feeds: Record<string, FeedValue> = {};
  for (const [k, v] of Object.entries(f.inputs)) {
    const dtype = v.dtype ?? 'f32';
    inputs[k] = g.input(k, v.shape, dtype);
    feeds[k] = dtype === 'f32' ? Float32Array.from(v.data) : dtype === 'i32' ? Int32Array.from(v.data) : Uint8Array.from(v.data);
  }
  const outputs = build(f, g, inputs);
  expect(Object.keys(outputs).sort()).toEqual(Object.keys(f.outputs).sort());
  expect([...g.params.keys()].sort()).toEqual(Object.keys(f.params).sort());
  let loss: Tensor | undefined;
  for (const [k, t] of Object.entries(outputs)) {
    expect(t.shape).toEqual(f.outputs[k]!.shape);
    const w = f.outputWeights[k]!;
    const term = t.mul(g.constant(w.data, w.shape)).sum();
    loss = loss ? loss.add(term) : term;
  }
  const wrt = Object.keys(f.grads);
  const grads = g.grad(loss!, wrt.map((k) => (g.inputs.has(k) ? inputs[k]! : g.tensor(g.params.get(k)!.id))));
  const fetches: Record<string, Tensor> = { ...outputs, ...Object.fromEntries(wrt.map((k, i) => [`grad:${k}`, grads[i]!])) };
  return { g, feeds, fetches };
}

async function compare(f: Fixture, makeBackend: () => Promise<import('@kiln/core').Backend>, atol: number, rtol: number) {
  const { g, feeds, fetches } = prepare(f);
  const exe = await compileWith(g, await makeBackend());
  try {
    for (const [k, v] of Object.entries(f.params)) exe.setParam(k, v.data);
    const out = await exe.run(feeds, fetches);
    for (const [k, v] of Object.entries(f.outputs)) expectClose(out[k]!.data, v.data, atol, rtol, `${f.config.file} ${k}`);
    for (const [k, v] of Object.entries(f.grads)) expectClose(out[`grad:${k}`]!.data, v.data, atol, rtol, `${f.config.file} d/d ${k}`);
  } finally {
    await exe.dispose();
  }
}

test('the fixtures cover RNN, LSTM, GRU, MultiheadAttention and TransformerEncoderLayer', () => {
  expect([...new Set(FIXTURES.map((f) => f.module))].sort()).toEqual(['GRU', 'LSTM', 'MultiheadAttention', 'RNN', 'TransformerEncoderLayer']);
});

describe('PyTorch fixtures [reference, float64]', () => {
  // The float64 evaluator matches PyTorch's float64 to rounding: the layer is the same function.
  test.each(FIXTURES.map((f) => [f.config.file, f] as const))('%s', async (_, f) => compare(f, async () => createReferenceBackend(), 1e-6, 1e-6));
});

describeBackends('PyTorch fixtures', (b) => {
  test.each(FIXTURES.map((f) => [f.config.file, f] as const))('%s', (_, f) => orSkip(() => compare(f, b.make, 2e-5, 2e-4)));
});
