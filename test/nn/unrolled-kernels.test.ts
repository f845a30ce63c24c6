// An unrolled recurrent layer repeats the same kernels at every time step (slices at T offsets,
// the same cell, the same gradients). Each backend must generate, compile and hold a distinct
// kernel once, so its count stays constant in T while the plan grows linearly: counted here on
// a 2-layer LSTM training step (no wall clock). WebGPU is counted from its kernel builders
// (pure functions of a plan step), so no device is needed.
import { buildPlan, Graph, type Plan } from '@kiln/core';
import { compiledKernelSources, createCpuBackend } from '@kiln/cpu';
import type { DeviceTraits } from '@kiln/webgpu';
import { dense, lstm } from '../../packages/nn/src/layers';
import { adam } from '../../packages/nn/src/optim';
import { kernelSource } from '../../packages/webgpu/src/kernel';
import { elementwiseKernel } from '../../packages/webgpu/src/kernels/elementwise';
import { lowerOp } from '../../packages/webgpu/src/kernels/index';

const TIMES: readonly number[] = [4, 8, 16];

/** The plan of one training step of a 2-layer LSTM over T steps (batch 2, 3 features, hidden 4). */
function lstmPlan(T: number): Plan {
  const g = new Graph({ seed: 1 });
  const x = g.input('x', [2, T, 3]);
  const y = g.input('y', [2, 4]);
  const h = lstm(x, 4, { numLayers: 2, returnSequences: false });
  const loss = dense(h, 4).sub(y).square().mean();
  g.minimize(loss, adam({ lr: 1e-3 }));
  return buildPlan(g, [{ key: 'loss', id: loss.id }], true, new Map());
}

const plans = new Map(TIMES.map((T) => [T, lstmPlan(T)]));
const growth = (f: (T: number) => number) => TIMES.map(f);

test('the plan grows linearly in T', () => {
  const [s4, s8, s16] = growth((T) => plans.get(T)!.steps.length);
  expect(s8! - s4!).toBeGreaterThan(150); // each time step is dozens of kernels
  // Twice the steps, twice the growth (up to how sums of T gradients split into kernels).
  expect(Math.abs(s16! - s8! - 2 * (s8! - s4!))).toBeLessThanOrEqual(8);
});

test('cpu: generated kernels and GEMM calls are shared by the time steps', async () => {
  const added: number[] = [], gemms: number[] = [];
  for (const T of TIMES) {
    const backend = await createCpuBackend({ mode: 'cpu' });
    let prepared = 0;
    const prepare = backend.gemm.prepare.bind(backend.gemm);
    backend.gemm.prepare = (m, k, n) => { prepared++; return prepare(m, k, n); };
    const before = compiledKernelSources();
    const program = await backend.lower(plans.get(T)!);
    added.push(compiledKernelSources() - before);
    gemms.push(prepared);
    program.dispose();
    backend.dispose();
  }
  // After T=4, a longer loop adds only the few kernels whose shapes contain T (the whole
  // sequence), where the plan gains hundreds of steps.
  expect(added[1]!).toBeLessThanOrEqual(10);
  expect(added[2]!).toBeLessThanOrEqual(10);
  // One GEMM call per shape, however many steps.
  expect(gemms[1]).toBe(gemms[0]);
  expect(gemms[2]).toBe(gemms[0]);
});

test('webgpu: distinct pipelines do not grow with T', () => {
  const traits: DeviceTraits = {
    maxWorkgroupsPerDimension: 65535, maxInvocationsPerWorkgroup: 1024, maxWorkgroupStorageSize: 32768,
    maxStorageBufferBindingSize: 1 << 27, maxStorageBuffersPerShaderStage: 16, subgroupSize: 8, cpuLike: true, gemm: 'subgroup',
  };
  const sources = (plan: Plan) => {
    const out = new Set<string>();
    for (const step of plan.steps) {
      if (step.kind === 'elementwise') out.add(kernelSource(elementwiseKernel(step)));
      else if (step.kind === 'op') for (const k of lowerOp(step, { traits, scratch: () => 0 })) out.add(kernelSource(k));
    }
    return out;
  };
  const [n4, n8, n16] = growth((T) => sources(plans.get(T)!).size);
  // The same set but for the few kernels whose shapes contain T, where the plan gains hundreds of steps.
  expect(Math.abs(n8! - n4!)).toBeLessThanOrEqual(10);
  expect(Math.abs(n16! - n8!)).toBeLessThanOrEqual(10);
});
