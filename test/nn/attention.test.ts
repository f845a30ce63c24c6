// Attention and Transformer layers: values against a direct host computation, what masks
// hide, rotary's relative-position property, positional encodings, param layout, and
// gradients against central differences for every layer and option.
import { evaluate, Graph, OptionsError, ShapeError, type Tensor } from '@kiln/core';
import {
  multiHeadAttention, positionEmbedding, rotaryEmbedding, sinePositionEncoding, transformerDecoderLayer, transformerEncoderLayer,
} from '../../packages/nn/src/layers';
import { gradCheck, values } from './gradcheck';

/** Host multi-head attention with projections given as [in, out] row-major arrays. */
function hostAttention(q: number[], kv: number[], T: number, S: number, E: number, heads: number, w: Record<string, Float64Array>, mask?: (t: number, s: number) => boolean): number[] {
  const proj = (x: number[], n: number, k: string) => Array.from({ length: n * E }, (_, i) => {
    const r = Math.floor(i / E), c = i % E;
    let acc = w[`${k}/bias`]![c]!;
    for (let j = 0; j < E; j++) acc += x[r * E + j]! * w[`${k}/kernel`]![j * E + c]!;
    return acc;
  });
  const Q = proj(q, T, 'query'), K = proj(kv, S, 'key'), V = proj(kv, S, 'value');
  const d = E / heads, cat = new Array(T * E).fill(0);
  for (let h = 0; h < heads; h++) {
    for (let t = 0; t < T; t++) {
      const sc = Array.from({ length: S }, (_, s) => {
        if (mask?.(t, s)) return -Infinity;
        let a = 0;
        for (let j = 0; j < d; j++) a += Q[t * E + h * d + j]! * K[s * E + h * d + j]!;
        return a / Math.sqrt(d);
      });
      const m = Math.max(...sc), ex = sc.map((v) => Math.exp(v - m)), z = ex.reduce((a, b) => a + b, 0);
      for (let j = 0; j < d; j++) cat[t * E + h * d + j] = ex.reduce((a, p, s) => a + (p / z) * V[s * E + h * d + j]!, 0);
    }
  }
  return proj(cat, T, 'output');
}

describe('multiHeadAttention', () => {
  const paramsOf = (g: Graph, prefix: string) => {
    const r = evaluate(g, {}, Object.fromEntries([...g.params.keys()].filter((k) => k.startsWith(prefix)).map((k) => [k.slice(prefix.length), g.tensor(g.params.get(k)!.id)])));
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.data]));
  };

  test('self and cross attention, causal and key padding, against a host computation', () => {
    const g = new Graph({ seed: 5 });
    const x = g.input('x', [1, 3, 4]), mem = g.input('mem', [1, 5, 4]), pad = g.input('pad', [1, 5], 'bool');
    const mha = multiHeadAttention({ numHeads: 2, useBias: true, name: 'attn' });
    const self = mha(x), causal = mha(x, { causal: true }), cross = mha(x, { key: mem, keyPaddingMask: pad });
    expect([...g.params.keys()]).toEqual(['attn/query/kernel', 'attn/query/bias', 'attn/key/kernel', 'attn/key/bias', 'attn/value/kernel', 'attn/value/bias', 'attn/output/kernel', 'attn/output/bias']);
    // Non-zero biases so that every term is exercised.
    const xv = values(12, 1), mv = values(20, 2), padv = Uint8Array.of(0, 1, 0, 0, 1);
    const r = evaluate(g, { x: xv, mem: mv, pad: padv }, { self, causal, cross });
    const w = paramsOf(g, 'attn/');
    const expectNear = (got: ArrayLike<number>, want: number[]) => want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 10));
    expectNear(r.self.data, hostAttention(xv, xv, 3, 3, 4, 2, w));
    expectNear(r.causal.data, hostAttention(xv, xv, 3, 3, 4, 2, w, (t, s) => s > t));
    expectNear(r.cross.data, hostAttention(xv, mv, 3, 5, 4, 2, w, (_, s) => padv[s] === 1));
  });

  test('gradients: self attention with causal and padding masks, cross attention, rotary, attnMask', () => {
    const cases: ((g: Graph, x: Tensor) => Tensor)[] = [
      (g, x) => multiHeadAttention(x, { numHeads: 2, causal: true, keyPaddingMask: g.input('pad', [2, 3], 'bool') }),
      (g, x) => multiHeadAttention(x, { numHeads: 1, headDim: 3, outputDim: 2, key: g.input('mem', [2, 2, 4]), useBias: false }),
      (g, x) => multiHeadAttention(x, { numHeads: 2, rotary: true, attnMask: g.input('am', [3, 3]) }),
    ];
    for (const build of cases) {
      const g = new Graph({ seed: 9 });
      const x = g.input('x', [2, 3, 4]);
      const y = build(g, x);
      const feeds: Record<string, number[] | Uint8Array> = { x: values(24, 3), pad: Uint8Array.of(0, 0, 1, 0, 1, 0), mem: values(16, 4), am: values(9, 5) };
      for (const k of Object.keys(feeds)) if (!g.inputs.has(k)) delete feeds[k];
      const inputs = ['x', 'mem', 'am'].filter((k) => g.inputs.has(k));
      expect(gradCheck(g, y, feeds, { inputs, params: [...g.params.keys()] }, { samples: 5 })).toBeGreaterThan(20);
    }
  });

  test('a causal output does not depend on later inputs; padding keys are ignored', () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [1, 4, 4]), pad = g.input('pad', [1, 4], 'bool');
    const y = multiHeadAttention({ numHeads: 2, causal: true })(x, { keyPaddingMask: pad });
    const a = values(16, 7), b = a.slice();
    b[3 * 4 + 1] = 9; // change the last step only
    const padv = Uint8Array.of(0, 0, 1, 0);
    const ra = evaluate(g, { x: a, pad: padv }, { y }).y.data, rb = evaluate(g, { x: b, pad: padv }, { y }).y.data;
    for (let i = 0; i < 12; i++) expect(ra[i]).toBe(rb[i]);
    expect(ra[13]).not.toBe(rb[13]);
    const c = a.slice();
    c[2 * 4] = -5; // a padded key: only its own query row (position 2) changes
    const rc = evaluate(g, { x: c, pad: padv }, { y }).y.data;
    for (const i of [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15]) expect(rc[i]).toBeCloseTo(ra[i]!, 12);
  });

  test('typed errors', () => {
    const g = new Graph();
    const x = g.input('x', [2, 3, 4]);
    expect(() => multiHeadAttention(x, { numHeads: 3 })).toThrow(/not divisible by numHeads 3/);
    expect(() => multiHeadAttention(x, { numHeads: 4, rotary: true })).toThrow(/rotary needs an even headDim/);
    expect(() => multiHeadAttention(x, { numHeads: 2, keyPaddingMask: g.input('p', [2, 3]) })).toThrow(ShapeError);
    expect(() => multiHeadAttention(x, { numHeads: 2, key: g.input('k', [2, 4, 4]), value: g.input('v', [2, 5, 4]) })).toThrow(/same sequence length/);
    expect(() => multiHeadAttention(g.input('flat', [2, 4]), { numHeads: 2 })).toThrow(ShapeError);
    expect(() => multiHeadAttention({ numHeads: 0 })).toThrow(OptionsError);
  });
});

describe('positions', () => {
  test('sinePositionEncoding is sin/cos of p / 10000^(2i/d)', () => {
    const g = new Graph();
    const pe = sinePositionEncoding(g.input('x', [1, 3, 4]));
    const r = evaluate(g, {}, { pe }).pe.data;
    expect(r[2 * 4 + 0]).toBeCloseTo(Math.sin(2), 12);
    expect(r[2 * 4 + 1]).toBeCloseTo(Math.cos(2), 12);
    expect(r[2 * 4 + 2]).toBeCloseTo(Math.sin(2 / 100), 12);
    expect(r[2 * 4 + 3]).toBeCloseTo(Math.cos(2 / 100), 12);
  });

  test('rotary: the score of q at p and k at s depends on p - s only, and norms are kept', () => {
    const g = new Graph();
    const q = g.input('q', [6, 4]), k = g.input('k', [6, 4]);
    const qr = rotaryEmbedding(q), kr = rotaryEmbedding(k);
    // The same q and k at every position.
    const qv = [0.3, -1, 0.5, 2], kv = [1, 0.2, -0.7, 0.4];
    const r = evaluate(g, { q: Array(6).fill(qv).flat(), k: Array(6).fill(kv).flat() }, { qr, kr });
    const dot = (p: number, s: number) => [0, 1, 2, 3].reduce((a, j) => a + r.qr.data[p * 4 + j]! * r.kr.data[s * 4 + j]!, 0);
    expect(dot(3, 1)).toBeCloseTo(dot(5, 3), 12);
    expect(dot(4, 4)).toBeCloseTo(dot(0, 0), 12);
    expect(Math.hypot(...r.qr.data.slice(20, 24))).toBeCloseTo(Math.hypot(...qv), 12);
    expect(() => rotaryEmbedding(g.input('odd', [2, 3]))).toThrow(/must be even/);
  });

  test('positionEmbedding returns the first seq rows of a learned table', () => {
    const g = new Graph();
    const pos = positionEmbedding(8, { init: { name: 'uniform', low: 0, high: 1 } });
    const e = pos(g.input('x', [2, 5, 3]));
    expect(e.shape).toEqual([5, 3]);
    pos(g.input('y', [1, 8, 3]));
    expect([...g.params.keys()]).toEqual(['position_embedding_1/embeddings']);
    expect(() => pos(g.input('z', [1, 9, 3]))).toThrow(/longer than maxLength 8/);
  });
});

describe('Transformer layers', () => {
  test('encoder: PyTorch sub-layer names; pre- and post-norm; gradients', () => {
    for (const normFirst of [false, true]) {
      const g = new Graph({ seed: 2 });
      const x = g.input('x', [2, 3, 4]), pad = g.input('pad', [2, 3], 'bool');
      const enc = transformerEncoderLayer({ numHeads: 2, dimFeedforward: 6, dropout: 0.1, normFirst, activation: 'gelu' });
      const y = enc(x, { keyPaddingMask: pad });
      expect(y.shape).toEqual([2, 3, 4]);
      expect([...g.params.keys()].map((k) => k.replace(/\/(kernel|bias|gamma|beta)$/, '')).filter((k, i, a) => a.indexOf(k) === i)).toEqual([
        ...(normFirst ? ['transformer_encoder_layer_1/norm1'] : []),
        'transformer_encoder_layer_1/self_attention/query', 'transformer_encoder_layer_1/self_attention/key',
        'transformer_encoder_layer_1/self_attention/value', 'transformer_encoder_layer_1/self_attention/output',
        ...(normFirst ? [] : ['transformer_encoder_layer_1/norm1']),
        ...(normFirst ? ['transformer_encoder_layer_1/norm2'] : []),
        'transformer_encoder_layer_1/linear1', 'transformer_encoder_layer_1/linear2',
        ...(normFirst ? [] : ['transformer_encoder_layer_1/norm2']),
      ]);
      // Dropout is off in evaluation, so the gradient check sees the deterministic layer.
      expect(gradCheck(g, y, { x: values(24, 6), pad: Uint8Array.of(0, 0, 1, 0, 0, 0) }, { inputs: ['x'], params: [...g.params.keys()] }, { samples: 3 })).toBeGreaterThan(40);
    }
  });

  test('decoder: causal self-attention, cross-attention over memory, rms norms; gradients', () => {
    const g = new Graph({ seed: 3 });
    const x = g.input('x', [1, 3, 4]), mem = g.input('mem', [1, 2, 4]);
    const dec = transformerDecoderLayer({ numHeads: 2, dimFeedforward: 5, dropout: 0, norm: 'rms', normFirst: true, rotary: true });
    const y = dec(x, mem);
    expect(y.shape).toEqual([1, 3, 4]);
    expect([...g.params.keys()].filter((k) => k.includes('cross_attention/query/kernel') || k.endsWith('norm3/gamma'))).toEqual([
      'transformer_decoder_layer_1/cross_attention/query/kernel', 'transformer_decoder_layer_1/norm3/gamma',
    ]);
    // Causal: the first output step does not move when the last input step does.
    const a = values(12, 8), b = a.slice();
    b[9] = 3;
    const mv = values(8, 9);
    const ra = evaluate(g, { x: a, mem: mv }, { y }).y.data, rb = evaluate(g, { x: b, mem: mv }, { y }).y.data;
    for (let i = 0; i < 8; i++) expect(ra[i]).toBeCloseTo(rb[i]!, 12);
    expect(gradCheck(g, y, { x: a, mem: mv }, { inputs: ['x', 'mem'], params: [...g.params.keys()] }, { samples: 3 })).toBeGreaterThan(40);
  });
});
