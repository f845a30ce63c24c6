// The memory-plan validator, check by check: each kind of broken plan is refused with the
// message of the check that owns it (so removing one check fails here even when a later check
// would also have refused the plan), and liveRanges() gives exact ranges.
import { Graph, GraphError, type OpStep, type Plan, type PlanStep } from '@kiln/core';
import { liveRanges, validatePlan } from '../../packages/core/src/passes';
import { planOf } from './support';

/** Three unfused steps: t0 = exp(x), t1 = neg(t0), t2 = sin(t1); y = t2 fetched. */
function base(): { plan: Plan; t: number[]; feed: number } {
  const g = new Graph();
  const x = g.input('x', [4]);
  const y = x.exp().neg().sin();
  const plan = planOf(g, { y }, { fuse: false });
  const t = plan.steps.map((s) => (s as OpStep).out.buf);
  const feed = plan.feeds[0]!.buf;
  return { plan, t, feed };
}

const withStep = (plan: Plan, k: number, step: PlanStep): Plan => ({ ...plan, steps: plan.steps.map((s, i) => (i === k ? step : s)) });

describe('validatePlan, check by check', () => {
  it('the base plan is three steps with a slot shared by t0 and t2, and passes', () => {
    const { plan, t } = base();
    expect(plan.steps.map((s) => s.ops.join('+'))).toEqual(['exp', 'neg', 'sin']);
    expect(t.map((id) => plan.buffers.get(id)!.slot)).toEqual([0, 1, 0]);
    expect(() => validatePlan(plan)).not.toThrow();
  });

  const cases: [string, (b: ReturnType<typeof base>) => Plan, RegExp][] = [
    ['a step reading a buffer the plan does not have', ({ plan }) => {
      const s = plan.steps[1] as OpStep;
      return withStep(plan, 1, { ...s, inputs: [{ ...s.inputs[0]!, buf: 999 }] } as PlanStep);
    }, /^plan: step 1 \(neg\) names buffer #999, which the plan does not have$/],
    ['a temp naming a slot the plan lacks', ({ plan, t }) => {
      const buffers = new Map(plan.buffers);
      buffers.set(t[1]!, { ...buffers.get(t[1]!)!, slot: 7 });
      return { ...plan, buffers };
    }, /names slot 7; the plan has 2 slots/],
    ['a temp larger than its slot', ({ plan }) => ({ ...plan, slots: [16, 15] }), /does not fit slot 1 \(15 bytes\)/],
    ['a temp read before any step writes it', ({ plan }) => ({ ...plan, steps: [plan.steps[1]!, plan.steps[0]!, plan.steps[2]!] }), /^plan: step 0 \(neg\) reads temp #\d+ before any step writes it$/],
    // Step 1 again, after t2 took slot 0 from t0: the read check comes before the second-write one.
    ['a temp read after another overwrote its slot', ({ plan }) => ({ ...plan, steps: [...plan.steps, plan.steps[1]!] }), /^plan: step 3 \(neg\) reads temp #\d+ from slot 0, but temp #\d+ overwrote it since$/],
    ['an assign to a buffer that is not a param', ({ plan, t }) => ({
      ...plan, steps: [...plan.steps, { kind: 'assign', src: (plan.steps[2] as OpStep).out, dst: (plan.steps[1] as OpStep).out, ops: ['assign'] } as PlanStep],
    }), /^plan: step 3 \(assign\) assigns to buffer #\d+, which is not a param$/],
    ['a kernel writing a feed', ({ plan, feed }) => {
      const s0 = plan.steps[0] as OpStep;
      return withStep(plan, 0, { ...s0, out: { ...s0.out, buf: feed } } as PlanStep);
    }, /^plan: step 0 \(exp\) writes feed buffer #\d+; kernels write temps only$/],
    ['a temp written twice', ({ plan }) => ({ ...plan, steps: [...plan.steps, plan.steps[2]!] }), /^plan: step 3 \(sin\) writes temp #\d+ a second time$/],
    ['a step reading and writing one slot', ({ plan, t }) => {
      const buffers = new Map(plan.buffers);
      buffers.set(t[1]!, { ...buffers.get(t[1]!)!, slot: 0 });
      return { ...plan, buffers };
    }, /^plan: step 1 \(neg\) reads temp #\d+ and writes temp #\d+ in the same slot 0$/],
    ['a fetch of a temp no step writes', ({ plan }) => {
      const buffers = new Map(plan.buffers);
      buffers.set(500, { id: 500, kind: 'temp', dtype: 'f32', size: 4 } as never);
      return { ...plan, buffers, fetches: [...plan.fetches, { key: 'z', operand: { buf: 500, shape: [4], dtype: 'f32' } }] };
    }, /^plan: fetch 'z' reads temp #500, which no step writes$/],
    ['a fetched temp overwritten before the readback', ({ plan }) => ({
      ...plan, fetches: [...plan.fetches, { key: 'e', operand: (plan.steps[0] as OpStep).out }],
    }), /^plan: fetch 'e' reads temp #\d+ from slot 0, but temp #\d+ overwrote it$/],
  ];

  it.each(cases)('refuses %s, with that check\'s message', (_, make, message) => {
    const broken = make(base());
    expect(() => validatePlan(broken)).toThrow(GraphError);
    expect(() => validatePlan(broken)).toThrow(message);
  });

  it('a temp without a slot is checked by its own writes (no slot to simulate)', () => {
    const { plan, t } = base();
    const buffers = new Map(plan.buffers);
    for (const id of t) buffers.set(id, { ...buffers.get(id)!, slot: undefined } as never);
    expect(() => validatePlan({ ...plan, buffers, slots: [] })).not.toThrow();
    expect(() => validatePlan({ ...plan, buffers, slots: [], steps: [plan.steps[1]!, plan.steps[0]!, plan.steps[2]!] })).toThrow(/reads temp #\d+ before any step writes it/);
  });
});

describe('liveRanges', () => {
  it('from the first write to the last read; a fetched temp to the end of the run', () => {
    const { plan, t } = base();
    expect(liveRanges(plan)).toEqual([
      { buf: t[0], slot: 0, from: 0, to: 1 },
      { buf: t[1], slot: 1, from: 1, to: 2 },
      { buf: t[2], slot: 0, from: 2, to: 3 },
    ].sort((a, b) => a.buf! - b.buf!));
  });

  it('a temp nobody reads lives at its write only; an assign source lives to the end; unwritten temps have none', () => {
    const { plan, t, feed } = base();
    const noFetch = { ...plan, fetches: [] };
    expect(liveRanges(noFetch).find((r) => r.buf === t[2])).toEqual({ buf: t[2], slot: 0, from: 2, to: 2 });
    const assigned = { ...noFetch, steps: [...plan.steps, { kind: 'assign', src: (plan.steps[0] as OpStep).out, dst: { buf: feed, shape: [4], dtype: 'f32' }, ops: ['assign'] } as PlanStep] };
    expect(liveRanges(assigned).find((r) => r.buf === t[0])).toEqual({ buf: t[0], slot: 0, from: 0, to: 4 });
    const buffers = new Map(plan.buffers);
    buffers.set(500, { id: 500, kind: 'temp', dtype: 'f32', size: 4, slot: 1 } as never);
    expect(liveRanges({ ...plan, buffers }).map((r) => r.buf)).not.toContain(500);
    // A second write does not move the start.
    expect(liveRanges({ ...plan, steps: [...plan.steps, plan.steps[1]!] }).find((r) => r.buf === t[1])).toEqual({ buf: t[1], slot: 1, from: 1, to: 2 });
  });
});
