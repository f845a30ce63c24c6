// The WGSL of a few fixed kernels, snapshotted so that a refactor that changes generated code
// shows up in review (update with `pnpm test -- test/webgpu/snapshots -u`). No device needed.
import { E, type OpStep } from '@kiln/core';
import { type DeviceTraits, type Kernel } from '@kiln/webgpu';
import { kernelSource } from '../../packages/webgpu/src/kernel';
import { elementwiseKernel } from '../../packages/webgpu/src/kernels/elementwise';
import { matmulKernel } from '../../packages/webgpu/src/kernels/linalg';
import { reduceKernels } from '../../packages/webgpu/src/kernels/reduce';

const traits = (gemm: 'subgroup' | 'tiled'): DeviceTraits => ({
  maxWorkgroupsPerDimension: 65535, maxInvocationsPerWorkgroup: 1024, maxWorkgroupStorageSize: 32768,
  maxStorageBufferBindingSize: 1 << 27, maxStorageBuffersPerShaderStage: 16, subgroupSize: 8, cpuLike: gemm === 'subgroup', gemm,
});
const ctx = (gemm: 'subgroup' | 'tiled') => ({ traits: traits(gemm), scratch: () => 0 });
const show = (k: Kernel) => `// ${k.key} grid ${k.grid.join('x')} workgroup ${k.workgroupSize}\n${kernelSource(k)}`;
const f32 = 'f32' as const;

test('fused elementwise: x * w + b, relu (broadcast bias, 4-wide)', () => {
  const x = E.arg(0, 'f32'), b = E.arg(1, 'f32');
  const expr = E.select(E.lt(E.add(E.mul(x, E.lit(2)), b), E.lit(0)), E.lit(0), E.add(E.mul(x, E.lit(2)), b));
  expect(show(elementwiseKernel({ kind: 'elementwise', expr, inputs: [{ buf: 0, shape: [8, 16], dtype: f32 }, { buf: 1, shape: [16], dtype: f32 }], out: { buf: 2, shape: [8, 16], dtype: f32 }, ops: ['mul', 'add', 'relu'] }))).toMatchSnapshot();
});

test('sum over rows (serial, vec4)', () => {
  const step: OpStep<'sum'> = { kind: 'op', op: 'sum', attrs: { axes: [1], keepDims: false }, params: { axes: [1] }, inputs: [{ buf: 0, shape: [64, 512], dtype: f32 }], out: { buf: 1, shape: [64], dtype: f32 }, ops: ['sum'] };
  expect(reduceKernels(step, ctx('subgroup')).map(show).join('\n\n')).toMatchSnapshot();
});

test.each(['subgroup', 'tiled'] as const)('matmul [128, 256] x [256, 64] (%s)', (gemm) => {
  const step: OpStep = { kind: 'op', op: 'matmul', attrs: { transposeA: false, transposeB: false }, params: { transposeA: false, transposeB: false }, inputs: [{ buf: 0, shape: [128, 256], dtype: f32 }, { buf: 1, shape: [256, 64], dtype: f32 }], out: { buf: 2, shape: [128, 64], dtype: f32 }, ops: ['matmul'] };
  expect(show(matmulKernel(step, ctx(gemm)))).toMatchSnapshot();
});
