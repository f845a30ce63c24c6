// The executor: one submission per run, flat memory, resident params and training steps,
// profiles, bad input, and the faults (compile errors, size limits, device loss, disposal).
// Submissions, dispatches and buffers are counted on the device itself (device-spy.ts), not
// read from the backend's own stats, which the code under test keeps.
import {
  compileWith, DeviceLostError, DisposedError, E, evaluate, FeedError, Graph, KernelCompileError, type Optimizer,
  ReferenceSession, UnsupportedError,
} from '@kiln/core';
import { type WebGPUBackend, type WebGPUProgram } from '@kiln/webgpu';
import { type DeviceSpy, spiedWebGPUBackend } from './device-spy';
import { describeGpu, expectClose, PlanBuilder, rand, runPlan, useBackend } from './support';

/** A watched backend per suite, disposed after it; `programs` collects what it lowered. */
function useSpiedBackend(): { backend: () => WebGPUBackend; spy: () => DeviceSpy; programs: WebGPUProgram[] } {
  let made: { backend: WebGPUBackend; spy: DeviceSpy } | undefined;
  const programs: WebGPUProgram[] = [];
  beforeAll(async () => {
    made = await spiedWebGPUBackend();
    const lower = made.backend.lower.bind(made.backend);
    made.backend.lower = async (plan) => {
      const p = await lower(plan);
      programs.push(p as WebGPUProgram);
      return p;
    };
  });
  afterAll(async () => { await made?.backend.dispose(); });
  return { backend: () => made!.backend, spy: () => made!.spy, programs };
}

const sgd = (lr: number): Optimizer => ({
  name: 'sgd',
  apply: (g, pairs) => pairs.forEach(({ param, grad }) => g.assign(param, param.sub(grad.mul(lr)))),
});

/** A small MLP with a training step (matmul, bias broadcast, relu, softmax cross-entropy, assigns). */
function mlp() {
  const g = new Graph({ seed: 3 });
  const x = g.input('x', ['batch', 6]);
  const y = g.input('y', ['batch'], 'i32');
  const w1 = g.param('w1', [6, 8], { init: 'glorotUniform' });
  const b1 = g.param('b1', [8], { init: 'zeros' });
  const w2 = g.param('w2', [8, 3], { init: 'glorotUniform' });
  const logits = x.matmul(w1).add(b1).relu().matmul(w2);
  const loss = logits.softmaxCrossEntropy(y).mean();
  g.minimize(loss, sgd(0.5));
  const feeds = { x: rand(4 * 6, 11), y: Int32Array.of(0, 2, 1, 2) };
  return { g, loss, logits, feeds, w1 };
}

describeGpu('executor', () => {
  const { backend, spy, programs } = useSpiedBackend();

  test('one queue submission per run, training included, dispatching every kernel once; the params train like the reference', async () => {
    const { g, loss, feeds } = mlp();
    const exe = await compileWith(g, backend());
    const ref = new ReferenceSession(g);
    try {
      for (let step = 0; step < 3; step++) {
        const seen = programs.length;
        const { result: got, submits, dispatches, created } = await spy().during(() => exe.run(feeds, { loss }, { train: true }));
        const program = programs[programs.length - 1]!;
        expect(submits).toBe(1);
        expect(dispatches).toBe(program.kernels.length);
        expect(dispatches).toBeGreaterThanOrEqual(exe.plan({ loss }, { train: true, bindings: { batch: 4 } }).steps.filter((s) => s.kind !== 'assign').length);
        if (step > 0) expect({ lowered: programs.length - seen, created }).toEqual({ lowered: 0, created: 0 });
        expectClose(got.loss.data, ref.run(feeds, { loss }, { train: true }).loss.data, 1e-5, 1e-4);
      }
      expectClose((await exe.getParam('w1')).data, ref.params.get('w1')!, 1e-5, 1e-4);
    } finally {
      await exe.dispose();
    }
  });

  test('device memory is flat over 1,000 runs of a small graph, and the byte counter agrees with the device', async () => {
    const { g, logits, feeds } = mlp();
    const exe = await compileWith(g, backend());
    try {
      await exe.run(feeds, { logits }, { train: true });
      await exe.run(feeds, { logits }, { train: false }); // both configurations compiled
      const live = spy().live.length, bytes = spy().liveBytes, made = spy().buffers.length;
      expect(backend().stats.allocatedBytes).toBe(bytes);
      for (let i = 0; i < 1000; i++) await exe.run(feeds, { logits }, { train: i % 2 === 0 });
      expect({ created: spy().buffers.length - made, live: spy().live.length, bytes: spy().liveBytes }).toEqual({ created: 0, live, bytes });
      expect(backend().stats.allocatedBytes).toBe(spy().liveBytes);
    } finally {
      await exe.dispose();
    }
  });

  test('a fetched param shows its value before the step that updates it', async () => {
    const g = new Graph({ seed: 1 });
    const p = g.param('p', [2], { init: Float32Array.of(1, 2) });
    g.assign(p, p.mul(10));
    const exe = await compileWith(g, backend());
    try {
      expect(Array.from((await exe.run({}, { p }, { train: true })).p.data)).toEqual([1, 2]);
      expect(Array.from((await exe.getParam('p')).data)).toEqual([10, 20]);
    } finally {
      await exe.dispose();
    }
  });

  test('assigns read start-of-step values (a swap) and broadcast into their target', async () => {
    const g = new Graph({ seed: 1 });
    const a = g.param('a', [3], { init: Float32Array.of(1, 2, 3) });
    const b = g.param('b', [3], { init: Float32Array.of(4, 5, 6) });
    const c = g.param('c', [2, 3], { init: 'zeros' });
    g.assign(a, b);
    g.assign(b, a);
    g.assign(c, a.add(0.5));
    const exe = await compileWith(g, backend());
    try {
      await exe.run({}, {}, { train: true });
      expect(Array.from((await exe.getParam('a')).data)).toEqual([4, 5, 6]);
      expect(Array.from((await exe.getParam('b')).data)).toEqual([1, 2, 3]);
      expect(Array.from((await exe.getParam('c')).data)).toEqual([1.5, 2.5, 3.5, 1.5, 2.5, 3.5]);
    } finally {
      await exe.dispose();
    }
  });

  test('bad feeds are FeedErrors before any work, and the Executable works afterwards', async () => {
    const { g, loss, feeds } = mlp();
    const exe = await compileWith(g, backend());
    try {
      const bad = await spy().during(async () => {
        await expect(exe.run({ x: feeds.x }, { loss })).rejects.toThrow(FeedError); // missing y
        await expect(exe.run({ ...feeds, z: feeds.x }, { loss })).rejects.toThrow(FeedError); // unknown
        await expect(exe.run({ ...feeds, x: new Float32Array(7) }, { loss })).rejects.toThrow(FeedError); // shape
        await expect(exe.run({ ...feeds, y: Float32Array.of(0, 1, 2, 0) }, { loss })).rejects.toThrow(FeedError); // dtype
      });
      expect({ submits: bad.submits, dispatches: bad.dispatches, created: bad.created }).toEqual({ submits: 0, dispatches: 0, created: 0 });
      const got = await exe.run(feeds, { loss });
      expectClose(got.loss.data, evaluate(g, feeds, { loss }).loss.data, 1e-5, 1e-4);
    } finally {
      await exe.dispose();
    }
  });

  test('a symbolic batch specialises per size', async () => {
    const { g, logits, feeds } = mlp();
    const exe = await compileWith(g, backend());
    try {
      for (const n of [4, 1, 7]) {
        const f = { x: rand(n * 6, n), y: new Int32Array(n) };
        expectClose((await exe.run(f, { logits })).logits.data, evaluate(g, f, { logits }).logits.data, 1e-5, 1e-4);
      }
    } finally {
      await exe.dispose();
    }
  });

  test('profiles every dispatch with timestamps', async () => {
    const { g, loss, feeds } = mlp();
    const exe = await compileWith(g, backend());
    try {
      const { dispatches } = await spy().during(() => exe.run(feeds, { loss }, { train: true, profile: true }));
      const report = exe.profileReport();
      expect(backend().timestamps).toBe(backend().adapter.features.has('timestamp-query'));
      expect(report.granularity).toBe(backend().timestamps ? 'kernel' : 'submission');
      if (backend().timestamps) {
        // One timed entry per dispatch the device saw (this graph's assigns are plain copies).
        expect(report.entries.length).toBe(dispatches);
        expect(report.entries.reduce((a, e) => a + e.ms, 0)).toBeGreaterThan(0);
      }
      expect(report.entries.length).toBeGreaterThan(3);
      const mm = report.entries.find((e) => e.kernel.startsWith('matmul'))!;
      expect(mm.flops).toBeGreaterThan(0);
      expect(mm.ms).toBeGreaterThanOrEqual(0);
      expect(report.entries.every((e) => Number.isFinite(e.ms) && e.shapes.length > 0)).toBe(true);
    } finally {
      await exe.dispose();
    }
  });

  test('a bad shader is a KernelCompileError naming the op and the WGSL line', async () => {
    const { layout } = await backend().layoutFor(['read_write'], 'bad kernel', 'myOp');
    const source = '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() {\n  y[0] = undefined_thing;\n}';
    const err = await backend().pipeline(source, 'bad kernel', layout, 'myOp').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelCompileError);
    expect((err as KernelCompileError).op).toBe('myOp');
    expect((err as KernelCompileError).sourceLine).toBe('y[0] = undefined_thing;');
    expect((err as Error).message).toMatch(/bad kernel.*myOp/s);
  });

  test('a tensor past maxStorageBufferBindingSize is refused at compile time, naming tensor, op and limit', async () => {
    const limit = backend().device.limits.maxStorageBufferBindingSize;
    const n = limit / 4 + 4;
    const p = new PlanBuilder();
    const x = p.feed('x', [1]);
    p.fetch('y', p.elementwise(E.add(E.arg(0, 'f32'), E.lit(1)), [x], [n], 'f32'));
    const refused = await spy().during(async () => {
      await expect(backend().lower(p.build())).rejects.toThrow(UnsupportedError);
      await expect(backend().lower(p.build())).rejects.toThrow(new RegExp(`f32\\[${n}\\].*test.*maxStorageBufferBindingSize \\(${limit}`));
    });
    expect({ created: refused.created, submits: refused.submits }).toEqual({ created: 0, submits: 0 });
  });
});

describeGpu('faults and disposal', () => {
  async function fresh(): Promise<WebGPUBackend> {
    return (await spiedWebGPUBackend()).backend;
  }
  const small = () => {
    const p = new PlanBuilder();
    const x = p.feed('x', [4]);
    p.fetch('y', p.elementwise(E.mul(E.arg(0, 'f32'), E.lit(2)), [x], [4], 'f32'));
    return p.build();
  };

  test('dispose destroys every buffer it created and leaves the shared device alone; later use is a DisposedError', async () => {
    const { backend: b, spy } = await spiedWebGPUBackend();
    const { g, logits, feeds } = mlp();
    const exe = await compileWith(g, b);
    await exe.run(feeds, { logits }, { train: true });
    await exe.run(feeds, { logits }, { profile: true });
    const program = await b.lower(small());
    await program.run(new Map([[0, new Float32Array(4)]]), [1], { step: 0 });
    await b.readParam(`${(exe as unknown as { scope: string }).scope}w1`);
    expect(spy.live.length).toBeGreaterThan(10);
    await b.dispose(); // the Executable and the program are still open: the backend frees their buffers
    expect(spy.live.map((r) => r.label)).toEqual([]);
    expect(spy.aliveAtDeviceDestroy).toBeUndefined(); // the device is the process's (gpu.ts), never destroyed by a backend
    expect(spy.querySetsLive).toBe(0);
    await expect(program.run(new Map([[0, new Float32Array(4)]]), [1], { step: 0 })).rejects.toThrow(DisposedError);
    await expect(b.lower(small())).rejects.toThrow(DisposedError);
    expect(() => b.createParam('p', 'f32', new Float32Array(2))).toThrow(DisposedError);
    await b.dispose(); // idempotent
  });

  test('Executable.dispose(), program.dispose() and deleteParam destroy their buffers on a live device', async () => {
    const { backend: b, spy } = await spiedWebGPUBackend();
    try {
      expect(spy.live).toEqual([]);
      const program = await b.lower(small());
      await program.run(new Map([[0, new Float32Array(4)]]), [1], { step: 0 });
      expect(spy.liveBytes).toBeGreaterThan(0);
      expect(b.stats.allocatedBytes).toBe(spy.liveBytes);
      program.dispose();
      expect(spy.live).toEqual([]);
      b.createParam('p', 'f32', new Float32Array(100));
      expect(spy.live.map((r) => r.size)).toEqual([400]);
      b.deleteParam('p');
      expect(spy.live).toEqual([]);
      const { g, loss, feeds } = mlp();
      const exe = await compileWith(g, b);
      await exe.run(feeds, { loss }, { train: true, profile: true });
      await exe.run(feeds, { loss });
      expect(spy.live.length).toBeGreaterThan(10);
      await exe.dispose();
      expect(spy.live.map((r) => r.label)).toEqual([]);
      expect(spy.querySetsLive).toBe(0);
      expect(b.stats.allocatedBytes).toBe(0);
    } finally {
      await b.dispose();
    }
  });

  test('a lost device fails the pending run and every later one with DeviceLostError, never zeros', async () => {
    const b = await fresh();
    try {
      const program = await b.lower(small());
      const feeds = new Map([[0, Float32Array.of(1, 2, 3, 4)]]);
      expect(Array.from((await program.run(feeds, [1], { step: 0 })).outputs.get(1)!)).toEqual([2, 4, 6, 8]);
      const pending = program.run(feeds, [1], { step: 0 });
      b.device.destroy(); // not our own teardown: the backend must treat it as a loss
      await expect(pending).rejects.toThrow(DeviceLostError);
      await expect(program.run(feeds, [1], { step: 0 })).rejects.toThrow(DeviceLostError);
      await expect(b.readParam('nope')).rejects.toThrow(DeviceLostError);
    } finally {
      await b.dispose();
    }
  });

  test('an uncaptured device error poisons the backend', async () => {
    const b = await fresh();
    try {
      const program = await b.lower(small());
      const feeds = new Map([[0, Float32Array.of(1, 2, 3, 4)]]);
      b.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE }); // invalid usage combination
      await program.run(feeds, [1], { step: 0 }).catch(() => undefined); // lets the error event arrive
      await expect(program.run(feeds, [1], { step: 0 })).rejects.toThrow(DeviceLostError);
    } finally {
      await b.dispose();
    }
  });
});

describeGpu('resident params', () => {
  const backend = useBackend();

  test('createParam / readParam / writeParam round-trip every dtype', async () => {
    const b = backend();
    b.createParam('f', 'f32', Float32Array.of(1.5, NaN, -Infinity));
    b.createParam('i', 'i32', Int32Array.of(-7, 2147483647));
    b.createParam('b', 'bool', Uint8Array.of(1, 0, 1));
    expect(Array.from(await b.readParam('f'))).toEqual([1.5, NaN, -Infinity]);
    expect(Array.from(await b.readParam('i'))).toEqual([-7, 2147483647]);
    expect(await b.readParam('b')).toEqual(Uint8Array.of(1, 0, 1));
    b.writeParam('i', Int32Array.of(3, 4));
    expect(Array.from(await b.readParam('i'))).toEqual([3, 4]);
    expect(() => b.writeParam('i', Int32Array.of(1))).toThrow(FeedError);
    for (const n of ['f', 'i', 'b']) b.deleteParam(n);
  });

  test('a plan reads and updates a param in place', async () => {
    const b = backend();
    b.createParam('w', 'f32', Float32Array.of(1, 2, 3));
    const p = new PlanBuilder();
    const w = p.param('w', [3]);
    const next = p.elementwise(E.add(E.arg(0, 'f32'), E.lit(1)), [w], [3], 'f32');
    p.assign(next, w);
    p.fetch('w', w);
    expect(Array.from((await runPlan(b, p.build(), {})).w!)).toEqual([1, 2, 3]);
    expect(Array.from(await b.readParam('w'))).toEqual([2, 3, 4]);
    b.deleteParam('w');
  });
});
