// core's plan fusions on a real device: epilogues in GEMM and reduction stores, prologues in
// reductions' reads, packed
// multi-tensor updates. Dispatches are counted on the device (device-spy.ts); every fused
// result is compared with the CPU backend running the same plan.
import { compileWith, type Executable, Graph, type Tensor } from '@kiln/core';
import { createCpuBackend } from '@kiln/cpu';
import type { WebGPUBackend } from '@kiln/webgpu';
import { adam } from '../../packages/nn/src/optim';
import { type DeviceSpy, spiedWebGPUBackend } from './device-spy';
import { describeGpu, expectClose, rand } from './support';

/** The bench's MLP shape (dense+relu, dense, softmax cross-entropy, Adam), smaller. */
function mlp() {
  const g = new Graph({ seed: 5 });
  const x = g.input('x', [8, 20]);
  const y = g.input('y', [8], 'i32');
  const w1 = g.param('w1', [20, 16], { init: 'glorotUniform' }), b1 = g.param('b1', [16], { init: 'glorotUniform' });
  const w2 = g.param('w2', [16, 10], { init: 'glorotUniform' }), b2 = g.param('b2', [10], { init: 'glorotUniform' });
  const loss = x.matmul(w1).add(b1).relu().matmul(w2).add(b2).softmaxCrossEntropy(y).mean();
  g.minimize(loss, adam({ lr: 0.01 }));
  return { g, loss, feeds: { x: rand(160, 7), y: Int32Array.from({ length: 8 }, (_, i) => (i * 3) % 10) } };
}

/** Forward graphs whose results end in an epilogue: conv + bias + relu, a residual matmul, reductions (serial and trees) with a scale. */
function epilogues() {
  const g = new Graph({ seed: 6 });
  const x = g.input('x', [2, 3, 6, 6]);
  const w = g.input('w', [4, 3, 3, 3]), b = g.input('b', [1, 4, 1, 1]);
  const conv = x.conv2d(w, { padding: 1 }).add(b).relu();
  const a = g.input('a', [5, 7]), m = g.input('m', [7, 5]), r = g.input('r', [5, 5]);
  const residual = a.matmul(m).mul(0.5).add(r);
  const rowMax = a.max({ axes: [1] }).sub(1);
  const total = a.sum().mul(0.25).sqrt();
  // Long rows reduce as workgroup trees: one pass (2 x 400), or partials and a second pass (5000).
  const l = g.input('l', [2, 400]), h = g.input('h', [5000]);
  const rows = l.sum({ axes: [1] }).mul(2);
  const all = h.max().add(1);
  // Prologues: the reduction computes its input (serial rows, a one-pass tree, partials).
  const expSum = a.sub(0.5).exp().sum({ axes: [1] });
  const treeSum = l.square().sum({ axes: [1] }).sqrt();
  const partialMin = h.mul(b.reshape([4]).slice({ begin: [0], size: [1] })).min();
  // Max pooling and its gradient, each with an epilogue (a scale; the relu mask of the backward pass).
  const pooled = x.maxPool2d({ kernel: 2 }).mul(3);
  const [dx] = g.grad(x.relu().maxPool2d({ kernel: 2 }).sum(), [x]);
  const fetches: Record<string, Tensor> = { conv, residual, rowMax, total, rows, all, expSum, treeSum, partialMin, pooled, dx: dx! };
  const feeds = { x: rand(216, 1), w: rand(108, 2), b: rand(4, 3), a: rand(35, 4), m: rand(35, 5), r: rand(25, 6), l: rand(800, 7), h: rand(5000, 8) };
  return { g, fetches, feeds };
}

async function trainThrice(exe: Executable, m: ReturnType<typeof mlp>): Promise<number[]> {
  const losses: number[] = [];
  for (let i = 0; i < 3; i++) losses.push((await exe.run(m.feeds, { loss: m.loss }, { train: true })).loss.data[0]!);
  const params = await Promise.all(['w1', 'b1', 'w2', 'b2'].map((n) => exe.getParam(n)));
  return [...losses, ...params.flatMap((p) => Array.from(p.data as Float32Array))];
}

describeGpu('plan fusions on webgpu', () => {
  let made: { backend: WebGPUBackend; spy: DeviceSpy } | undefined;
  beforeAll(async () => { made = await spiedWebGPUBackend(); });
  afterAll(async () => { await made?.backend.dispose(); });

  test('an Adam train step dispatches one kernel per fused step (epilogues and packed updates included) and trains like the CPU', async () => {
    const m = mlp();
    const exe = await compileWith(m.g, made!.backend);
    const plan = exe.plan({ loss: m.loss }, { train: true });
    const kernels = plan.steps.filter((s) => s.kind !== 'assign');
    expect(kernels.filter((s) => s.kind === 'packed').flatMap((s) => (s.kind === 'packed' ? s.segments : []))).toHaveLength(12);
    expect(kernels.filter((s) => s.kind === 'op' && s.epilogue).map((s) => s.ops.join('+'))).toEqual(expect.arrayContaining(['matmul+add+relu', 'matmul+add']));
    await exe.run(m.feeds, { loss: m.loss }, { train: true }); // compile
    const { dispatches } = await made!.spy.during(() => exe.run(m.feeds, { loss: m.loss }, { train: true }));
    expect(dispatches).toBe(kernels.length);
    expect(dispatches).toBeLessThanOrEqual(26); // 44 before epilogue and multi-tensor fusion
    await exe.dispose();

    const [mg, mc] = [mlp(), mlp()];
    const gpu = await compileWith(mg.g, made!.backend);
    const cpu = await compileWith(mc.g, await createCpuBackend({ mode: 'cpu' }), { ownsBackend: true });
    expectClose(await trainThrice(gpu, mg), await trainThrice(cpu, mc), 1e-4, 1e-3);
    await gpu.dispose();
    await cpu.dispose();
  });

  test('epilogues in conv, matmul and reduction stores compute what the CPU does', async () => {
    const e = epilogues();
    const gpu = await compileWith(e.g, made!.backend);
    const plan = gpu.plan(e.fetches);
    expect(plan.steps.filter((s) => s.kind === 'op' && (s.epilogue || s.prologue)).map((s) => s.ops.join('+')).sort()).toEqual([
      'conv2d+add+relu', 'matmul+mul+add', 'max+add', 'max+sub', 'maxPool2d+mul', 'maxPool2dGrad+greater+where', 'mul+min', 'square+sum+sqrt', 'sub+exp+sum', 'sum+mul', 'sum+mul+sqrt',
    ]);
    const c = epilogues();
    const cpu = await compileWith(c.g, await createCpuBackend({ mode: 'cpu' }), { ownsBackend: true });
    const got = await gpu.run(e.feeds, e.fetches);
    const want = await cpu.run(c.feeds, c.fetches);
    for (const k of Object.keys(e.fetches)) expectClose(got[k]!.data as Float32Array, want[k]!.data as Float32Array, 1e-5, 1e-5);
    await gpu.dispose();
    await cpu.dispose();
  });
});
