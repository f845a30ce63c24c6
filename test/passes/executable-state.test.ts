// The runtime's state between runs, on the reference backend: snapshot() and restore() (the
// checkpoint primitives) order with runs and refuse bad states without changing anything; a
// program whose lowering failed is not kept (the next run compiles again); the IR validator
// that runs after every pass under { debug: true } refuses what a broken pass would leave.
import { compileWith, createReferenceBackend, DisposedError, type Executable, Graph, GraphError, OptionsError } from '@kiln/core';
import { buildPlan } from '@kiln/core';
import { PASSES, PLAN_FUSIONS, validate } from '../../packages/core/src/passes';
import { watchWork } from '../support/observe-work';
import { pgraphOf } from './support';

/** w <- w - 0.5 * x per training step; y = w * x. */
function stepper() {
  const g = new Graph();
  const x = g.input('x', [2]);
  const w = g.param('w', [2], { init: [1, 2] });
  const y = w.mul(x);
  g.assign(w, w.sub(x.mul(0.5)));
  return { g, y };
}

const X = { x: Float32Array.of(2, 4) };

async function params(exe: Executable): Promise<number[]> {
  return Array.from((await exe.getParam('w')).data);
}

describe('snapshot() and restore()', () => {
  it('restore() brings back the params and the run and step counters of a snapshot', async () => {
    const { g, y } = stepper();
    const exe = await compileWith(g, createReferenceBackend());
    await exe.run(X, { y }, { train: true });
    await exe.run(X, { y });
    const snap = await exe.snapshot();
    expect({ w: Array.from(snap.params.get('w')!.data), shape: snap.params.get('w')!.shape, runs: snap.runs, steps: snap.steps }).toEqual({ w: [0, 0], shape: [2], runs: 2, steps: 1 });
    await exe.run(X, { y }, { train: true });
    await exe.run(X, { y }, { train: true });
    expect([await params(exe), exe.runs, exe.steps]).toEqual([[-2, -4], 4, 3]);
    await exe.restore({ params: new Map([['w', snap.params.get('w')!.data]]), runs: snap.runs, steps: snap.steps });
    expect([await params(exe), exe.runs, exe.steps]).toEqual([[0, 0], 2, 1]);
    // Training continues from the restored values.
    expect(Array.from((await exe.run(X, { y }, { train: true })).y.data)).toEqual([0, 0]);
    expect(await params(exe)).toEqual([-1, -2]);
    await exe.dispose();
  });

  it('a snapshot taken while runs are queued sees every run queued before it and none after', async () => {
    const { g, y } = stepper();
    const exe = await compileWith(g, createReferenceBackend());
    const before = exe.run(X, { y }, { train: true });
    const snap = exe.snapshot();
    const after = exe.run(X, { y }, { train: true });
    await Promise.all([before, after]);
    const s = await snap;
    expect([Array.from(s.params.get('w')!.data), s.runs, s.steps]).toEqual([[0, 0], 1, 1]);
    expect([await params(exe), exe.runs, exe.steps]).toEqual([[-1, -2], 2, 2]);
    await exe.dispose();
  });

  it('a restore queued behind a run is applied after it', async () => {
    const { g, y } = stepper();
    const exe = await compileWith(g, createReferenceBackend());
    const run = exe.run(X, { y }, { train: true });
    const restored = exe.restore({ params: new Map([['w', [7, 8]]]), runs: 10, steps: 5 });
    await Promise.all([run, restored]);
    expect([await params(exe), exe.runs, exe.steps]).toEqual([[7, 8], 10, 5]);
    await exe.dispose();
  });

  it.each([
    ['wrong size', { params: new Map([['w', [1, 2, 3]]]), runs: 0, steps: 0 }, OptionsError, /restore\('w'\): 3 values for shape \[2\] \(2\)/],
    ['unknown param', { params: new Map([['v', [1, 2]]]), runs: 0, steps: 0 }, GraphError, /'v'/],
    ['negative runs', { params: new Map(), runs: -1, steps: 0 }, OptionsError, /runs must be a non-negative integer, got -1/],
    ['fractional steps', { params: new Map(), runs: 0, steps: 1.5 }, OptionsError, /steps must be a non-negative integer, got 1.5/],
    ['runs not a number', { params: new Map(), runs: '3', steps: 0 }, OptionsError, /runs must be a non-negative integer/],
  ])('restore() refuses %s and changes nothing', async (_, state, type, message) => {
    const { g, y } = stepper();
    const exe = await compileWith(g, createReferenceBackend());
    await exe.run(X, { y }, { train: true });
    // A valid param first: a refused state must not have written it either.
    const withValid = { ...state, params: new Map([['w', [9, 9]] as [string, number[]], ...state.params]) };
    await expect(exe.restore(withValid as never)).rejects.toThrow(type);
    await expect(exe.restore(withValid as never)).rejects.toThrow(message);
    expect([await params(exe), exe.runs, exe.steps]).toEqual([[0, 0], 1, 1]);
    await exe.dispose();
  });

  it('snapshot() and restore() after dispose are DisposedErrors', async () => {
    const { g } = stepper();
    const exe = await compileWith(g, createReferenceBackend());
    await exe.dispose();
    await expect(exe.snapshot()).rejects.toThrow(DisposedError);
    await expect(exe.restore({ params: new Map(), runs: 0, steps: 0 })).rejects.toThrow(DisposedError);
  });
});

describe('the program cache', () => {
  it('a program whose lowering failed is not kept: the next run compiles again and runs', async () => {
    const { g, y } = stepper();
    const backend = createReferenceBackend();
    const lower = backend.lower;
    let fail = true;
    (backend as { lower: typeof lower }).lower = async (plan) => {
      if (fail) { fail = false; throw new GraphError('lowering failed (test)'); }
      return lower.call(backend, plan);
    };
    const work = watchWork(backend);
    const exe = await compileWith(g, backend);
    await expect(exe.run(X, { y })).rejects.toThrow(/lowering failed \(test\)/);
    expect(exe.cachedPrograms).toBe(0);
    expect(Array.from((await exe.run(X, { y })).y.data)).toEqual([2, 8]);
    expect({ lowered: work.lowered, programRuns: work.programRuns, cached: exe.cachedPrograms }).toEqual({ lowered: 2, programRuns: 1, cached: 1 });
    await exe.dispose();
  });

  it('holds at most programCacheSize programs, least recently used freed first', async () => {
    const g = new Graph();
    const x = g.input('x', ['n']);
    const y = x.mul(2);
    const backend = createReferenceBackend();
    const work = watchWork(backend);
    const exe = await compileWith(g, backend, { programCacheSize: 2 });
    const run = async (n: number) => Array.from((await exe.run({ x: new Float32Array(n).fill(1) }, { y })).y.data);
    expect(await run(1)).toEqual([2]);
    expect(await run(2)).toEqual([2, 2]);
    expect(await run(1)).toEqual([2]); // n=1 is now the most recently used
    expect([work.lowered, exe.cachedPrograms]).toEqual([2, 2]);
    expect(await run(3)).toEqual([2, 2, 2]); // evicts n=2
    expect(await run(1)).toEqual([2]);
    expect([work.lowered, exe.cachedPrograms]).toEqual([3, 2]);
    expect(await run(2)).toEqual([2, 2]); // compiled again
    expect(work.lowered).toBe(4);
    await exe.dispose();
  });
});

describe('validate(): the IR check run after every pass under { debug: true }', () => {
  const g = new Graph();
  const x = g.input('x', [3]);
  const y = x.exp().add(x);
  const pg = pgraphOf(g, { y });

  it('accepts a specialised graph', () => {
    expect(() => validate(pg, 'specialize')).not.toThrow();
  });

  it('refuses a node reading a node not defined before it, naming the pass', () => {
    const swapped = { ...pg, nodes: [...pg.nodes].reverse() };
    expect(() => validate(swapped, 'somePass')).toThrow(GraphError);
    expect(() => validate(swapped, 'somePass')).toThrow(/IR invalid after somePass: node .* reads undefined #\d+/);
  });

  it('refuses a fetch or an assign of a node that is gone', () => {
    expect(() => validate({ ...pg, fetches: [{ key: 'z', id: 9999 }] }, 'prune')).toThrow(/IR invalid after prune: root #9999 missing/);
    expect(() => validate({ ...pg, assigns: [9998] }, 'prune')).toThrow(/root #9998 missing/);
  });
});

describe('buildPlan with { debug: true } validates after every pass, and only then', () => {
  const g = new Graph();
  const x = g.input('x', [3]);
  const y = x.exp().add(x);
  const plan = (debug: boolean) => buildPlan(g, [{ key: 'y', id: y.id }], false, new Map(), { debug, fuse: false }); // two steps

  /** Run `body` with `pass` appended to `list` (a broken pass a test injects), then remove it. */
  function withPass<T>(list: readonly T[], pass: T, body: () => void): void {
    const l = list as T[];
    l.push(pass);
    try { body(); } finally { l.pop(); }
  }

  it('a graph pass leaving a dangling input is caught after that pass', () => {
    withPass(PASSES, { name: 'breakIR', run: (pg) => ({ ...pg, nodes: [...pg.nodes].reverse() }) }, () => {
      expect(() => plan(true)).toThrow(/IR invalid after breakIR/);
      expect(() => plan(false)).not.toThrow(/IR invalid/);
    });
  });

  it('a plan fusion leaving an unsafe plan is caught after that fusion', () => {
    withPass(PLAN_FUSIONS, { name: 'breakPlan', run: (p) => ({ ...p, steps: [...p.steps].reverse() }) }, () => {
      expect(() => plan(true)).toThrow(/before any step writes it/);
      expect(() => plan(false)).not.toThrow();
    });
  });
});
