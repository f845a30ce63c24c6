// Memory planning on its own, and the plan validator: peak memory below the sum of temps with
// no two temps live at once in one slot; the validator refuses each kind of unsafe plan; it
// passes on every op-table row and on model graphs (training included); and the reference
// backend executes through the slots, so a broken plan gives wrong values.
import {
  compileWith, createReferenceBackend, evaluate, Graph, liveRanges, type Plan, type PlanBuffer, planMemory, type Tensor, validatePlan,
} from '@kiln/core';
import { adam, momentum } from '../../packages/nn/src/optim';
import * as nn from '../../packages/nn/src/nn';
import { buildCase, caseName, OP_CASES } from '../support/harness';
import { planOf } from './support';

/** The same plan with some temps moved to other slots. */
function withSlots(plan: Plan, moves: Record<number, number>): Plan {
  const buffers = new Map<number, PlanBuffer>([...plan.buffers].map(([id, b]) => [id, id in moves ? { ...b, slot: moves[id]! } : b]));
  const slots = [...plan.slots];
  for (const [id, slot] of Object.entries(moves)) slots[slot] = Math.max(slots[slot] ?? 0, 4 * plan.buffers.get(Number(id))!.size);
  return { ...plan, buffers, slots };
}

/** A chain where the first matmul's result is read again at the very end: a long-lived temp. */
function longLived() {
  const g = new Graph();
  const x = g.input('x', [8, 8]);
  const h = x.matmul(x); // read by the next matmul and by the final add
  let t = h.matmul(x).tanh();
  for (let i = 0; i < 4; i++) t = t.matmul(x).sigmoid();
  const y = t.add(h);
  const feeds = { x: Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) / 4) };
  return { g, h, y, feeds };
}

function models(): { name: string; g: Graph; fetches: Record<string, Tensor>; train: boolean }[] {
  const out: { name: string; g: Graph; fetches: Record<string, Tensor>; train: boolean }[] = [];
  {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [8, 20]);
    const y = g.input('y', [8], 'i32');
    const h = nn.dropout(nn.dense(x, 16, { activation: 'relu', name: 'fc1' }), 0.2);
    const logits = nn.dense(h, 4, { name: 'fc2' });
    const loss = logits.softmaxCrossEntropy(y).mean();
    g.minimize(loss, adam({ lr: 0.01 }));
    out.push({ name: 'MLP + dropout + adam, training', g, fetches: { loss }, train: true }, { name: 'MLP, inference', g, fetches: { logits }, train: false });
  }
  {
    const g = new Graph({ seed: 2 });
    const x = g.input('x', [2, 1, 8, 8]);
    const y = g.input('y', [2], 'i32');
    let h = nn.conv2d(x, 4, { kernel: 3, padding: 1, activation: 'relu', name: 'conv1' });
    h = nn.maxPool2d(h, { kernel: 2 });
    h = nn.batchNorm(h, { name: 'bn' });
    const logits = nn.dense(nn.flatten(h), 3, { name: 'fc' });
    const loss = logits.softmaxCrossEntropy(y).mean();
    g.minimize(loss, momentum({ lr: 0.1, momentum: 0.9 }));
    out.push({ name: 'CNN + batchNorm, training', g, fetches: { loss, logits }, train: true });
  }
  return out;
}

describe('memory planning', () => {
  it('peak temp memory is far below the sum of temps, and no two live temps share a slot', () => {
    const g = new Graph();
    let h = g.input('x', [64, 64]);
    for (let i = 0; i < 12; i++) h = h.matmul(h).mul(0.01).tanh();
    const plan = planOf(g, { h });
    const { peakBytes, unsharedBytes } = planMemory(plan);
    expect([...plan.buffers.values()].filter((b) => b.kind === 'temp').length).toBeGreaterThanOrEqual(12); // each mul+tanh is its matmul's epilogue
    expect(peakBytes).toBeLessThanOrEqual(3 * 64 * 64 * 4);
    expect(peakBytes * 4).toBeLessThan(unsharedBytes);
    const ranges = liveRanges(plan);
    for (const a of ranges) for (const b of ranges) {
      if (a !== b && a.slot === b.slot) expect(a.to < b.from || b.to < a.from).toBe(true);
    }
  });

  it('a temp read late keeps its slot until its last reader', () => {
    const { g, h, y } = longLived();
    const plan = planOf(g, { y });
    const hBuf = [...plan.buffers.values()].find((b) => b.kind === 'temp' && plan.steps[0]!.kind !== 'assign' && plan.steps[0]!.out.buf === b.id)!;
    const range = liveRanges(plan).find((r) => r.buf === hBuf.id)!;
    expect(range.to).toBe(plan.steps.length - 1);
    for (const r of liveRanges(plan)) if (r.buf !== hBuf.id) expect(r.slot).not.toBe(hBuf.slot);
    void h;
  });

  it('fetched temps and assign sources are never overwritten', async () => {
    const g = new Graph();
    const p = g.param('p', [4], { init: [1, 2, 3, 4] });
    const mid = p.mul(2).sum().mul(p);
    let t = mid;
    for (let i = 0; i < 3; i++) t = t.sum().mul(p).exp();
    g.assign(p, mid.add(1));
    const plan = planOf(g, { mid, t }, { train: true });
    validatePlan(plan);
    const exe = await compileWith(g, createReferenceBackend());
    const got = await exe.run({}, { mid, t }, { train: true });
    expect(Array.from(got.mid.data)).toEqual([20, 40, 60, 80]);
    expect(Array.from((await exe.getParam('p')).data)).toEqual([21, 41, 61, 81]);
  });
});

describe('validatePlan refuses unsafe plans', () => {
  const base = () => {
    const { g, y, feeds } = longLived();
    return { plan: planOf(g, { y }), g, y, feeds };
  };
  const firstOut = (plan: Plan, k: number) => { const s = plan.steps[k]!; if (s.kind === 'assign') throw new Error('assign'); return s.out.buf; };

  it('accepts the planner\'s plan', () => {
    expect(() => validatePlan(base().plan)).not.toThrow();
  });

  it('two temps live at once in one slot', () => {
    const { plan } = base();
    const h = firstOut(plan, 0), later = firstOut(plan, 3);
    const bad = withSlots(plan, { [later]: plan.buffers.get(h)!.slot! });
    expect(() => validatePlan(bad)).toThrow(/overwrote it since|share slot/);
  });

  it('a slot freed after a temp\'s first reader (the value is gone at the second)', () => {
    const { plan } = base();
    // h is read at step 1 and at the last step; give the temp written at step 2 h's slot.
    const bad = withSlots(plan, { [firstOut(plan, 2)]: plan.buffers.get(firstOut(plan, 0))!.slot! });
    expect(() => validatePlan(bad)).toThrow(/reads temp #\d+ from slot \d+, but temp #\d+ overwrote it since/);
  });

  it('a step reading and writing one slot, a slot too small, a missing slot, a temp read before it is written', () => {
    const { plan } = base();
    const inOut = withSlots(plan, { [firstOut(plan, 1)]: plan.buffers.get(firstOut(plan, 0))!.slot! });
    expect(() => validatePlan(inOut)).toThrow(/same slot|share slot|overwrote/);
    const small = { ...plan, slots: plan.slots.map(() => 4) };
    expect(() => validatePlan(small)).toThrow(/does not fit slot/);
    expect(() => validatePlan({ ...plan, slots: [] })).toThrow(/names slot \d+; the plan has 0 slots/);
    const reordered = { ...plan, steps: [plan.steps[1]!, plan.steps[0]!, ...plan.steps.slice(2)] };
    expect(() => validatePlan(reordered)).toThrow(/reads temp #\d+ before any step writes it/);
  });

  it('a fetched temp overwritten before the readback', () => {
    const g = new Graph();
    const x = g.input('x', [4]);
    const a = x.matmul(x.reshape([4, 1])); // [1]
    const b = x.exp().sum().add(x.sum()); // later, and never reads a (so no in/out clash hides the overwrite)
    const plan = planOf(g, { a, b });
    const aBuf = plan.fetches.find((f) => f.key === 'a')!.operand.buf;
    const last = firstOut(plan, plan.steps.length - 1);
    expect(() => validatePlan(withSlots(plan, { [last]: plan.buffers.get(aBuf)!.slot! }))).toThrow(/fetch 'a'.*overwrote|share slot/);
  });

  it('the reference backend runs through the slots: the same broken plan gives wrong values', async () => {
    const { plan, g, y, feeds } = base();
    const bad = withSlots(plan, { [firstOut(plan, 2)]: plan.buffers.get(firstOut(plan, 0))!.slot! });
    const want = evaluate(g, feeds, { y }).y.data;
    const run = async (p: Plan) => {
      const program = await createReferenceBackend().lower(p);
      const out = await program.run(new Map(p.feeds.map((f) => [f.buf, feeds.x])), [p.fetches[0]!.operand.buf], { step: 0 });
      return out.outputs.get(p.fetches[0]!.operand.buf)!;
    };
    const good = await run(plan);
    for (let i = 0; i < want.length; i++) expect(good[i]).toBeCloseTo(want[i]!, 5);
    const broken = await run(bad);
    expect(Array.from(broken).some((v, i) => Math.abs(v - want[i]!) > 1e-3)).toBe(true);
  });
});

describe('validatePlan on every op-table row', () => {
  it.each(OP_CASES.filter((c) => !c.large).map((c) => [caseName(c), c] as const))('%s', (_, c) => {
    const { g, out } = buildCase(c);
    validatePlan(planOf(g, { out }));
    validatePlan(planOf(g, { out }, { fuse: false }));
  });
});

describe('validatePlan on model graphs', () => {
  it.each(models().map((m) => [m.name, m] as const))('%s', (_, m) => {
    const plan = planOf(m.g, m.fetches, { train: m.train });
    validatePlan(plan);
    validatePlan(planOf(m.g, m.fetches, { train: m.train, fuse: false }));
    const { peakBytes, unsharedBytes } = planMemory(plan);
    // Fused inference of the MLP has two temps, both live at the end: nothing to share.
    if (m.train) expect(peakBytes).toBeLessThan(unsharedBytes);
    else expect(peakBytes).toBeLessThanOrEqual(unsharedBytes);
  });
});
