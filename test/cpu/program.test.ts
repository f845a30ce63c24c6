/**
 * The CPU backend's executor: params resident across runs and programs, assigns applied after
 * fetches, temps sharing slots across dtypes, memory flat over many runs, profiles, dispose,
 * and the GEMM formulations (webasm paths, shared worker pool).
 */
import { compileWith, DisposedError, E, FeedError, Graph, GraphError } from '@kiln/core';
import { createCpuBackend, createGemmEngine, gemmJs } from '@kiln/cpu';
import { countGemms, stillHeld, trackAllocations } from './observe';
import { expectClose, PlanBuilder, rand } from './plans';

const x0 = E.arg(0, 'f32'), x1 = E.arg(1, 'f32');

/** w <- w - 0.5 * x (a tiny training step), fetching w (before) and the loss sum(w * x). */
function trainPlan() {
  const b = new PlanBuilder();
  const x = b.feed('x', [3]);
  const w = b.param('w', [3]);
  const prod = b.elementwise(E.mul(x1, x0), [x, w], [3], 'f32');
  const loss = b.op('sum', [prod]);
  const next = b.elementwise(E.sub(x1, E.mul(E.lit(0.5), x0)), [x, w], [3], 'f32');
  b.assign(next, w);
  b.fetch('loss', loss).fetch('w', w);
  return { plan: b.build(), x, w, loss };
}

describe('cpu program', () => {
  test('params persist across runs; fetches see the value before this run\'s assign', async () => {
    const backend = await createCpuBackend({ mode: 'cpu' });
    backend.createParam('w', 'f32', Float32Array.of(1, 2, 3));
    const { plan, x, w, loss } = trainPlan();
    const p = await backend.lower(plan);
    const feeds = new Map([[x.buf, Float32Array.of(2, 2, 2)]]);
    const r1 = await p.run(feeds, [loss.buf, w.buf], { step: 0 });
    expect(Array.from(r1.outputs.get(w.buf)!)).toEqual([1, 2, 3]);
    expect(r1.outputs.get(loss.buf)![0]).toBe(12);
    const r2 = await p.run(feeds, [loss.buf, w.buf], { step: 1 });
    expect(Array.from(r2.outputs.get(w.buf)!)).toEqual([0, 1, 2]);
    expect(r2.outputs.get(loss.buf)![0]).toBe(6);
    expect(Array.from(await backend.readParam('w'))).toEqual([-1, 0, 1]);
    // A second program over the same backend shares the param.
    const p2 = await backend.lower(trainPlan().plan);
    await p2.run(feeds, [], { step: 2 });
    expect(Array.from(await backend.readParam('w'))).toEqual([-2, -1, 0]);
    backend.writeParam('w', Float32Array.of(5, 5, 5));
    expect((await p.run(feeds, [loss.buf], { step: 3 })).outputs.get(loss.buf)![0]).toBe(30);
    expect(() => backend.writeParam('w', Float32Array.of(1))).toThrow(FeedError);
    await expect(backend.readParam('nope')).rejects.toThrow(GraphError);
    // Resizing a param a live program holds is refused; after the programs go, it is allowed.
    expect(() => backend.createParam('w', 'f32', new Float32Array(4))).toThrow(GraphError);
    p.dispose(); p2.dispose();
    const bytes = backend.stats.allocatedBytes;
    backend.createParam('w', 'f32', new Float32Array(4));
    expect(backend.stats.allocatedBytes).toBe(bytes + 4);
    backend.deleteParam('w');
    expect(backend.stats.allocatedBytes).toBe(bytes - 12);
    await expect(backend.readParam('w')).rejects.toThrow(GraphError);
    backend.dispose();
  });

  test('assigns swapping two params read pre-update values; a broadcast assign fills', async () => {
    // Lowering turns a swap and a broadcast into plain copies (snapshot / broadcast kernels first).
    const g = new Graph();
    const a = g.param('a', [2], { init: Float32Array.of(1, 2) });
    const b = g.param('b', [2], { init: Float32Array.of(3, 4) });
    const c = g.param('c', [3], { init: Int32Array.of(0, 0, 0), dtype: 'i32' });
    g.assign(b, a);
    g.assign(a, b);
    g.assign(c, g.constant(7, [], 'i32'));
    const backend = await createCpuBackend({ mode: 'cpu' });
    const exe = await compileWith(g, backend);
    const r = await exe.run({}, { a, b }, { train: true });
    expect([Array.from(r.a.data), Array.from(r.b.data)]).toEqual([[1, 2], [3, 4]]); // fetched before the assigns
    expect(Array.from((await exe.getParam('a')).data)).toEqual([3, 4]);
    expect(Array.from((await exe.getParam('b')).data)).toEqual([1, 2]);
    expect(Array.from((await exe.getParam('c')).data)).toEqual([7, 7, 7]);
    const steps = exe.plan({ a }, { train: true }).steps;
    expect(steps.filter((s) => s.kind === 'assign').every((s) => s.kind === 'assign' && s.src.shape.length === s.dst.shape.length)).toBe(true);
    await exe.dispose();
    backend.dispose();
  });

  test('temps of different dtypes share one slot', async () => {
    const backend = await createCpuBackend({ mode: 'cpu' });
    const b = new PlanBuilder();
    const x = b.feed('x', [4]);
    const cmp = b.elementwise(E.gt(x0, E.lit(0)), [x], [4], 'bool', 0);          // slot 0 as bool
    const asI = b.elementwise(E.cast(E.arg(0, 'bool'), 'i32'), [cmp], [4], 'i32', 1); // slot 1 as i32
    const back = b.elementwise(E.mul(E.cast(E.arg(0, 'i32'), 'f32'), E.lit(1.5)), [asI], [4], 'f32', 0); // slot 0 again, f32
    b.fetch('out', back).fetch('mask', asI);
    const p = await backend.lower(b.build());
    const r = await p.run(new Map([[x.buf, Float32Array.of(-1, 2, 0, 3)]]), [back.buf, asI.buf], { step: 0 });
    expect(Array.from(r.outputs.get(back.buf)!)).toEqual([0, 1.5, 0, 1.5]);
    expect(r.outputs.get(asI.buf)).toBeInstanceOf(Int32Array);
    backend.dispose();
  });

  test('bool fetches come back as Uint8Array', async () => {
    const backend = await createCpuBackend({ mode: 'cpu' });
    const b = new PlanBuilder();
    const x = b.feed('x', [3]);
    const m = b.elementwise(E.isnan(x0), [x], [3], 'bool');
    b.fetch('m', m);
    const p = await backend.lower(b.build());
    const r = await p.run(new Map([[x.buf, Float32Array.of(NaN, 1, NaN)]]), [m.buf], { step: 0 });
    expect(r.outputs.get(m.buf)).toEqual(Uint8Array.of(1, 0, 1));
    backend.dispose();
  });

  test('runs keep nothing; dispose lets go of every array the backend made (seen by a real GC)', async () => {
    const backend = await createCpuBackend({ mode: 'cpu' });
    const { plan, x, loss } = trainPlan();
    const made = await trackAllocations(async () => {
      backend.createParam('w', 'f32', rand(3));
      return backend.lower(plan);
    });
    const p = made.result;
    expect((await stillHeld(made.allocations)).length).toBeGreaterThanOrEqual(4); // feed, param, slots, constant
    const feeds = new Map([[x.buf, Float32Array.of(0.1, 0.2, 0.3)]]);
    const results: WeakRef<object>[] = [];
    const runs = await trackAllocations(async () => {
      for (let i = 0; i < 200; i++) results.push(new WeakRef((await p.run(feeds, [loss.buf], { step: i })).outputs.get(loss.buf)!));
    });
    expect(await stillHeld(runs.allocations)).toEqual([]);
    expect(results.filter((r) => r.deref() !== undefined)).toHaveLength(0); // no readback is kept
    p.dispose();
    backend.deleteParam('w');
    expect((await stillHeld(made.allocations)).map((a) => `${a.kind} ${a.bytes} B`)).toEqual([]);
    await expect(p.run(feeds, [], { step: 0 })).rejects.toThrow(DisposedError);
    backend.dispose();
    await expect(backend.lower(plan)).rejects.toThrow(DisposedError);
  });

  test('backend.dispose() lets go of the arrays of programs still open', async () => {
    const backend = await createCpuBackend({ mode: 'cpu' });
    const made = await trackAllocations(async () => {
      backend.createParam('w', 'f32', rand(3));
      const { plan, x, loss } = trainPlan();
      const p = await backend.lower(plan);
      await p.run(new Map([[x.buf, Float32Array.of(1, 2, 3)]]), [loss.buf], { step: 0 });
      return p;
    });
    backend.dispose();
    expect((await stillHeld(made.allocations)).map((a) => `${a.kind} ${a.bytes} B`)).toEqual([]);
    void made.result; // the program object itself is still referenced here
  });

  test('each run executes every kernel once: GEMMs counted on the engine, profiles name every kernel', async () => {
    const backend = await createCpuBackend({ mode: 'cpu' });
    const gemms = countGemms(backend);
    try {
      const b = new PlanBuilder();
      const x = b.feed('x', [4, 5]);
      const w1 = b.feed('w1', [5, 6]);
      const h = b.op('matmul', [x, w1]);
      const r = b.elementwise(E.maxNaN(x0, E.lit(0)), [h], [4, 6], 'f32');
      const y = b.op('matmul', [r, b.feed('w2', [6, 2])]);
      b.fetch('y', y);
      const plan = b.build();
      const p = await backend.lower(plan);
      const feeds = new Map(plan.feeds.map((f) => [f.buf, rand(plan.buffers.get(f.buf)!.size, f.buf + 1)]));
      expect(gemms.calls).toBe(0);
      for (let i = 1; i <= 3; i++) {
        await p.run(feeds, [y.buf], { step: i });
        expect(gemms.calls).toBe(2 * i);
      }
      const prof = await p.run(feeds, [y.buf], { step: 0, profile: true });
      expect(gemms.calls).toBe(8);
      expect(prof.profileGranularity).toBe('kernel');
      expect(prof.profile!.map((e) => e.ops.join('+'))).toEqual(['matmul', 'test', 'matmul']);
      expect(prof.profile!.every((e) => e.ms >= 0 && e.shapes.length > 0)).toBe(true);
      p.dispose();
    } finally {
      gemms.restore();
      backend.dispose();
    }
  });

  test('concurrent runs of one executable give the same results as runs in sequence', async () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    const y = x.mul(2);
    const backend = await createCpuBackend({ mode: 'cpu' });
    const exe = await compileWith(g, backend);
    const rs = await Promise.all([1, 2, 3].map((v) => exe.run({ x: Float32Array.of(v, v) }, { y })));
    expect(rs.map((r) => r.y.data[0])).toEqual([2, 4, 6]);
    await exe.dispose();
    backend.dispose();
  });
});

describe('GEMM formulations', () => {
  test('JavaScript tiles: every remainder shape, accumulate', () => {
    for (const [M, K, N] of [[1, 1, 1], [4, 4, 4], [5, 3, 7], [9, 17, 6], [3, 2, 9]] as const) {
      const a = rand(M * K + 3, 1), b = rand(K * N + 5, 2), c = rand(M * N + 2, 3);
      const want = Float64Array.from(c);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) want[2 + i * N + j]! += a[3 + i * K + k]! * b[5 + k * N + j]!;
      gemmJs(a, 3, b, 5, c, 2, M, K, N, true);
      expectClose(c, Float32Array.from(want));
    }
  });

  test('webasm: SIMD on the main thread, and the shared worker pool past 4096 cells', async () => {
    const engine = createGemmEngine('webasm');
    for (const [M, K, N, path] of [[6, 5, 7, 'simd+scalar-tail'], [64, 33, 300, 'threaded']] as const) {
      const a = rand(M * K, 1), b = rand(K * N, 2), c = new Float32Array(M * N), want = new Float32Array(M * N);
      gemmJs(a, 0, b, 0, want, 0, M, K, N, false);
      const call = engine.prepare(M, K, N);
      await call.run(a, 0, b, 0, c, 0, false);
      expect(call.lastPath()).toBe(path);
      expectClose(c, want, 1e-5, 1e-4);
      await call.run(a, 0, b, 0, c, 0, true); // accumulate: 2x
      expectClose(c, want.map((v) => 2 * v), 1e-5, 1e-4);
    }
    engine.dispose();
  });

  test('auto: the wasm GEMM where the runtime has SIMD, JavaScript without', () => {
    const withSimd = createGemmEngine('auto', { threads: 1 });
    expect(withSimd.formulation(8, 8, 8)).toBe('wasm');
    withSimd.dispose();
    expect(createGemmEngine('auto', { simd: false }).formulation(512, 512, 512)).toBe('js');
  });
});
