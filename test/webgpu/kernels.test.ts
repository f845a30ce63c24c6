// Kernel families against JavaScript/float64 references: both GEMM kernels (odd sizes,
// transposes, broadcast batches, convolutions), tree and two-pass reductions, long argMax rows,
// atomic scatterAdd, and an elementwise dispatch folded past 65,535 workgroups.
import { compileWith, E, evaluate, Graph, type Tensor } from '@kiln/core';
import type { WebGPUBackend } from '@kiln/webgpu';
import { foldGrid } from '../../packages/webgpu/src/kernel';
import { describeGpu, expectClose, numel, PlanBuilder, rand, runPlan, useBackend } from './support';

function matmulRef(a: Float32Array, b: Float32Array, M: number, K: number, N: number, ta: boolean, tb: boolean): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[ta ? k * M + i : i * K + k]! * b[tb ? j * K + k : k * N + j]!;
    out[i * N + j] = s;
  }
  return out;
}

/** Run a graph on the backend and on the float64 evaluator; compare. */
async function parity(backend: WebGPUBackend, g: Graph, feeds: Record<string, Float32Array | Int32Array>, out: Tensor, atol = 1e-4, rtol = 1e-4) {
  const want = evaluate(g, feeds, { out }).out;
  const exe = await compileWith(g, backend);
  try {
    const got = (await exe.run(feeds, { out })).out;
    expect(got.shape).toEqual(want.shape);
    expectClose(got.data, want.data, atol, rtol);
  } finally {
    await exe.dispose();
  }
}

for (const gemm of ['subgroup', 'tiled'] as const) {
  describeGpu(`GEMM kernels (${gemm})`, () => {
    const backend = useBackend({ gemm });

    const cases: [number, number, number, boolean, boolean][] = [
      [1, 1, 1, false, false], [7, 13, 5, false, false], [13, 7, 5, true, false], [7, 13, 5, false, true], [13, 7, 5, true, true],
      [33, 70, 65, false, false], [64, 64, 64, false, false], [1, 70, 1, false, false], [130, 67, 129, true, true], [5, 9, 200, false, true],
    ];
    test.each(cases)('matmul M=%d K=%d N=%d transposeA=%s transposeB=%s', async (M, K, N, ta, tb) => {
      const a = rand(M * K, M * 31 + K), b = rand(K * N, N * 17 + K);
      const p = new PlanBuilder();
      const fa = p.feed('a', ta ? [K, M] : [M, K]), fb = p.feed('b', tb ? [N, K] : [K, N]);
      p.fetch('c', p.op('matmul', [fa, fb], [M, N], 'f32', { transposeA: ta, transposeB: tb }));
      const got = (await runPlan(backend(), p.build(), { a, b })).c!;
      expectClose(got, matmulRef(a, b, M, K, N, ta, tb), 1e-4, 1e-4);
    });

    test('batched matmul with broadcast batch dims', async () => {
      const g = new Graph({ seed: 1 });
      const a = g.input('a', [3, 1, 9, 6]), b = g.input('b', [2, 6, 11]);
      await parity(backend(), g, { a: rand(3 * 9 * 6, 2), b: rand(2 * 6 * 11, 3) }, a.matmul(b));
    });

    test('NaN and Inf in one operand reach only the outputs that read them', async () => {
      const a = Float32Array.of(1, 2, NaN, 4, 5, 6), b = Float32Array.of(1, 0, 0, Infinity, 0, 1);
      const p = new PlanBuilder();
      p.fetch('c', p.op('matmul', [p.feed('a', [2, 3]), p.feed('b', [3, 2])], [2, 2], 'f32'));
      const got = (await runPlan(backend(), p.build(), { a, b })).c!;
      expect(Array.from(got)).toEqual([NaN, NaN, 4, Infinity]);
    });

    test('conv2d with stride, padding, dilation and groups; its two adjoints', async () => {
      const g = new Graph({ seed: 1 });
      const x = g.input('x', [2, 4, 9, 8]), w = g.input('w', [6, 2, 3, 3]);
      const y = x.conv2d(w, { stride: 2, padding: [1, 2], dilation: [1, 2], groups: 2 });
      const dy = g.input('dy', y.shape as number[]);
      const feeds = { x: rand(2 * 4 * 9 * 8, 5), w: rand(6 * 2 * 9, 6), dy: rand(numel(y.shape as number[]), 7) };
      const [dx, dw] = g.grad(y, [x, w], dy);
      await parity(backend(), g, feeds, y);
      await parity(backend(), g, feeds, dx!);
      await parity(backend(), g, feeds, dw!);
    });
  });
}

describeGpu('reductions, argMax, scatterAdd', () => {
  const backend = useBackend();

  test('sum over long rows: tree and two-pass (partials) kernels', async () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [3, 20000]);
    const feeds = { x: rand(60000, 9) };
    await parity(backend(), g, feeds, x.sum({ axes: [1] }), 1e-3, 1e-4);
    await parity(backend(), g, feeds, x.max({ axes: [1] }));
    await parity(backend(), g, feeds, x.sum(), 1e-2, 1e-4);
  });

  test('reduction over leading and middle axes, i32 sums', async () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [300, 7, 5]);
    const n = g.input('n', [4, 500], 'i32');
    const feeds = { x: rand(300 * 35, 4), n: Int32Array.from(rand(2000, 5), (v) => Math.round(v * 1000)) };
    await parity(backend(), g, feeds, x.sum({ axes: [0, 2] }), 1e-3);
    await parity(backend(), g, feeds, x.min({ axes: [0] }));
    await parity(backend(), g, feeds, n.sum({ axes: [1] }), 0, 0);
  });

  test('max reduction keeps NaN whichever partial holds it', async () => {
    const data = rand(5000, 3);
    data[4321] = NaN;
    const p = new PlanBuilder();
    p.fetch('m', p.op('max', [p.feed('x', [5000])], [], 'f32', { axes: [0] }));
    expect(Array.from((await runPlan(backend(), p.build(), { x: data })).m!)).toEqual([NaN]);
  });

  test('argMax/argMin over a long axis: first extremum, NaN wins', async () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [3, 4099]);
    const data = rand(3 * 4099, 8);
    data[4099 + 77] = 5; data[4099 + 2000] = 5; // a tie: the first wins
    data[2 * 4099 + 10] = NaN;
    await parity(backend(), g, { x: data }, x.argMax({ axis: 1 }), 0, 0);
    await parity(backend(), g, { x: data }, x.argMin({ axis: 1 }), 0, 0);
  });

  test('scatterAdd: deterministic loop and atomic kernels, f32 and i32', async () => {
    for (const [len, k] of [[10, 20], [400, 300]] as const) {
      // Indices the graph computes (i - 1), some out of range: fed ones would be refused as a
      // FeedError before the kernel ran, computed ones are dropped by the kernel.
      const idx = Int32Array.from({ length: k }, (_, i) => (i * 7919) % (len + 3));
      const u = rand(k * 3, len);
      const g = new Graph({ seed: 1 });
      const ui = g.input('u', [k, 3]), ii = g.input('i', [k], 'i32');
      await parity(backend(), g, { u, i: idx }, ui.scatterAdd(ii.sub(1), { axis: 0, size: len }), 1e-5, 1e-5);
      const g2 = new Graph({ seed: 1 });
      const un = g2.input('u', [k, 3], 'i32'), in2 = g2.input('i', [k], 'i32');
      await parity(backend(), g2, { u: Int32Array.from(u, (v) => Math.round(v * 100)), i: idx }, un.scatterAdd(in2.sub(1), { axis: 0, size: len }), 0, 0);
    }
  });
});

describeGpu('dispatch folding', () => {
  const backend = useBackend();

  test('grids past the per-dimension limit fold into 2-D/3-D', () => {
    expect(foldGrid([100, 2, 3], 65535, 'k')).toEqual([100, 2, 3]);
    expect(foldGrid([65536, 1, 1], 65535, 'k')).toEqual([65535, 2, 1]);
    const [x, y, z] = foldGrid([70000, 70000, 1], 65535, 'k');
    expect(x * y * z).toBeGreaterThanOrEqual(70000 * 70000);
    expect(Math.max(x, y, z)).toBeLessThanOrEqual(65535);
  });

  test('an elementwise op over 65,535 x 256 + 1 elements writes every element once', async () => {
    const n = 65535 * 256 + 1;
    const p = new PlanBuilder();
    const s = p.feed('s', [1], 'i32');
    p.fetch('y', p.elementwise(E.add(E.cast(E.index(), 'i32'), E.arg(0, 'i32')), [s], [n], 'i32'));
    const program = await backend().lower(p.build());
    try {
      expect((program as unknown as { kernels: { grid: number[] }[] }).kernels[0]!.grid[0]).toBe(65536);
      const y = (await program.run(new Map([[s.buf, Int32Array.of(3)]]), [1], { step: 0 })).outputs.get(1)!;
      let bad = -1;
      for (let i = 0; i < n; i++) if (y[i] !== i + 3) { bad = i; break; }
      expect(bad).toBe(-1);
    } finally {
      program.dispose();
    }
  });
});
