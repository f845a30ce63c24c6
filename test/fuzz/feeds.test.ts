// Fuzz Executable.run with malformed feeds (and some malformed fetches and options) on the
// reference and cpu backends. Every call runs or is refused with a typed error before any
// device work: a refused run reaches no program of the backend (watched from outside, not read
// from the backend's own counters), counts no run, and leaves every param as it was; the
// Executable keeps working.
import { type Backend, compileWith, createReferenceBackend, type Executable, Graph, KilnError, ReferenceSession, type Tensor } from '@kiln/core';
import { createCpuBackend } from '@kiln/cpu';
import { watchWork } from '../support/observe-work';
import { BUDGET, oddValue, rng, type Rng, SCALE, SEED, Tally } from './fuzz';

function model() {
  const g = new Graph({ seed: 9 });
  const x = g.input('x', ['batch', 3]);
  const ids = g.input('ids', ['batch'], 'i32');
  const y = g.input('y', ['batch'], 'i32');
  const keep = g.input('keep', [], 'bool');
  const table = g.param('table', [6, 3], { init: 'glorotUniform' });
  const w = g.param('w', [3, 4], { init: 'glorotUniform' });
  const h = x.add(table.gather(ids)).matmul(w).dropout({ rate: 0.2 });
  const loss = keep.where(h, h.mul(0.5)).softmaxCrossEntropy(y).mean();
  const [gt, gw] = g.grad(loss, [table, w]);
  g.assign(table, table.sub(gt!.mul(0.1)));
  g.assign(w, w.sub(gw!.mul(0.1)));
  return { g, loss, probs: h.softmax() };
}

const NAMES = ['x', 'ids', 'y', 'keep'];
const DTYPE: Record<string, 'f32' | 'i32' | 'bool'> = { x: 'f32', ids: 'i32', y: 'i32', keep: 'bool' };
const ROW: Record<string, number[]> = { x: [3], ids: [], y: [], keep: [] };

/** A well-formed feed for `name` with `batch` rows (labels and ids in range). */
function goodFeed(name: string, batch: number, r: Rng): Float32Array | Int32Array | Uint8Array {
  if (name === 'keep') return Uint8Array.of(r.int(2));
  if (name === 'x') return Float32Array.from({ length: batch * 3 }, () => r() * 2 - 1);
  return Int32Array.from({ length: batch }, () => r.int(name === 'ids' ? 6 : 4));
}

/** One feed value: right, slightly wrong, or not a feed at all. */
function feedValue(name: string, batch: number, r: Rng): unknown {
  const good = goodFeed(name, batch, r);
  const n = good.length;
  switch (r.int(16)) {
    case 0: case 1: case 2: case 3: return good;
    case 4: return Array.from(good);
    case 5: return { data: good, shape: name === 'keep' ? [] : name === 'x' ? [batch, 3] : [batch] };
    case 6: return { data: good, shape: Array.from({ length: r.int(4) }, () => oddValue(r)) };
    case 7: return { data: good, shape: [r.pick([-batch, batch + 0.5, Number.NaN, Infinity, 2 ** 40, '2', null]), ...ROW[name]!] };
    case 8: return r.pick([new Float64Array(n), new Int16Array(n), new Uint8ClampedArray(n), new BigInt64Array(n), new DataView(new ArrayBuffer(n * 4)), new Float32Array(n), new Int32Array(n), new Uint8Array(n)]);
    case 9: { const a: unknown[] = Array.from(good); a[r.int(Math.max(1, a.length))] = oddValue(r); return a; }
    case 10: { const a = good.slice(); if (a.length && !(a instanceof Float32Array)) a[r.int(a.length)] = r.pick([-1, 6, 4, 2 ** 31 - 1, -(2 ** 31), 255, 2]); return a; }
    case 11: return good.subarray(0, r.int(n + 1));
    case 12: return oddValue(r);
    case 13: return r.pick([undefined, null, 0, 'x', () => good, Symbol('feed'), new Map(), { shape: [batch] }, { data: good }]);
    case 14: { const a = new Array(n); a[0] = 1; return a; } // sparse
    default: return { data: Array.from(good, (v) => (r.chance(0.1) ? oddValue(r) : v)), shape: name === 'x' ? [batch, 3] : [batch], extra: 1 };
  }
}

function feedsObject(r: Rng): unknown {
  if (r.chance(0.03)) return r.pick([null, undefined, [], 'x', 5, new Map([['x', 1]])]);
  const batch = r.pick([0, 1, 2, 3]);
  const feeds: Record<string, unknown> = {};
  for (const name of NAMES) if (!r.chance(0.05)) feeds[name] = r.chance(0.8) ? goodFeed(name, batch, r) : feedValue(name, batch, r);
  if (r.chance(0.05)) feeds[r.pick(['__training__', 'z', 'constructor', 'toString', ''])] = goodFeed('x', batch, r);
  if (r.chance(0.02)) Object.defineProperty(feeds, '__proto__', { value: goodFeed('x', batch, r), enumerable: true });
  return feeds;
}

async function state(exe: Executable): Promise<string> {
  const params = await Promise.all(exe.paramNames.map(async (n) => Array.from((await exe.getParam(n)).data)));
  return JSON.stringify({ params, runs: exe.runs, steps: exe.steps });
}

async function fuzzBackend(make: () => Backend | Promise<Backend>, inputs: number, seed: number, t: Tally): Promise<void> {
  const { g, loss, probs } = model();
  const backend = await make();
  const work = watchWork(backend);
  const exe = await compileWith(g, backend, { ownsBackend: true });
  const r = rng(seed);
  const other = new Graph().fill([1], 1);
  let before = await state(exe);
  for (let k = 0; k < inputs; k++) {
    const feeds = feedsObject(r);
    const train = r.chance(0.3);
    const fetches: unknown = r.chance(0.03) ? r.pick([null, { loss: 1 }, { o: other }, []]) : r.chance(0.5) ? { loss } : { loss, probs };
    const options: unknown = r.chance(0.03) ? r.pick([null, { train: 'yes' }, { profile: 1 }, 5, { trian: true }]) : { train };
    const runs = work.programRuns;
    const res = await t.try(() => `run(${String(JSON.stringify(feeds, (_, v) => (ArrayBuffer.isView(v) ? `${v.constructor.name}(${(v as Uint8Array).length})` : typeof v === 'bigint' ? String(v) : v)))?.slice(0, 400)}, ${typeof fetches}, ${JSON.stringify(options)})`,
      () => exe.run(feeds as never, fetches as Record<string, Tensor>, options as never), (e) => e instanceof KilnError);
    if (res.ok) {
      if (work.programRuns !== runs + 1) t.problem(`an accepted run ran ${work.programRuns - runs} programs on the backend, not 1`);
      before = await state(exe);
      continue;
    }
    if (work.programRuns !== runs) t.problem(`a refused run reached the backend (${work.programRuns - runs} program runs)`);
    const after = await state(exe);
    if (after !== before) t.problem(`a refused run changed the Executable: ${before.slice(0, 200)} -> ${after.slice(0, 200)}`);
  }
  // Still works: a good run matches the float64 evaluator on the params it holds now (which
  // accepted training runs on NaN data or empty batches may legitimately have made NaN).
  const good = { x: Float32Array.of(1, 2, 3, -1, 0, 1), ids: Int32Array.of(0, 5), y: Int32Array.of(3, 0), keep: Uint8Array.of(1) };
  const got = (await exe.run(good, { loss })).loss.data[0]!;
  const session = new ReferenceSession(g);
  for (const name of exe.paramNames) session.params.set(name, Float64Array.from((await exe.getParam(name)).data));
  const want = session.run(good, { loss }).loss.data[0]!;
  if (!(Object.is(got, want) || Math.abs(got - want) <= 1e-5 * (1 + Math.abs(want)) || (Number.isNaN(got) && Number.isNaN(want)))) {
    t.problem(`the Executable no longer computes what it holds: loss ${got}, the evaluator says ${want}`);
  }
  work.restore();
  await exe.dispose();
}

describe('fuzz: feeds', () => {
  it(`runs or refuses ${BUDGET.feeds * SCALE} malformed runs with typed errors only, leaving the Executable intact`, async () => {
    const t = new Tally();
    const onCpu = Math.round(BUDGET.feeds * SCALE * 0.2);
    await fuzzBackend(createReferenceBackend, BUDGET.feeds * SCALE - onCpu, SEED + 3, t);
    await fuzzBackend(() => createCpuBackend(), onCpu, SEED + 4, t);
    console.log(`feeds: ${t.summary()}`);
    expect(t.crashes).toEqual([]);
    expect(t.problems).toEqual([]);
    expect(t.tried).toBe(BUDGET.feeds * SCALE);
    expect(t.accepted).toBeGreaterThan(t.tried * 0.2);
    expect(t.refused).toBeGreaterThan(t.tried * 0.2);
  });
});
