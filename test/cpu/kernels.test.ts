/**
 * Every kernel family of the CPU backend on hand-built plans, against the primitives' float64
 * references: odd sizes, broadcasting, transposes, broadcast batch dims, strides, padding,
 * dilation, groups. GEMM families run in every formulation (JavaScript tiles, WebAssembly SIMD, gpu.js webasm).
 */
import { type Backend, type DType, E, type PlanOperand, type KernelPrimitive, type PrimitiveName, type RefValue, spec, type TypedArray } from '@kiln/core';
import { createCpuBackend, type CpuMode } from '@kiln/cpu';
import { expectClose, numel, PlanBuilder, rand, ref, refOp } from './plans';

const x0 = E.arg(0, 'f32'), x1 = E.arg(1, 'f32');
const backends = new Map<string, Backend>();
async function backend(mode: CpuMode): Promise<Backend> {
  let b = backends.get(mode);
  if (!b) { b = await createCpuBackend({ mode }); backends.set(mode, b); }
  return b;
}
afterAll(async () => { for (const b of backends.values()) await b.dispose(); });

interface In { shape: number[]; dtype?: DType; data?: ArrayLike<number> }

function values(inp: In, seed: number): TypedArray {
  const n = numel(inp.shape);
  const dtype = inp.dtype ?? 'f32';
  const src = inp.data ?? (dtype === 'f32' ? rand(n, seed) : Array.from(rand(n, seed), (v) => (dtype === 'bool' ? +(v > 0) : Math.round(v * 6))));
  return dtype === 'f32' ? Float32Array.from(src) : dtype === 'i32' ? Int32Array.from(src) : Uint8Array.from(src);
}

/** Run one op step on the backend and compare with the op's reference. */
async function checkOp(op: KernelPrimitive, inputs: In[], attrs: Record<string, unknown> = {}, mode: CpuMode = 'cpu', tol = { atol: 1e-5, rtol: 1e-5 }): Promise<void> {
  const b = new PlanBuilder();
  const data = inputs.map((x, k) => values(x, 17 + k * 101));
  const ops = inputs.map((x, k) => b.feed(`x${k}`, x.shape, x.dtype ?? 'f32'));
  const out = b.op(op, ops, attrs);
  b.fetch('out', out);
  const program = await (await backend(mode)).lower(b.build());
  try {
    const feeds = new Map(ops.map((o, k) => [o.buf, data[k]!] as const));
    const got = (await program.run(feeds, [out.buf], { step: 0 })).outputs.get(out.buf)!;
    const want = refOp(op, inputs.map((x, k) => ref(data[k]!, x.shape, x.dtype ?? 'f32')), attrs);
    const wantStored = out.dtype === 'f32' ? Float32Array.from(want) : out.dtype === 'i32' ? Int32Array.from(want) : want; // i32 stores wrap
    expect(got.constructor).toBe(out.dtype === 'f32' ? Float32Array : out.dtype === 'i32' ? Int32Array : Uint8Array);
    expectClose(got, wantStored, tol.atol, tol.rtol);
  } finally {
    program.dispose();
  }
}

/** One elementwise op (a spec expression) over broadcast inputs. */
async function checkElementwise(op: PrimitiveName, inputs: In[], attrs: Record<string, unknown> = {}): Promise<void> {
  const s = spec(op);
  const parsed = s.attrs.parse(attrs) as Record<string, unknown>;
  const t = s.infer(inputs.map((x) => ({ shape: x.shape, dtype: x.dtype ?? 'f32' })), parsed);
  const b = new PlanBuilder();
  const data = inputs.map((x, k) => values(x, 5 + k * 31));
  const ops = inputs.map((x, k) => b.feed(`x${k}`, x.shape, x.dtype ?? 'f32'));
  const expr = s.expr!(ops.map((o, k) => E.arg(k, o.dtype)), parsed, t.dtype);
  const out = b.elementwise(expr, ops, t.shape as number[], t.dtype);
  b.fetch('out', out);
  const program = await (await backend('cpu')).lower(b.build());
  const got = (await program.run(new Map(ops.map((o, k) => [o.buf, data[k]!] as const)), [out.buf], { step: 3 })).outputs.get(out.buf)!;
  program.dispose();
  const want = s.ref(inputs.map((x, k) => ref(data[k]!, x.shape, x.dtype ?? 'f32')), parsed, { out: { shape: t.shape as number[], dtype: t.dtype }, step: 3 });
  expectClose(got, t.dtype === 'f32' ? Float32Array.from(want) : want, 1e-6, 1e-5);
}

describe('elementwise', () => {
  test.each([
    ['add', [[7, 5], [5]]], ['sub', [[3, 1, 4], [2, 1]]], ['mul', [[], [3, 2]]], ['div', [[2, 3, 5], [2, 1, 5]]],
    ['maximum', [[1, 33], [33]]], ['pow', [[4, 3], [1]]], ['sigmoid', [[2, 3, 4, 5, 3]]], ['tanh', [[300]]],
    ['gelu', [[9, 7]]], ['softplus', [[65]]], ['leakyRelu', [[5, 5]]], ['sign', [[3, 3]]],
  ] as [PrimitiveName, number[][]][])('%s %j', async (op, shapes) => {
    await checkElementwise(op, shapes.map((shape) => ({ shape })), op === 'leakyRelu' ? { alpha: 0.1 } : {});
  });

  test('i32 arithmetic and comparisons give i32 / bool', async () => {
    await checkElementwise('add', [{ shape: [4, 3], dtype: 'i32' }, { shape: [3], dtype: 'i32' }]);
    await checkElementwise('div', [{ shape: [6], dtype: 'i32', data: [7, -7, 7, -9, 0, 5] }, { shape: [6], dtype: 'i32', data: [2, 2, 0, 4, 0, -5] }]);
    await checkElementwise('less', [{ shape: [2, 3] }, { shape: [3] }]);
    await checkElementwise('where', [{ shape: [3, 1], dtype: 'bool' }, { shape: [4] }, { shape: [3, 4] }]);
    await checkElementwise('logicalAnd', [{ shape: [5], dtype: 'bool' }, { shape: [1], dtype: 'bool' }]);
    await checkElementwise('cast', [{ shape: [8], data: [1.5, -2.5, NaN, Infinity, 3e9, -0.5, 0, 7] }], { dtype: 'i32' });
    // NOTE: NaN is left out: core's cast expression says NaN -> true (NaN != 0), its reference false.
    await checkElementwise('cast', [{ shape: [4], data: [0, 2, -1, 0.5] }], { dtype: 'bool' });
  });

  test('NaN and Inf flow through a fused kernel', async () => {
    await checkElementwise('maximum', [{ shape: [4], data: [NaN, 1, -Infinity, 2] }, { shape: [4], data: [0, NaN, -1, Infinity] }]);
    await checkElementwise('log', [{ shape: [3], data: [-1, 0, Infinity] }]);
  });

  test('rank 0..5 and size-0 outputs', async () => {
    for (const shape of [[], [1], [3, 1, 2], [2, 1, 3, 1, 2], [2, 3, 1, 2, 3]]) await checkElementwise('exp', [{ shape }]);
    await checkElementwise('add', [{ shape: [0, 3] }, { shape: [3] }]);
  });

  test('past 65,535 x 256 elements: a broadcast add + relu', async () => {
    const n = 65535 * 256 + 1;
    const b = new PlanBuilder();
    const x = b.feed('x', [n]), c = b.feed('c', [1]);
    const out = b.elementwise(E.select(E.lt(E.add(x0, x1), E.lit(0)), E.lit(0), E.add(x0, x1)), [x, c], [n], 'f32');
    b.fetch('out', out);
    const p = await (await backend('cpu')).lower(b.build());
    const xd = new Float32Array(n);
    for (let i = 0; i < n; i++) xd[i] = (i % 1000) / 500 - 1;
    const got = (await p.run(new Map([[x.buf, xd], [c.buf, Float32Array.of(-0.25)]]), [out.buf], { step: 0 })).outputs.get(out.buf)! as Float32Array;
    p.dispose();
    for (let i = 0; i < n; i += 997) expect(got[i]).toBe(Math.fround(Math.max(0, xd[i]! - 0.25)));
    expect(got[n - 1]).toBe(Math.fround(Math.max(0, xd[n - 1]! - 0.25)));
  });

  test('random draws match the reference for this run counter and index', async () => {
    for (const dist of ['uniform', 'normal']) await checkElementwise('random', [], { shape: [3, 37], dist, a: -2, b: 3, seed: 7 });
  });

  test('a fused multi-op expression with shared nodes and hoisted broadcast loads', async () => {
    const b = new PlanBuilder();
    const x = b.feed('x', [5, 7]), r = b.feed('r', [5, 1]), c = b.feed('c', []);
    const ex = E.exp(E.sub(E.arg(0, 'f32'), E.arg(1, 'f32')));
    const expr = E.mul(E.add(ex, ex), E.arg(2, 'f32'));
    const out = b.elementwise(expr, [x, r, c], [5, 7], 'f32');
    b.fetch('out', out);
    const p = await (await backend('cpu')).lower(b.build());
    const xd = rand(35, 1), rd = rand(5, 2), cd = Float32Array.of(0.25);
    const got = (await p.run(new Map([[x.buf, xd], [r.buf, rd], [c.buf, cd]]), [out.buf], { step: 0 })).outputs.get(out.buf)!;
    p.dispose();
    const want = Float32Array.from({ length: 35 }, (_, i) => 2 * Math.exp(xd[i]! - rd[Math.floor(i / 7)]!) * 0.25);
    expectClose(got, want);
  });
});

describe('reductions', () => {
  test.each([
    ['sum', [5, 7, 3], { axes: [1] }], ['sum', [5, 7, 3], { axes: [0, 2], keepDims: true }], ['sum', [130], {}],
    ['max', [4, 9], { axes: [0] }], ['min', [3, 4, 5], { axes: [-1] }], ['prod', [3, 5], { axes: [1] }],
    ['sum', [2, 3, 4, 5], { axes: [1, 3] }], ['max', [1, 1], {}], ['sum', [4, 0, 3], { axes: [1] }],
  ] as [KernelPrimitive, number[], Record<string, unknown>][])('%s %j %j', async (op, shape, attrs) => {
    await checkOp(op, [{ shape }], attrs);
  });

  test('i32 sums and NaN in max/min', async () => {
    await checkOp('sum', [{ shape: [3, 4], dtype: 'i32' }], { axes: [0] });
    await checkOp('max', [{ shape: [2, 3], data: [1, NaN, 3, 4, 5, -Infinity] }], { axes: [1] });
    await checkOp('min', [{ shape: [2, 3], dtype: 'i32', data: [1, -7, 3, 4, 5, 6] }], {});
  });

  // Contiguous reduced runs of 8 or more elements use 4 accumulators and a tail loop.
  test.each([
    ['sum', [3, 8]], ['sum', [2, 13]], ['max', [5, 9]], ['min', [4, 11]], ['prod', [2, 10]], ['sum', [1031]], ['max', [2, 3, 16]],
  ] as [KernelPrimitive, number[]][])('4-lane reduction %s %j over the last axis', async (op, shape) => {
    await checkOp(op, [{ shape }], op === 'sum' && shape.length === 1 ? {} : { axes: [shape.length - 1] });
  });

  test('4-lane reductions: NaN or Inf in each lane and in the tail, i32 wrap', async () => {
    for (let at = 0; at < 9; at++) {
      for (const special of [NaN, Infinity, -Infinity]) {
        const data = Array.from({ length: 9 }, (_, i) => (i === at ? special : i - 4.5));
        for (const op of ['sum', 'max', 'min'] as KernelPrimitive[]) await checkOp(op, [{ shape: [9], data }], {});
      }
    }
    await checkOp('sum', [{ shape: [2, 9], dtype: 'i32', data: Array.from({ length: 18 }, (_, i) => (i % 3 ? 2 ** 30 : -7)) }], { axes: [1] });
    await checkOp('prod', [{ shape: [10], dtype: 'i32', data: [3, 65537, 7, -5, 9, 11, 13, 2, 17, 1] }], {}); // past 2^31, within 2^53
  });

  test('argMax/argMin: first extremum, NaN wins, any axis', async () => {
    await checkOp('argMax', [{ shape: [2, 4], data: [1, 3, 3, 0, NaN, 5, NaN, 9] }], { axis: 1 });
    await checkOp('argMin', [{ shape: [3, 4, 5] }], { axis: 1 });
    await checkOp('argMax', [{ shape: [6, 5], dtype: 'i32' }], { axis: 0, keepDims: true });
  });
});

describe.each(['cpu', 'wasm', 'webasm'] as CpuMode[])('matmul (%s)', (mode) => {
  const tol = mode !== 'cpu' ? { atol: 1e-5, rtol: 1e-4 } : { atol: 1e-5, rtol: 1e-5 };
  test.each([
    [[7, 5], [5, 9], {}], [[13, 3], [3, 6], {}], [[1, 1], [1, 1], {}],
    [[5, 7], [5, 9], { transposeA: true }], [[7, 5], [9, 5], { transposeB: true }], [[5, 7], [9, 5], { transposeA: true, transposeB: true }],
    [[2, 3, 6, 5], [5, 7], {}], [[3, 1, 4, 5], [2, 5, 6], {}], [[2, 5, 4], [1, 6, 5], { transposeA: true, transposeB: true }],
    [[6, 0], [0, 3], {}],
  ] as [number[], number[], Record<string, unknown>][])('%j x %j %j', async (a, b, attrs) => {
    await checkOp('matmul', [{ shape: a }, { shape: b }], attrs, mode, tol);
  });

  test('a GEMM large enough for worker threads (64 x 40 x 260)', async () => {
    await checkOp('matmul', [{ shape: [64, 40] }, { shape: [40, 260] }], {}, mode, tol);
  });
});

describe('movement', () => {
  test('transpose, broadcastTo, slice, pad', async () => {
    await checkOp('transpose', [{ shape: [2, 3, 5] }], { perm: [2, 0, 1] });
    await checkOp('transpose', [{ shape: [4, 1, 3, 2, 3] }], { perm: [4, 1, 3, 0, 2] });
    await checkOp('broadcastTo', [{ shape: [3, 1] }], { shape: [2, 3, 5] });
    await checkOp('slice', [{ shape: [5, 6, 7] }], { begin: [1, 0, 2], size: [3, -1, 4] });
    await checkOp('pad', [{ shape: [3, 4] }], { pads: [[1, 2], [0, 3]], value: -7 });
    await checkOp('pad', [{ shape: [2, 3, 2], dtype: 'i32' }], { pads: [[0, 0], [2, 1], [1, 1]], value: 5 });
    await checkOp('transpose', [{ shape: [3, 4], dtype: 'bool' }], {});
  });

  test('concat, gather (out-of-range reads 0), scatterAdd (duplicates sum, out-of-range dropped)', async () => {
    const b = new PlanBuilder();
    const xs = [b.feed('a', [2, 3, 4]), b.feed('b', [2, 1, 4]), b.feed('c', [2, 5, 4])];
    const out = b.op('concat', xs, { axis: 1 });
    b.fetch('out', out);
    const p = await (await backend('cpu')).lower(b.build());
    const d = xs.map((x, k) => rand(numel(x.shape), k + 1));
    const got = (await p.run(new Map(xs.map((x, k) => [x.buf, d[k]!] as const)), [out.buf], { step: 0 })).outputs.get(out.buf)!;
    p.dispose();
    expectClose(got, Float32Array.from(refOp('concat', xs.map((x, k) => ref(d[k]!, x.shape)), { axis: 1 })));
    await checkOp('gather', [{ shape: [5, 3] }, { shape: [2, 3], dtype: 'i32', data: [4, 0, 9, -1, 2, 2] }], { axis: 0 });
    await checkOp('gather', [{ shape: [2, 6, 3] }, { shape: [4], dtype: 'i32', data: [5, 1, 1, 0] }], { axis: 1 });
    await checkOp('scatterAdd', [{ shape: [2, 4, 3] }, { shape: [4], dtype: 'i32', data: [1, 1, 7, 0] }], { axis: 1, size: 3 });
    await checkOp('scatterAdd', [{ shape: [3, 2], dtype: 'i32' }, { shape: [3], dtype: 'i32', data: [2, 2, 0] }], { axis: 0, size: 4 });
  });
});

describe.each(['cpu', 'wasm', 'webasm'] as CpuMode[])('convolution (%s)', (mode) => {
  const tol = { atol: 1e-4, rtol: 1e-4 };
  const conv = (stride: number[], padding: number[], dilation: number[], groups: number) => ({ stride, padding, dilation, groups });
  test.each([
    [[2, 3, 7, 6], [4, 3, 3, 3], conv([1, 1], [0, 0, 0, 0], [1, 1], 1)],
    [[1, 4, 9, 8], [6, 2, 3, 2], conv([2, 1], [1, 2, 0, 1], [1, 2], 2)],
    [[3, 2, 5, 5], [2, 2, 1, 1], conv([1, 1], [0, 0, 0, 0], [1, 1], 1)],
  ] as [number[], number[], ReturnType<typeof conv>][])('conv2d %j * %j', async (x, w, attrs) => {
    await checkOp('conv2d', [{ shape: x }, { shape: w }], attrs, mode, tol);
    // Its two adjoints, with shapes taken from the forward op.
    const y = spec('conv2d').infer([{ shape: x, dtype: 'f32' }, { shape: w, dtype: 'f32' }], attrs).shape as number[];
    await checkOp('conv2dBackpropFilter', [{ shape: x }, { shape: y }], { ...attrs, filterShape: w }, mode, tol);
    const full = (o: number, k: number, s: number, lo: number, hi: number, d: number) => (o - 1) * s - lo - hi + d * (k - 1) + 1;
    const outputPadding = [x[2]! - full(y[2]!, w[2]!, attrs.stride[0]!, attrs.padding[0]!, attrs.padding[1]!, attrs.dilation[0]!), x[3]! - full(y[3]!, w[3]!, attrs.stride[1]!, attrs.padding[2]!, attrs.padding[3]!, attrs.dilation[1]!)];
    await checkOp('conv2dTranspose', [{ shape: y }, { shape: w }], { ...attrs, outputPadding }, mode, tol);
  });

  test('many images per chunk, and a chunk remainder', async () => {
    await checkOp('conv2d', [{ shape: [5, 1, 4, 4] }, { shape: [2, 1, 2, 2] }], conv([1, 1], [1, 1, 1, 1], [1, 1], 1), mode, tol);
    // Five images in one chunk: the filter gradient gathers dY per group (wasm) or transposes it ...
    await checkOp('conv2dBackpropFilter', [{ shape: [5, 4, 4, 4] }, { shape: [5, 6, 5, 5] }], { ...conv([1, 1], [1, 1, 1, 1], [1, 1], 2), filterShape: [6, 2, 2, 2] }, mode, tol);
    // ... and the input gradient gathers X per group (and, with two groups, accumulates into y).
    await checkOp('conv2dTranspose', [{ shape: [5, 6, 5, 5] }, { shape: [6, 2, 2, 2] }], { ...conv([1, 1], [1, 1, 1, 1], [1, 1], 2), outputPadding: [0, 0] }, mode, tol);
    await checkOp('conv2dTranspose', [{ shape: [5, 6, 5, 5] }, { shape: [6, 4, 2, 2] }], { ...conv([1, 1], [1, 1, 1, 1], [1, 1], 1), outputPadding: [0, 0] }, mode, tol);
  });
});

describe('pooling', () => {
  test('maxPool2d and its gradient, with padding, stride, NaN and ties', async () => {
    const attrs = { kernel: [3, 2], stride: [2, 2], padding: [1, 1, 0, 1] };
    await checkOp('maxPool2d', [{ shape: [2, 3, 7, 6] }], attrs);
    const x = { shape: [1, 1, 4, 4], data: [1, 1, 2, NaN, 0, 3, 3, 1, 5, 5, 0, 0, 4, 2, 8, 8] };
    await checkOp('maxPool2d', [x], { kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0] });
    await checkOp('maxPool2dGrad', [x, { shape: [1, 1, 3, 2] }], { kernel: [2, 2], stride: [1, 2], padding: [0, 0, 0, 0] });
    await checkOp('maxPool2dGrad', [{ shape: [2, 3, 7, 6] }, { shape: [2, 3, 4, 3] }], attrs);
  });
});

export type { PlanOperand, RefValue };
