/**
 * The WebAssembly SIMD GEMM of the CPU backend (packages/cpu/src/wasm): the committed module
 * bytes are what its text assembles to, and the engine computes C (+)= op(A) . op(B) against a
 * float64 reference on one thread and split over two (every call, so small shapes cross the
 * pool too): sizes that are not tile or block multiples, transposes, offsets, accumulation,
 * NaN and Inf, and no typed array made per call.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireWasmGemm, wasmFeatures, type WasmGemm } from '../../packages/cpu/src/wasm/gemm';
import { GEMM_BLOCKING } from '../../packages/cpu/src/wasm/gemm-wat';
import { renderGemmModules } from '../../packages/cpu/scripts/wasm-assemble';
import { compileWith, Graph } from '@kiln/core';
import { createCpuBackend, createGemmEngine } from '@kiln/cpu';
import { stillHeld, trackAllocations } from './observe';
import { expectClose, rand } from './plans';

const here = dirname(fileURLToPath(import.meta.url));

test('gemm.gen.ts is what gemm-wat.ts assembles to (run packages/cpu/scripts/gen-wasm.ts)', async () => {
  const committed = readFileSync(join(here, '../../packages/cpu/src/wasm/gemm.gen.ts'), 'utf8');
  expect(committed).toBe(await renderGemmModules());
});

test('this Node has f32x4 SIMD and shared memory for threads', () => {
  const f = wasmFeatures();
  expect(f.simd).toBe(true);
  expect(f.threads).toBe(true);
});

/** C = op(A) . op(B) (+ C) in float64, NaN and Inf as IEEE says. */
function reference(M: number, K: number, N: number, a: Float32Array, ao: number, ta: boolean, b: Float32Array, bo: number, tb: boolean, c: Float32Array, co: number, acc: boolean): Float64Array {
  const out = new Float64Array(c.length);
  out.set(c);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = acc ? c[co + i * N + j]! : 0;
    for (let k = 0; k < K; k++) s += a[ao + (ta ? k * M + i : i * K + k)]! * b[bo + (tb ? j * K + k : k * N + j)]!;
    out[co + i * N + j] = s;
  }
  return out;
}

const { mr, nr, kc } = GEMM_BLOCKING;
/** [M, K, N]: single cells, tile remainders on every side, K past one depth block. */
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [mr, 1, nr], [mr + 1, 3, nr - 1], [2 * mr - 1, 17, 3 * nr + 5], [3, kc + 3, 2],
  [37, 2 * kc + 1, 29], [64, 64, 64], [1, 300, 130], [130, 5, 1],
];

describe.each([
  ['one thread', 1],
  ['two threads, every call split', 2],
])('wasm GEMM, %s', (_, threads) => {
  let engine: WasmGemm;
  let release: () => void;
  beforeAll(() => ({ engine, release } = acquireWasmGemm({ threads, minFlopsPerThread: 0 })));
  afterAll(() => release());

  test.each(SHAPES)('%i x %i x %i, every transpose, accumulate, offsets', (M, K, N) => {
    for (const [ta, tb, acc] of [[false, false, false], [true, false, true], [false, true, false], [true, true, true]] as const) {
      const a = rand(M * K + 5, M + 1), b = rand(K * N + 3, K + 2), c = rand(M * N + 7, N + 3);
      const want = reference(M, K, N, a, 5, ta, b, 3, tb, c, 7, acc);
      engine.gemm(M, K, N, a, 5, ta, b, 3, tb, c, 7, acc);
      expectClose(c, Float32Array.from(want), 1e-5, 1e-4);
      // Split along the longer side in whole tiles: two threads when each gets one.
      const len = M <= N ? N : M, tile = M <= N ? nr : mr;
      expect(engine.lastThreads).toBe(threads === 2 && len >= 2 * tile ? 2 : 1);
    }
  });

  test('NaN and Inf propagate to exactly the cells they reach', () => {
    const M = 9, K = 6, N = 11;
    const a = rand(M * K, 1), b = rand(K * N, 2);
    a[2 * K + 3] = NaN; // row 2
    a[5 * K + 1] = Infinity; // row 5: +-Inf, or NaN where a B value is 0
    b[4 * N + 7] = -Infinity; // column 7
    b[1 * N + 10] = 0;
    const c = new Float32Array(M * N);
    engine.gemm(M, K, N, a, 0, false, b, 0, false, c, 0, false);
    const want = reference(M, K, N, a, 0, false, b, 0, false, c, 0, false);
    expectClose(c, Float32Array.from(want), 1e-5, 1e-4);
    expect(Number.isNaN(c[2 * N]!)).toBe(true);
    expect(Number.isNaN(c[5 * N + 10]!)).toBe(true);
    expect(c[5 * N]).toBe(b[N]! > 0 ? Infinity : -Infinity);
  });

  test('N past one column block', () => {
    const M = 5, K = 7, N = GEMM_BLOCKING.nc + 13;
    const a = rand(M * K, 3), b = rand(K * N, 4), c = new Float32Array(M * N);
    engine.gemm(M, K, N, a, 0, false, b, 0, true, c, 0, false);
    expectClose(c, Float32Array.from(reference(M, K, N, a, 0, false, b, 0, true, c, 0, false)), 1e-5, 1e-4);
  });

  test.each([
    ['3x3, pad 1', { C: 3, H: 7, W: 6, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1 }],
    ['stride 2, uneven pad, dilation 2', { C: 2, H: 9, W: 8, KH: 3, KW: 2, sh: 2, sw: 2, pt: 2, pl: 0, pb: 1, pr: 3, dh: 1, dw: 2 }],
  ] as const)('im2col in wasm + GEMM = conv2d (%s), accumulate; and its filter gradient', (_, p) => {
    const OH = Math.floor((p.H + p.pt + p.pb - p.dh * (p.KH - 1) - 1) / p.sh) + 1;
    const OW = Math.floor((p.W + p.pl + p.pr - p.dw * (p.KW - 1) - 1) / p.sw) + 1;
    const g = { ...p, OH, OW, Cg: p.C }, O = 5, n = 3, n0 = 1, cnt = 2, K = p.C * p.KH * p.KW, P = OH * OW;
    const x = rand(n * p.C * p.H * p.W, 7), w = rand(O * K, 8), c = rand(O * cnt * P, 9);
    const want = new Float64Array(c);
    for (let o = 0; o < O; o++) for (let nn = 0; nn < cnt; nn++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
      let s = 0;
      for (let ch = 0; ch < p.C; ch++) for (let ky = 0; ky < p.KH; ky++) for (let kx = 0; kx < p.KW; kx++) {
        const iy = oy * p.sh - p.pt + ky * p.dh, ix = ox * p.sw - p.pl + kx * p.dw;
        if (iy >= 0 && iy < p.H && ix >= 0 && ix < p.W) s += w[o * K + (ch * p.KH + ky) * p.KW + kx]! * x[(((n0 + nn) * p.C + ch) * p.H + iy) * p.W + ix]!;
      }
      want[o * cnt * P + nn * P + oy * OW + ox]! += s;
    }
    engine.gemmIm2col(O, w, 0, x, n0 * p.C * p.H * p.W, g, cnt, 0, c, 0, true);
    expectClose(c, Float32Array.from(want), 1e-5, 1e-4);
    // The filter gradient: dW[O, K] = dY[O, cnt*P] . cols^T (transposeCols).
    const dy = rand(O * cnt * P, 10), dw = new Float32Array(O * K), wantDw = new Float64Array(O * K);
    for (let o = 0; o < O; o++) for (let ch = 0; ch < p.C; ch++) for (let ky = 0; ky < p.KH; ky++) for (let kx = 0; kx < p.KW; kx++) {
      let s = 0;
      for (let nn = 0; nn < cnt; nn++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
        const iy = oy * p.sh - p.pt + ky * p.dh, ix = ox * p.sw - p.pl + kx * p.dw;
        if (iy >= 0 && iy < p.H && ix >= 0 && ix < p.W) s += dy[o * cnt * P + nn * P + oy * OW + ox]! * x[(((n0 + nn) * p.C + ch) * p.H + iy) * p.W + ix]!;
      }
      wantDw[o * K + (ch * p.KH + ky) * p.KW + kx] = s;
    }
    engine.gemmIm2col(O, dy, 0, x, n0 * p.C * p.H * p.W, g, cnt, 0, dw, 0, false, true);
    expectClose(dw, Float32Array.from(wantDw), 1e-5, 1e-4);
  });

  test('1,000 calls make no typed array', async () => {
    const M = 33, K = 40, N = 50;
    const a = rand(M * K, 5), b = rand(K * N, 6), c = new Float32Array(M * N);
    engine.gemm(M, K, N, a, 0, false, b, 0, false, c, 0, false); // warm: memory grown once
    const { allocations } = await trackAllocations(() => {
      for (let i = 0; i < 1000; i++) engine.gemm(M, K, N, a, 0, i % 2 === 1, b, 0, false, c, 0, i % 3 === 0);
    });
    expect(allocations).toEqual([]);
  });
});

describe('GEMM engine', () => {
  test('zero-size GEMMs take no wasm call; one engine per configuration, shared and released', () => {
    const e1 = createGemmEngine('wasm', { threads: 2 }), e2 = createGemmEngine('wasm', { threads: 2 });
    expect(e1.prepare(0, 3, 4).lastPath()).toBe('js');
    const call = e1.prepare(4, 3, 5);
    const c = new Float32Array(20);
    call.run(rand(12, 1), 0, rand(15, 2), 0, c, 0, false);
    expect(call.lastPath()).toMatch(/^wasm(-relaxed)?x1$/); // 120 flops: not worth a thread
    e1.dispose();
    e2.prepare(4, 3, 5).run(rand(12, 1), 0, rand(15, 2), 0, c, 0, false); // still alive for e2
    e2.dispose();
  });
});

test('1,000 SGD steps of a conv + dense model on wasm GEMMs split over two threads keep no array and grow no memory', async () => {
  const backend = await createCpuBackend({ mode: 'wasm', threads: 2, minFlopsPerThread: 0 });
  const g = new Graph({ seed: 4 });
  const x = g.input('x', [6, 1, 6, 6]), y = g.input('y', [6], 'i32');
  const w1 = g.param('w1', [3, 1, 3, 3], { init: 'glorotUniform' }), w2 = g.param('w2', [108, 4], { init: 'glorotUniform' });
  const h = x.conv2d(w1, { padding: 1 }).relu().reshape([6, 108]);
  const loss = h.matmul(w2).softmaxCrossEntropy(y).mean();
  const grads = g.grad(loss, [w1, w2]);
  [w1, w2].forEach((w, i) => g.assign(w, w.sub(grads[i]!.mul(0.2))));
  const exe = await compileWith(g, backend);
  const feeds = { x: rand(6 * 36, 11), y: Int32Array.of(0, 1, 2, 3, 0, 1) };
  const first = (await exe.run(feeds, { loss }, { train: true })).loss.data[0]!;
  const bytes = backend.stats.allocatedBytes;
  const shared = acquireWasmGemm({ threads: 2, minFlopsPerThread: 0 }); // the backend's engine
  const wasmBytes = shared.engine.bytes;
  let last = first;
  const { allocations } = await trackAllocations(async () => {
    for (let i = 0; i < 999; i++) last = (await exe.run(feeds, { loss }, { train: true })).loss.data[0]!;
  });
  // Per-run copies (feeds, fetches) are garbage: at most the last runs' results are still referenced.
  const held = await stillHeld(allocations);
  expect(held.length).toBeLessThanOrEqual(2); // not one per step
  expect(backend.stats.allocatedBytes).toBe(bytes);
  expect(shared.engine.bytes).toBe(wasmBytes);
  shared.release();
  expect(last).toBeLessThan(first / 4); // it trained
  await exe.dispose();
  backend.dispose();
}, 60_000);
