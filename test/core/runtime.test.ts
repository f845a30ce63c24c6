// The one runtime in core (Executable): queued runs, the bounded program cache, and graphs
// deeper than the JS stack.
import { type Backend, compileWith, createReferenceBackend, evaluate, Graph, MAX_FUSED_OPS, OptionsError, type Plan, type Program } from '@kiln/core';

/** A reference backend that counts the programs it holds (lowered and not yet disposed). */
function countingBackend(): { backend: Backend; live: () => number; lowered: () => number } {
  const backend = createReferenceBackend();
  let live = 0, lowered = 0;
  const lower0 = backend.lower.bind(backend);
  (backend as { lower: Backend['lower'] }).lower = async (plan) => {
    const p = await lower0(plan);
    live++;
    lowered++;
    let freed = false;
    const program: Program = { run: (...a) => p.run(...a), dispose: () => { if (!freed) { freed = true; live--; } p.dispose(); } };
    return program;
  };
  return { backend, live: () => live, lowered: () => lowered };
}

/** w <- w - lr * x each train step, with lr written by a host hook from the step number; y draws dropout noise. */
function trainGraph() {
  const g = new Graph({ seed: 3 });
  const x = g.input('x', [4]);
  const w = g.param('w', [4], { init: 'ones' });
  const lr = g.param('lr', [1], { trainable: false });
  const y = w.mul(x).dropout({ rate: 0.5, training: true });
  g.assign(w, w.sub(x.mul(lr)));
  return { g, x, w, y };
}

describe('queued runs', () => {
  it('concurrent run()s give exactly what the same runs give in sequence (outputs, hooks, counters, params)', async () => {
    const feeds = [1, 2, 3, 4, 5].map((k) => Float32Array.of(k, -k, 0.5 * k, 2));
    const results = async (concurrent: boolean) => {
      const { g, y } = trainGraph();
      const exe = await compileWith(g, createReferenceBackend());
      const seen: number[] = [];
      exe.trainHooks.push((step) => { seen.push(step); return { lr: 0.1 * (step + 1) }; });
      const run = (f: Float32Array) => exe.run({ x: f }, { y }, { train: true });
      const outs = concurrent ? await Promise.all(feeds.map(run)) : [];
      if (!concurrent) for (const f of feeds) outs.push(await run(f));
      return { outs: outs.map((o) => Array.from(o.y.data)), seen, steps: exe.steps, runs: exe.runs, w: Array.from((await exe.getParam('w')).data) };
    };
    const seq = await results(false);
    const par = await results(true);
    expect(seq.seen).toEqual([0, 1, 2, 3, 4]);
    expect(par).toEqual(seq);
    expect(par.steps).toBe(5);
    expect(par.runs).toBe(5);
  });

  it('setParam, resetParams and restoreCounters called between queued runs land where they would in sequence', async () => {
    const x = Float32Array.of(1, 2, 3, 4);
    const results = async (concurrent: boolean) => {
      const { g, y } = trainGraph();
      const exe = await compileWith(g, createReferenceBackend());
      const run = () => exe.run({ x }, { y }, { train: true });
      const outs: Promise<unknown>[] = [];
      const step = async (f: () => unknown) => { if (concurrent) outs.push(Promise.resolve(f())); else await f(); };
      await step(run);
      await step(() => exe.setParam('lr', [0.5]));
      await step(run);
      await step(() => exe.restoreCounters({ runs: 7, steps: 3 }));
      await step(run);
      await step(() => exe.resetParams());
      await step(run);
      await Promise.all(outs);
      return { w: Array.from((await exe.getParam('w')).data), lr: Array.from((await exe.getParam('lr')).data), steps: exe.steps, runs: exe.runs };
    };
    const seq = await results(false);
    expect(seq.steps).toBe(1);
    expect(seq.runs).toBe(9);
    expect(await results(true)).toEqual(seq);
  });

  it('a queued run keeps the feeds it was called with, even if the caller refills the array', async () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    const y = x.mul(2);
    const exe = await compileWith(g, createReferenceBackend());
    const buf = Float32Array.of(1, 2);
    const first = exe.run({ x: buf }, { y });
    const second = exe.run({ x: buf }, { y }); // waits for the first
    buf.set([10, 20]);
    expect(Array.from((await first).y.data)).toEqual([2, 4]);
    expect(Array.from((await second).y.data)).toEqual([2, 4]);
  });

  it('feed copies go to staging arrays reused run after run, never shared by two queued runs', async () => {
    const backend = createReferenceBackend();
    const seen: unknown[] = [];
    const lower0 = backend.lower.bind(backend);
    (backend as { lower: Backend['lower'] }).lower = async (plan) => {
      const p = await lower0(plan);
      return { run: (feeds, ...rest) => { seen.push(...feeds.values()); return p.run(feeds, ...rest); }, dispose: () => p.dispose() };
    };
    const g = new Graph();
    const x = g.input('x', [2]);
    const y = x.mul(2);
    const exe = await compileWith(g, backend);
    const buf = Float32Array.of(1, 2);
    const a = await exe.run({ x: buf }, { y });
    buf.set([3, 4]);
    const b = await exe.run({ x: buf }, { y });
    expect(seen[0]).not.toBe(buf);
    expect(seen[1]).toBe(seen[0]); // the first run's staging array, free again
    const queued = [exe.run({ x: buf }, { y }), exe.run({ x: buf }, { y })];
    buf.set([5, 6]);
    const [c, d] = await Promise.all(queued);
    expect(seen[2]).not.toBe(seen[3]);
    expect([a, b, c, d].map((r) => Array.from(r.y.data))).toEqual([[2, 4], [6, 8], [6, 8], [6, 8]]);
    await exe.dispose();
  });

  it('a failing run does not stop the queue, and getParam reads after the runs queued before it', async () => {
    const { g, x, y } = trainGraph();
    const exe = await compileWith(g, createReferenceBackend());
    exe.trainHooks.push((step) => { if (step === 1) throw new Error('hook failed'); });
    const a = exe.run({ x: Float32Array.of(1, 1, 1, 1) }, { y }, { train: true });
    const b = exe.run({ x: Float32Array.of(1, 1, 1, 1) }, { y }, { train: true });
    const failed = expect(b).rejects.toThrow('hook failed');
    const w = exe.getParam('w');
    await a;
    await failed;
    expect(Array.from((await w).data)).toEqual([1, 1, 1, 1]); // lr was 0 in the one step that ran
    expect(exe.steps).toBe(1);
    void x;
  });

  it('dispose waits for the runs called before it; later calls are refused', async () => {
    const { backend, live } = countingBackend();
    const g = new Graph();
    const x = g.input('x', [2]);
    const exe = await compileWith(g, backend);
    const a = exe.run({ x: [1, 2] }, { y: x.add(1) });
    const b = exe.run({ x: [1, 2] }, { y: x.add(1) });
    const d = exe.dispose();
    await expect(exe.run({ x: [1, 2] }, { y: x.add(1) })).rejects.toThrow('disposed');
    expect(Array.from((await a).y.data)).toEqual([2, 3]);
    expect(Array.from((await b).y.data)).toEqual([2, 3]);
    await d;
    expect(live()).toBe(0);
  });
});

describe('program cache', () => {
  it('holds at most programCacheSize programs, least recently used evicted and freed', async () => {
    const { backend, live, lowered } = countingBackend();
    const g = new Graph();
    const x = g.input('x', ['batch', 2]);
    const y = x.sum({ axes: [1] });
    const exe = await compileWith(g, backend, { programCacheSize: 2 });
    const feed = (b: number) => ({ x: new Float32Array(2 * b).fill(1) });
    for (const b of [1, 2, 3, 4, 5, 6]) expect(Array.from((await exe.run(feed(b), { y })).y.data)).toEqual(new Array(b).fill(2));
    expect(exe.cachedPrograms).toBe(2);
    expect(live()).toBe(2);
    expect(lowered()).toBe(6);
    await exe.run(feed(6), { y }); // still cached
    await exe.run(feed(5), { y });
    expect(lowered()).toBe(6);
    await exe.run(feed(1), { y }); // evicted earlier: compiled again, 6 (least recent) goes
    expect(lowered()).toBe(7);
    await exe.run(feed(5), { y });
    expect(lowered()).toBe(7);
    expect(live()).toBe(2);
    await exe.dispose();
    expect(live()).toBe(0);
  });

  it('a wider fetch set replaces (and frees) the program of the same configuration', async () => {
    const { backend, live } = countingBackend();
    const g = new Graph();
    const x = g.input('x', [2]);
    const exe = await compileWith(g, backend);
    await exe.run({ x: [1, 2] }, { a: x.add(1) });
    await exe.run({ x: [1, 2] }, { b: x.mul(3) });
    expect(exe.cachedPrograms).toBe(1);
    expect(live()).toBe(1);
    await exe.dispose();
  });

  it('refuses a bad programCacheSize', async () => {
    const g = new Graph();
    g.input('x', [1]);
    await expect(compileWith(g, createReferenceBackend(), { programCacheSize: 0 })).rejects.toThrow(OptionsError);
  });
});

describe('deep graphs', () => {
  it('a chain of 20,000 elementwise ops compiles and runs (no recursion on the graph depth)', async () => {
    const g = new Graph();
    const x = g.input('x', [3]);
    let h = x;
    const n = 20_000;
    for (let i = 0; i < n; i++) h = i % 2 ? h.mul(0.5) : h.add(1);
    const backend = createReferenceBackend();
    const plans: Plan[] = [];
    const lower0 = backend.lower.bind(backend);
    (backend as { lower: Backend['lower'] }).lower = (plan) => { plans.push(plan); return lower0(plan); };
    const exe = await compileWith(g, backend, { debug: true });
    const r = await exe.run({ x: [0, 2, -2] }, { h });
    expect(plans[0]!.steps.length).toBe(Math.ceil(n / MAX_FUSED_OPS));
    const want = Array.from(evaluate(g, { x: [0, 2, -2] }, { h }).h.data);
    // h -> (h + 1) / 2 converges to 1 from any start.
    expect(want).toEqual([1, 1, 1]);
    expect(Array.from(r.h.data)).toEqual(want.map(Math.fround));
  });

  it('gradients through a 20,000-op chain', () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    let h = x;
    for (let i = 0; i < 20_000; i++) h = h.mul(1);
    const [dx] = g.grad(h.sum(), [x]);
    expect(Array.from(evaluate(g, { x: [3, 4] }, { dx: dx! }).dx.data)).toEqual([1, 1]);
  });
});
