// The three lowering passes one by one: fuseElementwise, assignBuffers, assignMemorySlots, and
// the fusion validator that buildPlan runs between them with { debug: true }.
import { GraphError, Graph, validatePlan } from '@kiln/core';
import { assignBuffers, assignMemorySlots, type Fusion, fuseElementwise, prune, validateAssigns, validateFusion } from '../../packages/core/src/passes';
import { pgraphOf } from './support';

function chain() {
  const g = new Graph();
  const x = g.input('x', [4, 8]);
  const b = g.input('b', [8]);
  const h = x.mul(2).add(b).relu();
  const y = h.exp().add(h); // h has two consumers: materialised
  const z = y.sum({ axes: [1] }).reshape([2, 2]).neg();
  return { g, x, b, h, y, z };
}

describe('fuseElementwise', () => {
  it('composes a chain into one kernel reading its leaves, and materialises shared and non-elementwise inputs', () => {
    const { g, x, b, h, y, z } = chain();
    const pg = prune(pgraphOf(g, { z }));
    const f = fuseElementwise(pg);
    // x and b, in the order the expression reads them (the scalar constant 2 is a literal)
    expect(f.kernels.get(h.id)!.leaves).toEqual([x.id, b.id]);
    expect(f.kernels.get(h.id)!.ops).toEqual(['mul', 'add', 'relu']);
    expect(f.kernels.get(y.id)!.leaves).toEqual([h.id]); // exp(h) + h reads h once
    for (const id of [x.id, b.id, h.id, y.id, z.id]) expect(f.materialise.has(id)).toBe(true);
    expect(f.materialise.has(h.id - 1)).toBe(false); // x.mul(2).add(b) was inlined
    validateFusion(pg, f);
  });

  it('without fuse, every elementwise node is its own kernel', () => {
    const { g, h, z } = chain();
    const pg = prune(pgraphOf(g, { z }));
    const f = fuseElementwise(pg, { fuse: false });
    expect(f.kernels.get(h.id)!.ops).toEqual(['relu']);
    validateFusion(pg, f);
  });

  it('validateFusion refuses a kernel that reads a node without a buffer', () => {
    const { g, h, z } = chain();
    const pg = prune(pgraphOf(g, { z }));
    const f = fuseElementwise(pg);
    const bad: Fusion = { materialise: new Set([...f.materialise].filter((id) => id !== f.kernels.get(h.id)!.leaves[0])), kernels: f.kernels };
    expect(() => validateFusion(pg, bad)).toThrow(GraphError);
    const orphan: Fusion = { materialise: f.materialise, kernels: new Map([...f.kernels].filter(([id]) => id !== h.id)) };
    expect(() => validateFusion(pg, orphan)).toThrow(/no kernel/);
  });
});

describe('assignBuffers', () => {
  it('gives each materialised node a buffer, aliases reshape, orders steps, and plans no memory yet', () => {
    const { g, z } = chain();
    const pg = prune(pgraphOf(g, { z }));
    const plan = assignBuffers(pg, fuseElementwise(pg));
    expect(plan.slots).toEqual([]);
    expect(plan.steps.map((s) => s.ops.join('+'))).toEqual(['mul+add+relu', 'exp+add', 'sum', 'neg']);
    const temps = [...plan.buffers.values()].filter((b) => b.kind === 'temp');
    expect(temps.every((b) => b.slot === undefined)).toBe(true);
    expect(temps.length).toBe(4); // the reshape is an alias of the sum's buffer
    const sum = plan.steps[2]!, neg = plan.steps[3]!;
    expect(sum.kind === 'op' && neg.kind === 'elementwise' && neg.inputs[0]!.buf === sum.out.buf).toBe(true);
    validatePlan(plan);
  });

  it('turns a swap into plain copies (a kernel copies each swapped source first)', () => {
    const g = new Graph();
    const a = g.param('a', [2]), b = g.param('b', [2]), c = g.param('c', [3]);
    g.assign(a, b);
    g.assign(b, a);
    g.assign(c, g.param('s', [1]));
    const pg = prune(pgraphOf(g, { a }, { train: true }));
    const plan = assignBuffers(pg, fuseElementwise(pg));
    validateAssigns(plan);
    const copies = plan.steps.filter((s) => s.kind === 'elementwise' && s.ops.join() === 'assign');
    expect(copies.length).toBe(2); // c's source is already broadcast to its shape by g.assign
    expect(plan.steps.filter((s) => s.kind === 'assign').map((s) => s.kind === 'assign' && copies.some((c) => c.kind === 'elementwise' && c.out.buf === s.src.buf))).toEqual([true, true, false]);
    const bad = { ...plan, steps: plan.steps.map((s) => (s.kind === 'assign' && s.dst.shape[0] === 3 ? { ...s, src: { ...s.src, shape: [1] } } : s)) };
    expect(() => validateAssigns(bad)).toThrow(/copies f32\[1\] into f32\[3\]/);
  });

  it('puts assigns after every kernel', () => {
    const g = new Graph();
    const w = g.param('w', [3], { init: 'ones' });
    const x = g.input('x', [3]);
    g.assign(w, w.sub(x.mul(0.1)));
    const loss = w.mul(x).sum();
    const pg = prune(pgraphOf(g, { loss }, { train: true }));
    const plan = assignBuffers(pg, fuseElementwise(pg));
    expect(plan.steps.at(-1)!.kind).toBe('assign');
    expect(plan.steps.slice(0, -1).every((s) => s.kind !== 'assign')).toBe(true);
  });
});

describe('assignMemorySlots', () => {
  it('shares slots between temps that are never live together, never an output with its input', () => {
    const g = new Graph();
    let h = g.input('x', [16, 16]);
    for (let i = 0; i < 8; i++) h = h.matmul(h).tanh();
    const pg = prune(pgraphOf(g, { h }));
    const unplanned = assignBuffers(pg, fuseElementwise(pg));
    const plan = assignMemorySlots(unplanned);
    expect(unplanned.slots).toEqual([]); // the pass returns a new plan
    const temps = [...plan.buffers.values()].filter((b) => b.kind === 'temp');
    expect(temps.length).toBe(16);
    expect(plan.slots.length).toBeLessThanOrEqual(3);
    for (const s of plan.steps) {
      if (s.kind === 'assign') continue;
      const out = plan.buffers.get(s.out.buf)!.slot;
      for (const i of s.inputs) if (plan.buffers.get(i.buf)!.kind === 'temp') expect(plan.buffers.get(i.buf)!.slot).not.toBe(out);
    }
    validatePlan(plan);
  });
});
