// The plan fusions on the IR (fuseEpilogues, fuseMultiTensor) and what the fused plans compute
// on the reference and CPU backends, against the same graphs compiled without fusion.
import {
  compileWith, createReferenceBackend, type Backend, EPILOGUE_OPS, Graph, type OpStep, type PackedElementwiseStep, type Plan, type Tensor,
} from '@kiln/core';
import { createCpuBackend } from '@kiln/cpu';
import { fuseMultiTensor, validatePacked } from '../../packages/core/src/passes';
import { adam, sgd } from '../../packages/nn/src/optim';
import { planOf } from './support';

const opSteps = (plan: Plan) => plan.steps.filter((s): s is OpStep => s.kind === 'op');
const packed = (plan: Plan) => plan.steps.filter((s): s is PackedElementwiseStep => s.kind === 'packed');
const kernels = (plan: Plan) => plan.steps.filter((s) => s.kind !== 'assign');

/** Two-layer MLP with a loss and an optimizer: four params. */
function mlp(optimizer: 'adam' | 'sgd' = 'adam') {
  const g = new Graph({ seed: 3 });
  const x = g.input('x', [4, 6]);
  const w1 = g.param('w1', [6, 5], { init: 'glorotUniform' }), b1 = g.param('b1', [5], { init: 'glorotUniform' });
  const w2 = g.param('w2', [5, 3], { init: 'glorotUniform' }), b2 = g.param('b2', [3], { init: 'glorotUniform' });
  const loss = x.matmul(w1).add(b1).relu().matmul(w2).add(b2).square().sum().mul(0.1);
  g.minimize(loss, optimizer === 'adam' ? adam({ lr: 0.01 }) : sgd({ lr: 0.1 }));
  return { g, loss };
}

describe('fuseEpilogues', () => {
  it('matmul + bias + relu becomes one kernel whose epilogue reads the bias', () => {
    const g = new Graph();
    const x = g.input('x', [4, 6]);
    const w = g.input('w', [6, 8]), b = g.input('b', [8]);
    const plan = planOf(g, { y: x.matmul(w).add(b).relu() });
    expect(kernels(plan)).toHaveLength(1);
    const [s] = opSteps(plan);
    expect(s!.ops).toEqual(['matmul', 'add', 'relu']);
    expect(s!.epilogue!.inputs.map((i) => i.shape)).toEqual([[8]]);
  });

  it('does not fuse a result that another kernel or a fetch also reads', () => {
    const g = new Graph();
    const x = g.input('x', [4, 6]);
    const w = g.input('w', [6, 8]);
    const m = x.matmul(w);
    expect(kernels(planOf(g, { y: m.relu(), z: m.sum() }))).toHaveLength(3);
    expect(kernels(planOf(g, { m, y: m.relu() }))).toHaveLength(2);
  });

  it('keeps the fused kernel within the storage-buffer limit', async () => {
    const g = new Graph();
    const x = g.input('x', [4, 6]);
    const y = x.matmul(g.input('w', [6, 8])).add(g.input('b', [8])).mul(g.input('c', [4, 8]));
    const plan = async (limit: number) => (await compileWith(g, createReferenceBackend(), { maxStorageBuffers: limit, debug: true })).plan({ y });
    expect(kernels(await plan(8))).toHaveLength(1);
    // x, w, b, c and the output do not fit 4 bindings: the add+mul stays a kernel of its own.
    expect(kernels(await plan(4))).toHaveLength(2);
  });

  it('fuses only into the GEMM family, reductions and max pooling', () => {
    expect([...EPILOGUE_OPS].sort()).toEqual(['conv2d', 'conv2dBackpropFilter', 'conv2dTranspose', 'matmul', 'max', 'maxPool2d', 'maxPool2dGrad', 'min', 'prod', 'sum']);
    const g = new Graph();
    const x = g.input('x', [4, 6]);
    expect(kernels(planOf(g, { y: x.transpose().relu() }))).toHaveLength(2);
    expect(opSteps(planOf(g, { y: x.sum({ axes: [1] }).relu() })).map((s) => s.ops)).toEqual([['sum', 'relu']]);
  });

  it('fuses through a reshape of the result, reading the other inputs at the kernel\'s shape', () => {
    const g = new Graph();
    const x = g.input('x', [4, 6]);
    const d = g.input('d', [4, 1]);
    const plan = planOf(g, { y: x.sum({ axes: [1] }).reshape([4, 1]).div(d) });
    const [s] = opSteps(plan);
    expect(s!.ops).toEqual(['sum', 'div']);
    expect(s!.out.shape).toEqual([4]);
    expect(s!.epilogue!.inputs.map((i) => i.shape)).toEqual([[4]]);
  });
});

describe('fusePrologues', () => {
  it('a reduction computes the elementwise kernel it alone reads, and keeps its epilogue', () => {
    const g = new Graph();
    const x = g.input('x', [4, 6]);
    const m = g.input('m', [4, 1]);
    const plan = planOf(g, { y: x.sub(m).exp().sum({ axes: [1] }).log() });
    expect(kernels(plan)).toHaveLength(1);
    const [s] = opSteps(plan);
    expect(s!.ops).toEqual(['sub', 'exp', 'sum', 'log']);
    expect(s!.prologue!.inputs.map((i) => i.shape)).toEqual([[4, 6], [4, 1]]);
    expect(plan.buffers.has(s!.inputs[0]!.buf)).toBe(false); // the input is never written
  });

  it('does not fuse a value another kernel also reads, nor into a non-reduction', () => {
    const g = new Graph();
    const x = g.input('x', [4, 6]);
    const e = x.exp();
    expect(kernels(planOf(g, { s: e.sum(), t: e.mul(2) }))).toHaveLength(3);
    expect(kernels(planOf(g, { y: x.exp().transpose() }))).toHaveLength(2);
    expect(kernels(planOf(g, { y: x.exp().argMax({ axis: 1 }) }))).toHaveLength(2);
  });
});

describe('fuseMultiTensor', () => {
  it.each([[8, 4], [16, 2]])('Adam on four params at %i storage buffers: %i packed updates, assigns at offsets', async (limit, groups) => {
    const { g, loss } = mlp();
    const plan = (await compileWith(g, createReferenceBackend(), { maxStorageBuffers: limit, debug: true })).plan({ loss }, { train: true });
    const p = packed(plan);
    expect(p).toHaveLength(groups);
    expect(p.flatMap((s) => s.segments)).toHaveLength(12); // m, v and the param, for each of 4 params
    validatePacked(plan, { maxStorageBuffers: limit });
    const assigns = plan.steps.filter((s) => s.kind === 'assign');
    const fromPacked = assigns.filter((a) => p.some((s) => s.out.buf === a.src.buf));
    expect(fromPacked).toHaveLength(12);
    expect(new Set(fromPacked.map((a) => `${a.src.buf}@${a.srcOffset}`)).size).toBe(12);
  });

  it('leaves a plan without assigns alone', () => {
    const g = new Graph();
    const y = g.input('x', [4]).exp();
    const plan = planOf(g, { y });
    expect(fuseMultiTensor(plan)).toBe(plan);
  });

  it('validatePacked refuses overlapping segments', () => {
    const { g, loss } = mlp();
    const plan = planOf(g, { loss }, { train: true });
    const [p] = packed(plan);
    const broken = { ...p!, segments: p!.segments.map((s, i) => (i === 1 ? { ...s, offset: p!.segments[0]!.offset } : s)) };
    expect(() => validatePacked({ ...plan, steps: plan.steps.map((s) => (s === p ? broken : s)) })).toThrow(/overlaps/);
  });
});

describe('fused plans compute what unfused ones do', () => {
  const backends: [string, () => Promise<Backend> | Backend][] = [['reference', createReferenceBackend], ['cpu', () => createCpuBackend({ mode: 'cpu' })]];
  it.each(backends.flatMap(([name, make]) => (['adam', 'sgd'] as const).map((o) => [name, o, make] as const)))('%s, %s: three train steps', async (_, optimizer, make) => {
    const feeds = { x: Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)) };
    const results: number[][] = [];
    for (const fuse of [true, false]) {
      const { g, loss } = mlp(optimizer);
      const exe = await compileWith(g, await make(), { fuse });
      const losses: number[] = [];
      for (let i = 0; i < 3; i++) losses.push((await exe.run(feeds, { loss } as Record<string, Tensor>, { train: true })).loss.data[0]!);
      const params = await Promise.all(['w1', 'b1', 'w2', 'b2'].map((n) => exe.getParam(n)));
      results.push([...losses, ...params.flatMap((p) => Array.from(p.data as Float32Array))]);
      await exe.dispose();
    }
    results[0]!.forEach((v, i) => expect(v).toBeCloseTo(results[1]![i]!, 5));
  });
});
