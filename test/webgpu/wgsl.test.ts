// The WGSL the WebGPU backend generates, checked for what can be wrong with it (this replaces
// snapshots of the text, which failed on every change and on no bug in particular):
//  - every kernel of every op-table row (fused and unfused), and the GEMM variants the device
//    does not pick by itself, compiles on the Dawn device with no error, against a pipeline
//    layout built by the test from the kernel's own binding table;
//  - each kernel agrees with its descriptor: @binding(i) declared for exactly i < bindings, with
//    the access the descriptor says; the @workgroup_size is the descriptor's and within the
//    device limit; storage bindings within the limit; the grid constant is the descriptor's;
//    no preprocessor text left; one source per variant key;
//  - a disabled block (#if 0) added to every shader file leaves every generated kernel
//    byte-identical (while an unconditional line does reach them).
import { compileWith, createReferenceBackend, DEFAULT_MAX_STORAGE_BUFFERS, E, type OpStep, type Plan } from '@kiln/core';
import type { BuildContext, DeviceTraits, Kernel } from '../../packages/webgpu/src/kernel';
import { kernelSource } from '../../packages/webgpu/src/kernel';
import { elementwiseKernel } from '../../packages/webgpu/src/kernels/elementwise';
import { packedKernel } from '../../packages/webgpu/src/kernels/fused';
import { lowerOp } from '../../packages/webgpu/src/kernels/index';
import { matmulKernel } from '../../packages/webgpu/src/kernels/linalg';
import { reduceKernels } from '../../packages/webgpu/src/kernels/reduce';
import { SHADERS } from '../../packages/webgpu/src/shaders.gen';
import { buildCase, caseName, OP_CASES } from '../support/harness';
import type { OpCase } from '../support/op-cases';
import { describeGpu, useBackend } from './support';

const f32 = 'f32' as const;
const ctxOf = (traits: DeviceTraits): BuildContext => ({ traits, scratch: () => 0 });

/** The kernels the WebGPU program makes of a plan's steps (program.ts, lower). */
function kernelsOf(plan: Plan, ctx: BuildContext): Kernel[] {
  return plan.steps.flatMap((step) => {
    if (step.kind === 'assign' || step.out.shape.some((d) => d === 0)) return [];
    if (step.kind === 'elementwise') return [elementwiseKernel(step)];
    if (step.kind === 'packed') return [packedKernel(step)];
    return lowerOp(step, ctx);
  });
}

/** Kernels built by hand: a broadcast-bias relu chain, a row sum, a matmul (the old snapshots). */
function handBuilt(ctx: BuildContext): Kernel[] {
  const x = E.arg(0, 'f32'), b = E.arg(1, 'f32');
  const lin = E.add(E.mul(x, E.lit(2)), b);
  const relu = elementwiseKernel({ kind: 'elementwise', expr: E.select(E.lt(lin, E.lit(0)), E.lit(0), lin), inputs: [{ buf: 0, shape: [8, 16], dtype: f32 }, { buf: 1, shape: [16], dtype: f32 }], out: { buf: 2, shape: [8, 16], dtype: f32 }, ops: ['mul', 'add', 'relu'] });
  const sum: OpStep<'sum'> = { kind: 'op', op: 'sum', attrs: { axes: [1], keepDims: false }, params: { axes: [1] }, inputs: [{ buf: 0, shape: [64, 512], dtype: f32 }], out: { buf: 1, shape: [64], dtype: f32 }, ops: ['sum'] };
  const mm: OpStep = { kind: 'op', op: 'matmul', attrs: { transposeA: false, transposeB: false }, params: { transposeA: false, transposeB: false }, inputs: [{ buf: 0, shape: [128, 256], dtype: f32 }, { buf: 1, shape: [256, 64], dtype: f32 }], out: { buf: 2, shape: [128, 64], dtype: f32 }, ops: ['matmul'] };
  return [relu, ...reduceKernels(sum, ctx), matmulKernel(mm, ctx)];
}

/**
 * The op-table rows checked: the first row of each op (every op, every kernel family; about a
 * third of the table), or all of them with KILN_WGSL_ALL=1 (minutes on a loaded 2-core machine).
 */
function rows(): OpCase[] {
  if (process.env.KILN_WGSL_ALL === '1') return [...OP_CASES];
  const seen = new Set<string>();
  return OP_CASES.filter((c) => !seen.has(c.op) && !!seen.add(c.op));
}

/** The plans of the rows, fused (within WebGPU's guaranteed 8 storage buffers) and unfused. */
async function opTablePlans(cases: readonly OpCase[]): Promise<{ name: string; plan: Plan }[]> {
  const out: { name: string; plan: Plan }[] = [];
  for (const c of cases) {
    const { g, out: y } = buildCase(c);
    for (const fuse of [true, false]) {
      const exe = await compileWith(g, createReferenceBackend(), { fuse });
      out.push({ name: `${caseName(c)}${fuse ? '' : ' (unfused)'}`, plan: exe.plan({ y }) });
      await exe.dispose();
    }
  }
  return out;
}

const GEMM_FAMILY = /^(matmul|conv)/;

/**
 * Every kernel of the plans and the hand-built ones under the device's own traits; under each
 * other set of traits (the other GEMM formulation) the kernels that depend on it.
 */
function allKernels(plans: readonly { name: string; plan: Plan }[], variants: readonly DeviceTraits[]): { name: string; traits: DeviceTraits; kernel: Kernel }[] {
  return variants.flatMap((traits, v) => {
    const ctx = ctxOf(traits);
    const own = v === 0;
    return [
      ...plans.filter(({ plan }) => own || plan.steps.some((s) => s.kind === 'op' && GEMM_FAMILY.test(s.op)))
        .flatMap(({ name, plan }) => kernelsOf(plan, ctx).map((kernel) => ({ name, traits, kernel }))),
      ...handBuilt(ctx).map((kernel) => ({ name: 'hand-built', traits, kernel })),
    ];
  });
}

const ACCESS_DECL = { read: /^var<storage,\s*read>$/, read_write: /^var<storage,\s*read_write>$/, uniform: /^var<uniform>$/ } as const;

/** What is wrong with a kernel's WGSL against its own descriptor and the traits (none: []). */
function descriptorMismatch(k: Kernel, traits: DeviceTraits): string[] {
  const src = kernelSource(k);
  const problems: string[] = [];
  const decls = [...src.matchAll(/@group\(0\)\s*@binding\((\d+)\)\s*(var<[^>]*>)/g)].map((m) => ({ i: Number(m[1]), decl: m[2]! }));
  const declared = decls.map((d) => d.i).sort((a, b) => a - b);
  if (declared.join() !== k.bindings.map((_, i) => i).join()) problems.push(`declares bindings [${declared}] but its table has ${k.bindings.length}`);
  for (const d of decls) {
    const b = k.bindings[d.i];
    if (b && !ACCESS_DECL[b.access].test(d.decl.replace(/\s+/g, ' ').replace(/, /g, ','))) problems.push(`binding ${d.i} is '${d.decl}' but the table says ${b.access}`);
  }
  const storage = k.bindings.filter((b) => b.access !== 'uniform').length;
  if (storage > traits.maxStorageBuffersPerShaderStage) problems.push(`${storage} storage buffers, more than ${traits.maxStorageBuffersPerShaderStage}`);
  const wg = [...src.matchAll(/@workgroup_size\(([^)]*)\)/g)];
  if (wg.length !== 1) problems.push(`${wg.length} @workgroup_size attributes`);
  else {
    const size = wg[0]![1]!.split(',').map((s) => Number(s.trim().replace(/u$/, ''))).reduce((a, b) => a * b, 1);
    if (size !== k.workgroupSize) problems.push(`@workgroup_size(${wg[0]![1]}) is ${size} invocations, the descriptor says ${k.workgroupSize}`);
  }
  if (k.workgroupSize > traits.maxInvocationsPerWorkgroup) problems.push(`workgroup of ${k.workgroupSize} > ${traits.maxInvocationsPerWorkgroup}`);
  if (!k.grid.every((d) => Number.isInteger(d) && d >= 1)) problems.push(`grid ${k.grid.join('x')}`);
  const gridConst = /const KILN_GRID = vec3u\((\d+)u, (\d+)u, (\d+)u\);/.exec(src);
  if (k.uniformGrid ? gridConst : gridConst?.slice(1).join('x') !== k.grid.join('x')) problems.push(`grid constant ${gridConst?.[0] ?? 'missing'} for grid ${k.grid.join('x')}${k.uniformGrid ? ' (in the uniforms)' : ''}`);
  if (!/\bfn main\s*\(/.test(src)) problems.push('no fn main');
  const leftover = /^\s*#(if|else|endif|for|endfor|include)\b|\{\{|\}\}/m.exec(src);
  if (leftover) problems.push(`preprocessor text left: '${leftover[0].trim()}'`);
  return problems;
}

/** Compile one kernel on the device against a layout built here from its binding table; the errors. */
async function compileErrors(device: GPUDevice, k: Kernel): Promise<string[]> {
  const type = { read: 'read-only-storage', read_write: 'storage', uniform: 'uniform' } as const;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: kernelSource(k), label: k.key });
  const bindGroupLayout = device.createBindGroupLayout({ entries: k.bindings.map((b, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: type[b.access] } })) });
  const layout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
  const scope = device.popErrorScope();
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
  const scoped = await scope;
  if (scoped) errors.push(scoped.message);
  if (!errors.length) {
    try {
      await device.createComputePipelineAsync({ layout, compute: { module, entryPoint: 'main' }, label: k.key });
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  return errors;
}

describeGpu('generated WGSL', () => {
  const backend = useBackend();

  /** The device's own traits, and the other GEMM formulation when the device can run it. */
  const variants = (): DeviceTraits[] => {
    const own = backend().traits;
    const other: DeviceTraits = { ...own, gemm: own.gemm === 'tiled' ? 'subgroup' : 'tiled' };
    return own.subgroupSize > 0 || other.gemm === 'tiled' ? [own, other] : [own];
  };

  let plans: { name: string; plan: Plan }[];
  let kernels: ReturnType<typeof allKernels>;
  beforeAll(async () => {
    plans = await opTablePlans(rows());
    kernels = allKernels(plans, variants());
  }, 300_000);

  test('every op of the table lowers to kernels (the checks below are not vacuous)', () => {
    expect(new Set(rows().map((c) => c.op))).toEqual(new Set(OP_CASES.map((c) => c.op)));
    expect(kernels.length).toBeGreaterThan(rows().length);
    expect(new Set(kernels.map((k) => k.kernel.name)).size).toBeGreaterThan(10);
  });

  test('each kernel agrees with its descriptor and the device limits', () => {
    const bad = kernels.flatMap(({ name, traits, kernel }) => descriptorMismatch(kernel, traits).map((p) => `${name}: ${kernel.key}: ${p}`));
    expect(bad).toEqual([]);
  });

  test(`fused elementwise kernels bind at most ${DEFAULT_MAX_STORAGE_BUFFERS} storage buffers (WebGPU's guaranteed limit)`, () => {
    const over = kernels.filter(({ kernel }) => /^ew_|^packed/.test(kernel.name) && kernel.bindings.filter((b) => b.access !== 'uniform').length > DEFAULT_MAX_STORAGE_BUFFERS);
    expect(over.map(({ name, kernel }) => `${name}: ${kernel.key}`)).toEqual([]);
  });

  test('one WGSL source per variant key (the key names every parameter baked into the source)', () => {
    const byKey = new Map<string, Set<string>>();
    for (const { kernel } of kernels) byKey.set(kernel.key, (byKey.get(kernel.key) ?? new Set()).add(kernelSource(kernel)));
    expect([...byKey].filter(([, sources]) => sources.size > 1).map(([key, sources]) => `${key}: ${sources.size} sources`)).toEqual([]);
  });

  test('every distinct kernel compiles on the device without errors', async () => {
    const device = backend().device;
    const distinct = new Map<string, Kernel>();
    for (const { kernel } of kernels) distinct.set(`${kernel.bindings.map((b) => b.access).join()}\n${kernelSource(kernel)}`, kernel);
    const failures: string[] = [];
    for (const k of distinct.values()) for (const e of await compileErrors(device, k)) failures.push(`${k.key}: ${e}`);
    expect(failures).toEqual([]);
  }, 300_000);

  test('a kernel with a broken binding table does not compile (the check above can fail)', async () => {
    const [k] = handBuilt(ctxOf(backend().traits));
    const wrong: Kernel = { ...k!, bindings: k!.bindings.map((b, i) => (i === 0 ? { ...b, access: 'read' as const } : b)) };
    expect(await compileErrors(backend().device, wrong)).not.toEqual([]);
    expect(descriptorMismatch(wrong, backend().traits)).toEqual([expect.stringMatching(/binding 0 is .* but the table says read/)]);
  });

  test('a disabled block added to every shader file leaves every kernel byte-identical', () => {
    const files = SHADERS as Record<string, string>;
    const saved = { ...files };
    // Every third plan: every shader file is included by some of them.
    const some = plans.filter((_, i) => i % 3 === 0);
    const regenerate = () => allKernels(some, [backend().traits]).map(({ kernel }) => kernelSource(kernel));
    const before = regenerate();
    try {
      for (const name of Object.keys(files)) files[name] = `${saved[name]}\n#if 0\nfn kiln_test_block() -> f32 { return 1.0f; }\nconst KILN_TEST_BLOCK = 1u;\n#endif\n`;
      expect(regenerate()).toEqual(before);
      // The control: the same text outside a block does reach the kernels (no cached sources).
      for (const name of Object.keys(files)) files[name] = `${saved[name]}\nconst KILN_TEST_BLOCK = 1u;\n`;
      const changed = regenerate();
      expect(changed.filter((s, i) => s !== before[i]).length).toBeGreaterThan(before.length / 2);
    } finally {
      Object.assign(files, saved);
    }
  }, 120_000);
});
