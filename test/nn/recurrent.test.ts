// Recurrent layers: shapes and param layout (ONNX), the equations on one step by hand,
// lengths (padding masked, the backward direction starts at the last valid step), states,
// and gradients against central differences for every kind and option.
import { evaluate, Graph, OptionsError, ShapeError, type Tensor } from '@kiln/core';
import { gru, lstm, paramCount, simpleRnn } from '../../packages/nn/src/layers';
import { gradCheck, values } from './gradcheck';

const sig = (v: number) => 1 / (1 + Math.exp(-v));

describe('recurrent layers', () => {
  test('shapes and ONNX param layout', () => {
    const g = new Graph();
    const x = g.input('x', ['batch', 5, 3]);
    const y = lstm(x, 4, { numLayers: 2, bidirectional: true });
    expect(y.shape).toEqual(['batch', 5, 8]);
    expect(Object.fromEntries([...g.params.keys()].map((k) => [k, g.nodes[g.params.get(k)!.id]!.shape]))).toEqual({
      'lstm_1/layer_0/W': [2, 16, 3], 'lstm_1/layer_0/R': [2, 16, 4], 'lstm_1/layer_0/B': [2, 32],
      'lstm_1/layer_1/W': [2, 16, 8], 'lstm_1/layer_1/R': [2, 16, 4], 'lstm_1/layer_1/B': [2, 32],
    });
    expect(gru(x, 6, { returnSequences: false }).shape).toEqual(['batch', 6]);
    expect(paramCount(g, { prefix: 'gru_1/' })).toBe(18 * 3 + 18 * 6 + 36);
    const r = simpleRnn(2, { bidirectional: true }).run(x);
    expect([r.y.shape, r.h.shape, r.c]).toEqual([['batch', 5, 4], [2, 'batch', 2], undefined]);
  });

  test('one LSTM step and one GRU step by hand (gate orders i o f c and z r h)', () => {
    const g = new Graph();
    const x = g.input('x', [1, 1, 1]);
    const h0 = g.input('h0', [1, 1, 1]), c0 = g.input('c0', [1, 1, 1]);
    // hidden 1: W [1, 4, 1] = i o f c, R likewise, B = Wb then Rb.
    const W = [0.1, 0.2, 0.3, 0.4], R = [-0.5, 0.6, -0.7, 0.8], Bv = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08];
    const l = lstm(1, { kernelInit: W, recurrentInit: R, biasInit: Bv }).run(x, { initialH: h0, initialC: c0 });
    const Wg = [0.3, -0.2, 0.5], Rg = [0.4, 0.9, -0.6], Bg = [0.1, 0.2, 0.3, -0.1, -0.2, -0.3];
    const gr = gru(1, { kernelInit: Wg, recurrentInit: Rg, biasInit: Bg }).run(x, { initialH: h0 });
    const grl = gru(1, { kernelInit: Wg, recurrentInit: Rg, biasInit: Bg, linearBeforeReset: true }).run(x, { initialH: h0 });
    const [xv, hv, cv] = [0.7, -0.3, 0.25];
    const out = evaluate(g, { x: [xv], h0: [hv], c0: [cv] }, { h: l.h, c: l.c!, gh: gr.h, ghl: grl.h });
    const pre = (k: number) => W[k]! * xv + R[k]! * hv + Bv[k]! + Bv[4 + k]!;
    const c = sig(pre(2)) * cv + sig(pre(0)) * Math.tanh(pre(3));
    expect(out.c.data[0]).toBeCloseTo(c, 12);
    expect(out.h.data[0]).toBeCloseTo(sig(pre(1)) * Math.tanh(c), 12);
    const z = sig(Wg[0]! * xv + Rg[0]! * hv + Bg[0]! + Bg[3]!), r = sig(Wg[1]! * xv + Rg[1]! * hv + Bg[1]! + Bg[4]!);
    const cand = Math.tanh(Wg[2]! * xv + Rg[2]! * (r * hv) + Bg[5]! + Bg[2]!);
    const candL = Math.tanh(Wg[2]! * xv + r * (Rg[2]! * hv + Bg[5]!) + Bg[2]!);
    expect(out.gh.data[0]).toBeCloseTo((1 - z) * cand + z * hv, 12);
    expect(out.ghl.data[0]).toBeCloseTo((1 - z) * candL + z * hv, 12);
  });

  test('lengths: padded steps output zeros and keep the state; the backward direction starts at the last valid step', () => {
    const g = new Graph({ seed: 4 });
    const x = g.input('x', [2, 4, 3]), lengths = g.input('len', [2], 'i32');
    const layer = gru(3, { bidirectional: true });
    const masked = layer.run(x, { lengths });
    // Example 0 alone, cut to its 2 valid steps, through the same layer.
    const x0 = g.input('x0', [1, 2, 3]);
    const alone = layer.run(x0);
    const xv = values(24, 5);
    const r = evaluate(g, { x: xv, len: Int32Array.of(2, 4), x0: xv.slice(0, 6) }, { y: masked.y, h: masked.h, y0: alone.y, h0: alone.h });
    const y = Array.from(r.y.data), y0 = Array.from(r.y0.data);
    for (let t = 0; t < 2; t++) for (let j = 0; j < 6; j++) expect(y[t * 6 + j]).toBeCloseTo(y0[t * 6 + j]!, 12);
    expect(y.slice(12, 24)).toEqual(new Array(12).fill(0));
    // h is [directions, batch, hidden]: example 0's final states equal the cut sequence's.
    for (const d of [0, 1]) for (let j = 0; j < 3; j++) expect(r.h.data[d * 6 + j]).toBeCloseTo(r.h0.data[d * 3 + j]!, 12);
    expect(y.slice(24 + 18, 48).some((v) => v !== 0)).toBe(true); // example 1 runs all 4 steps
  });

  const cases: { name: string; build: (x: Tensor, g: Graph) => Tensor; feeds?: Record<string, Int32Array> }[] = [
    { name: 'simpleRnn tanh, 2 layers', build: (x) => simpleRnn(x, 3, { numLayers: 2 }) },
    { name: 'simpleRnn relu, bidirectional, last state', build: (x) => simpleRnn(x, 3, { activation: 'relu', bidirectional: true, returnSequences: false }) },
    { name: 'lstm bidirectional with lengths', build: (x, g) => lstm(3, { bidirectional: true }).run(x, { lengths: g.input('len', [2], 'i32') }).y, feeds: { len: Int32Array.of(3, 1) } },
    { name: 'lstm 2 layers with initial states, final c', build: (x, g) => {
      const r = lstm(3, { numLayers: 2 }).run(x, { initialH: g.input('h0', [2, 2, 3]), initialC: g.input('c0', [2, 2, 3]) });
      return concatFlat([r.y, r.h, r.c!]);
    } },
    { name: 'gru', build: (x) => gru(x, 3) },
    { name: 'gru linearBeforeReset, bidirectional, lengths', build: (x, g) => gru(3, { linearBeforeReset: true, bidirectional: true }).run(x, { lengths: g.input('len', [2], 'i32') }).h, feeds: { len: Int32Array.of(2, 3) } },
  ];
  const concatFlat = (ts: Tensor[]) => ts.map((t) => t.reshape([-1])).reduce((a, b) => a.pad([[0, (b.shape[0] as number)]]).add(b.pad([[a.shape[0] as number, 0]])));

  test.each(cases)('gradients: $name', (c) => {
    const g = new Graph({ seed: 11 });
    const x = g.input('x', [2, 3, 2]);
    const out = c.build(x, g);
    const params = [...g.params.keys()];
    const feeds: Record<string, number[] | Int32Array> = { x: values(12, 1), ...(c.feeds ?? {}) };
    for (const k of ['h0', 'c0']) if (g.inputs.has(k)) feeds[k] = values(12, k.length + k.charCodeAt(0));
    const inputs = ['x', ...['h0', 'c0'].filter((k) => g.inputs.has(k))];
    expect(gradCheck(g, out, feeds, { inputs, params }, { samples: 6 })).toBeGreaterThan(20);
  });

  test('typed errors before any device work', () => {
    const g = new Graph();
    const x = g.input('x', [2, 3, 2]);
    expect(() => lstm(x, 0)).toThrow(OptionsError);
    expect(() => lstm(x, 2, { numLayers: 0 })).toThrow(OptionsError);
    expect(() => gru(x, 2, { peepholes: true } as never)).toThrow(OptionsError);
    expect(() => lstm(g.input('flat', [2, 3]), 2)).toThrow(ShapeError);
    expect(() => lstm(g.input('t', [2, 'time', 3]), 2)).toThrow(/dim 1 .* must be static/);
    expect(() => lstm(2).run(x, { initialH: g.input('bad', [1, 2, 3]) })).toThrow(/initialH .* must be f32 \[numLayers \* directions, batch, hidden\] = \[1, 2, 2\]/);
    expect(() => gru(2).run(x, { initialC: g.input('c', [1, 2, 2]) })).toThrow(/initialC is an LSTM state/);
    expect(() => lstm(2).run(x, { lengths: g.input('lf', [2]) })).toThrow(/lengths .* must be i32 \[batch\]/);
    const cell = lstm(2);
    cell(x);
    expect(() => cell(g.input('x5', [2, 3, 5]))).toThrow(/made for 2 input features; called again with 5/);
  });
});
