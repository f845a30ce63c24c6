// Fusion within a device's binding limit: no fused kernel binds more storage buffers (inputs
// plus output) than `maxStorageBuffers`, whatever the shape of the chain, and the split kernels
// compute what one kernel (or no fusion) computes. WebGPU guarantees 8 storage buffers per
// shader stage, Chromium's SwiftShader has 10, lavapipe 16.
import {
  buildPlan, compileWith, createReferenceBackend, DEFAULT_MAX_STORAGE_BUFFERS, type ElementwiseStep, evaluate, Graph,
  OptionsError, type PackedElementwiseStep, type Plan, type Tensor,
} from '@kiln/core';
import { adam } from '../../packages/nn/src/optim';

const kernelsOf = (plan: Plan) => plan.steps.filter((s): s is ElementwiseStep | PackedElementwiseStep => s.kind === 'elementwise' || s.kind === 'packed');
const planWith = (g: Graph, fetches: Record<string, Tensor>, maxStorageBuffers?: number, train = false) =>
  buildPlan(g, Object.entries(fetches).map(([key, t]) => ({ key, id: t.id })), train, new Map(), { debug: true, ...(maxStorageBuffers ? { maxStorageBuffers } : {}) });

/** Chains of 12 inputs of several shapes: left-deep, right-deep, balanced, and through where (3 inputs). */
const CHAINS: { title: string; build: (xs: Tensor[]) => Tensor }[] = [
  { title: 'left-deep s + 2x', build: (xs) => xs.slice(1).reduce((s, x) => s.add(x.mul(2)), xs[0]!) },
  { title: 'right-deep x - |s|', build: (xs) => xs.slice(0, -1).reduceRight((s, x) => x.sub(s.abs()), xs.at(-1)!) },
  {
    title: 'balanced tree', build: (xs) => {
      let level = xs;
      while (level.length > 1) level = Array.from({ length: Math.ceil(level.length / 2) }, (_, i) => (level[2 * i + 1] ? level[2 * i]!.mul(level[2 * i + 1]!.add(1)) : level[2 * i]!));
      return level[0]!;
    },
  },
  { title: 'where chain', build: (xs) => xs.slice(2).reduce((s, x, i) => (i % 2 ? s.greater(0).where(x, xs[1]!.mul(s)) : s.add(x)), xs[0]!.mul(xs[1]!)) },
];

function chain(build: (xs: Tensor[]) => Tensor) {
  const g = new Graph();
  const xs = Array.from({ length: 12 }, (_, i) => g.input(`x${i}`, [2, 3]));
  const feeds = Object.fromEntries(xs.map((_, i) => [`x${i}`, Float32Array.from({ length: 6 }, (_, j) => Math.sin(i * 7 + j) * 0.9)]));
  return { g, y: build(xs), feeds };
}

describe('fusion within the storage-buffer limit', () => {
  for (const { title, build } of CHAINS) {
    for (const limit of [4, 8, 10, 16]) {
      it(`${title}: every kernel binds at most ${limit} storage buffers, and values match`, async () => {
        const { g, y, feeds } = chain(build);
        const plan = planWith(g, { y }, limit);
        const kernels = kernelsOf(plan);
        for (const k of kernels) expect(k.inputs.length + 1).toBeLessThanOrEqual(limit);
        // Twelve distinct inputs cannot fit fewer kernels than this.
        expect(kernels.length).toBeGreaterThanOrEqual(Math.ceil(11 / (limit - 2)));
        const exe = await compileWith(g, createReferenceBackend(), { maxStorageBuffers: limit, debug: true });
        const got = (await exe.run(feeds, { y })).y.data;
        const want = evaluate(g, feeds, { y }).y.data;
        for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
      });
    }
  }

  it('a 12-input chain fuses into few kernels, not one per op: the limit splits, it does not stop fusion', () => {
    const { g, y } = chain(CHAINS[0]!.build);
    // 12 inputs and the literal 2 need at least two kernels of at most 7 inputs; greedy fusion
    // may take one more, never one per op (22 ops).
    const n = kernelsOf(planWith(g, { y }, 8)).length;
    expect(n).toBeGreaterThanOrEqual(2);
    expect(n).toBeLessThanOrEqual(3);
    expect(kernelsOf(planWith(g, { y }, 16)).length).toBe(1);
  });

  it(`the default limit is ${DEFAULT_MAX_STORAGE_BUFFERS}, WebGPU's guaranteed minimum`, () => {
    const { g, y } = chain(CHAINS[0]!.build);
    for (const k of kernelsOf(planWith(g, { y }))) expect(k.inputs.length + 1).toBeLessThanOrEqual(DEFAULT_MAX_STORAGE_BUFFERS);
  });

  it('an Adam step of several params keeps every kernel within 8 storage buffers', () => {
    const g = new Graph({ seed: 2 });
    const x = g.input('x', [4, 5]);
    const w1 = g.param('w1', [5, 6]), b1 = g.param('b1', [6]), w2 = g.param('w2', [6, 3]), b2 = g.param('b2', [3]);
    const loss = x.matmul(w1).add(b1).relu().matmul(w2).add(b2).square().mean();
    g.minimize(loss, adam({ lr: 0.01, weightDecay: 0.1 }));
    const plan = planWith(g, { loss }, 8, true);
    const kernels = kernelsOf(plan);
    expect(kernels.some((k) => k.ops.includes('sqrt'))).toBe(true); // the update is fused and checked
    for (const k of kernels) expect(k.inputs.length + 1).toBeLessThanOrEqual(8);
  });

  it('the smaller of the compile option and the backend limit wins', async () => {
    const { g, y } = chain(CHAINS[0]!.build);
    const backend = Object.assign(createReferenceBackend(), { limits: { maxStorageBuffersPerShaderStage: 5 } });
    const exe = await compileWith(g, backend, { maxStorageBuffers: 10 });
    for (const k of kernelsOf(exe.plan({ y }))) expect(k.inputs.length + 1).toBeLessThanOrEqual(5);
  });

  it('a limit too small for a where kernel is an OptionsError', () => {
    const { g, y } = chain(CHAINS[0]!.build);
    expect(() => planWith(g, { y }, 3)).toThrow(OptionsError);
  });
});
