// Each simplifying pass on its own, at the IR level (the PGraph it rewrites), and in the
// pipeline (a plan that would differ without it). Removing a pass, or breaking it, fails here.
import { compileWith, createReferenceBackend, evaluate, Graph } from '@kiln/core';
import { eliminateCommonSubexpressions, elideBroadcasts, foldConstants, PASSES, prune } from '../../packages/core/src/passes';
import { opCounts, opOccurrences, pgraphOf, planOf } from './support';

describe('foldConstants', () => {
  it('evaluates an all-constant subgraph into one constant node', () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    const c = g.constant([1, 2]).mul(3).sum(); // 9
    const y = x.add(c);
    const pg = foldConstants(pgraphOf(g, { y }));
    const counts = opCounts(pg);
    expect(counts.mul).toBeUndefined();
    expect(counts.sum).toBeUndefined();
    const folded = pg.nodes.find((n) => n.id === c.id)!;
    expect(folded.op).toBe('constant');
    expect(folded.attrs.value).toEqual([9]);
    expect(pg.nodes.find((n) => n.id === y.id)!.inputs).toEqual([x.id, c.id]);
  });

  it('folds in f32 and keeps integer dtypes exact', () => {
    const g = new Graph();
    const third = g.constant([1]).div(3);
    const big = g.constant([2147483647], [1], 'i32').add(g.constant([1], [1], 'i32')); // wraps
    const pg = foldConstants(pgraphOf(g, { third, big }));
    expect(pg.nodes.find((n) => n.id === third.id)!.attrs.value).toEqual([Math.fround(1 / 3)]);
    expect(pg.nodes.find((n) => n.id === big.id)!.attrs.value).toEqual([-2147483648]);
  });

  it('leaves inputs, params, random and large constant results alone', () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [2]);
    const p = g.param('p', [2], { init: [1, 2] });
    const r = g.randomUniform([2]);
    const big = g.fill([300, 300], 1).mul(2); // 90,000 elements, past the fold limit
    const y = x.add(p).add(r);
    const pg = foldConstants(pgraphOf(g, { y, big }));
    expect(opCounts(pg)).toMatchObject({ input: 1, param: 1, random: 1, mul: 1 });
  });

  it('removes identities: stopGradient, a cast to the same dtype, where on a constant condition', () => {
    const g = new Graph();
    const x = g.input('x', [3]);
    const z = g.input('z', [3]);
    const y = x.stopGradient().cast('f32').add(g.constant(true, [], 'bool').where(x, z));
    const pg = foldConstants(pgraphOf(g, { y }));
    const counts = opCounts(pg);
    expect(counts.stopGradient).toBeUndefined();
    expect(counts.cast).toBeUndefined();
    expect(counts.where).toBeUndefined();
    expect(pg.nodes.find((n) => n.id === y.id)!.inputs).toEqual([x.id, x.id]);
  });

  it('the train flag is a constant per specialisation: dropout draws random numbers in training only', () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [10]);
    const y = x.dropout({ rate: 0.5 });
    const train = prune(foldConstants(pgraphOf(g, { y }, { train: true })));
    const evaluation = prune(foldConstants(pgraphOf(g, { y }, { train: false })));
    expect(opCounts(train).random).toBe(1);
    expect(opCounts(evaluation).random).toBeUndefined();
    expect(evaluation.fetches[0]!.id).toBe(x.id);
  });

  it('in the pipeline: dead train-only branches and constant arithmetic leave no kernel', async () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [10]);
    const y = x.dropout({ rate: 0.5 }).add(g.constant([1, 2]).mul(3).sum());
    const plan = planOf(g, { y });
    expect(plan.steps.map((s) => s.ops)).toEqual([['add']]);
    const exe = await compileWith(g, createReferenceBackend());
    expect(Array.from((await exe.run({ x: new Float32Array(10) }, { y })).y.data)).toEqual(new Array(10).fill(9));
  });
});

describe('eliminateCommonSubexpressions', () => {
  it('merges two identical subexpressions into one node, and their users read it', () => {
    const g = new Graph();
    const x = g.input('x', [4]);
    const a = x.exp().mul(2);
    const b = x.exp().mul(2);
    const y = a.add(b);
    const before = pgraphOf(g, { y });
    expect(opCounts(before)).toMatchObject({ exp: 2, mul: 2 });
    const pg = eliminateCommonSubexpressions(before);
    expect(opCounts(pg)).toMatchObject({ exp: 1, mul: 1, add: 1 });
    expect(pg.nodes.find((n) => n.op === 'add')!.inputs).toEqual([a.id, a.id]);
  });

  it('keeps nodes that differ in attributes, inputs or dtype, and never merges inputs or params', () => {
    const g = new Graph();
    const x = g.input('x', [3, 4]);
    const s0 = x.sum({ axes: [0] }), s1 = x.sum({ axes: [1] });
    const p = g.param('p', [3, 4], { init: 'zeros' }), q = g.param('q', [3, 4], { init: 'zeros' });
    const y = s0.sum().add(s1.sum()).add(p.add(q).sum()).add(x.cast('i32').cast('f32').sum());
    const pg = eliminateCommonSubexpressions(pgraphOf(g, { y }));
    expect(opCounts(pg)).toMatchObject({ input: 1, param: 2, cast: 2 });
    expect(pg.nodes.filter((n) => n.op === 'sum' && n.inputs[0] === x.id)).toHaveLength(2);
  });

  it('keeps constants that differ only in NaN, +-Infinity or the sign of zero apart', () => {
    const g = new Graph();
    const x = g.input('x', [4]);
    const specials = [NaN, Infinity, -Infinity, 0, -0].map((v) => g.constant(new Float32Array([v]), []));
    const y = specials.reduce((acc, c) => acc.add(x.mul(c)), x);
    const pg = eliminateCommonSubexpressions(pgraphOf(g, { y }));
    expect(opCounts(pg).constant).toBe(5);
    const values = pg.nodes.filter((n) => n.op === 'constant').map((n) => (n.attrs.value as number[])[0]);
    expect(values.map((v) => Object.is(v, -0) ? '-0' : String(v)).sort()).toEqual(['-0', '-Infinity', '0', 'Infinity', 'NaN']);
  });

  it('merges chains: equal inputs make equal users, in one pass', () => {
    const g = new Graph();
    const x = g.input('x', [4]);
    const chain = () => x.add(1).relu().square();
    const y = chain().sub(chain());
    const pg = eliminateCommonSubexpressions(pgraphOf(g, { y }));
    expect(opCounts(pg)).toMatchObject({ add: 1, relu: 1, square: 1, sub: 1 });
  });

  it('in the pipeline: the duplicate is computed once', () => {
    const g = new Graph();
    const x = g.input('x', [4, 4]);
    const y = x.matmul(x).exp().add(x.matmul(x).exp());
    expect(opOccurrences(planOf(g, { y }), 'matmul')).toBe(1);
    expect(opOccurrences(planOf(g, { y }), 'exp')).toBe(1);
    expect(PASSES.map((p) => p.name)).toContain('eliminateCommonSubexpressions');
  });
});

describe('elideBroadcasts', () => {
  it('drops a broadcastTo feeding an elementwise op of its shape; the op reads the source', () => {
    const g = new Graph();
    const b = g.input('b', [3]);
    const x = g.input('x', [2, 3]);
    const y = b.broadcastTo([2, 3]).add(x);
    const before = pgraphOf(g, { y });
    expect(opCounts(before).broadcastTo).toBe(1);
    const pg = elideBroadcasts(before);
    expect(opCounts(pg).broadcastTo).toBeUndefined();
    expect(pg.nodes.find((n) => n.id === y.id)!.inputs).toEqual([b.id, x.id]);
  });

  it('keeps a broadcastTo that a non-elementwise op reads, or that is fetched', () => {
    const g = new Graph();
    const b = g.input('b', [3]);
    const w = g.input('w', [3, 3]);
    const viaMatmul = b.broadcastTo([2, 3]).matmul(w);
    const fetched = b.broadcastTo([4, 3]);
    const pg = elideBroadcasts(pgraphOf(g, { viaMatmul, fetched }));
    expect(opCounts(pg).broadcastTo).toBe(2);
  });

  it('in the pipeline: no movement kernel, and the values are right', async () => {
    const g = new Graph();
    const b = g.input('b', [3]);
    const x = g.input('x', [2, 3]);
    const y = b.broadcastTo([2, 3]).mul(x).relu();
    const plan = planOf(g, { y }, { fuse: false });
    expect(opOccurrences(plan, 'broadcastTo')).toBe(0);
    const feeds = { b: Float32Array.of(1, -2, 3), x: Float32Array.of(1, 2, 3, 4, 5, 6) };
    const exe = await compileWith(g, createReferenceBackend());
    expect(Array.from((await exe.run(feeds, { y })).y.data)).toEqual(Array.from(evaluate(g, feeds, { y }).y.data));
  });
});
