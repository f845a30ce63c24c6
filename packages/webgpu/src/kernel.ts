/**
 * A kernel is a typed descriptor: WGSL source, workgroup size, logical grid, bindings and
 * what it computes (for profiles). Kernel builders (kernels/*.ts) are pure functions of a
 * plan step; the Program turns descriptors into pipelines, bind groups and dispatches.
 */
import { KernelCompileError, type OpStep, UnsupportedError } from '@kiln/core';

/** A binding of a kernel: a plan buffer, a program scratch buffer, or the run-counter uniform. */
export type BindingTarget = { readonly buf: number } | { readonly scratch: number } | { readonly step: true } | { readonly uniforms: true };

export interface Binding {
  readonly target: BindingTarget;
  readonly access: 'read' | 'read_write' | 'uniform';
}

export interface Kernel {
  /** Kernel family, e.g. 'matmul_sg' (profile rows). */
  readonly name: string;
  /** Variant key: family plus every parameter baked into the source; also the pipeline label. */
  readonly key: string;
  /** WGSL without the grid constants (kernelSource adds them). */
  readonly source: string;
  readonly workgroupSize: number;
  /** Logical workgroup grid; folded at dispatch time when a dimension exceeds the limit. */
  readonly grid: readonly [number, number, number];
  /** bindings[i] is @group(0) @binding(i). */
  readonly bindings: readonly Binding[];
  /** Contents of the kernel's own uniform buffer (shapes, so that one pipeline serves many). */
  readonly uniforms?: Uint32Array;
  /** The logical grid is in the uniforms (no KILN_GRID constant in the source). */
  readonly uniformGrid?: boolean;
  readonly ops: readonly string[];
  readonly shapes: string;
  readonly bytes: number;
  readonly flops: number;
}

/** The device facts kernel builders choose tile and workgroup sizes from. */
export interface DeviceTraits {
  readonly maxWorkgroupsPerDimension: number;
  readonly maxInvocationsPerWorkgroup: number;
  readonly maxWorkgroupStorageSize: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxStorageBuffersPerShaderStage: number;
  /** Fixed subgroup size when the device has subgroups and min == max size; otherwise 0. */
  readonly subgroupSize: number;
  /** A software adapter running invocations as CPU SIMD lanes (lavapipe): barriers are costly, serial loops are not. */
  readonly cpuLike: boolean;
  /** Which GEMM kernel matmul and convolutions use (see kernels/gemm.ts). */
  readonly gemm: 'tiled' | 'subgroup';
  /** Overrides of the subgroup GEMM's register block (tuning; see scripts/matmul-timing.ts). */
  readonly gemmTiles?: { rows?: number; vec4s?: number; wg?: number; a4?: boolean };
}

/** Context a kernel builder may use to ask the Program for scratch memory. */
export interface BuildContext {
  readonly traits: DeviceTraits;
  /** A program-owned scratch buffer of `bytes`; returns the id to bind as { scratch: id }. */
  scratch(bytes: number): number;
}

/** The final WGSL: directives, the grid constant (unless the kernel reads it from its uniforms), the source. */
export function kernelSource(k: Kernel): string {
  const [x, y, z] = k.grid;
  // Directives (`enable ...;`) must precede every declaration.
  const lines = k.source.split('\n');
  const directive = (l: string) => /^\s*(enable|requires|diagnostic)\b/.test(l);
  const grid = k.uniformGrid ? [] : [`const KILN_GRID = vec3u(${x}u, ${y}u, ${z}u);`];
  return [...lines.filter(directive), ...grid, ...lines.filter((l) => !directive(l))].join('\n');
}

/**
 * Physical dispatch for a logical grid: unchanged when every dimension fits, otherwise the
 * linear workgroup count spread over x, y and z (the shader rebuilds the logical id from all
 * of workgroup_id, and padding workgroups return early).
 */
export function foldGrid(grid: readonly [number, number, number], max: number, what: string): [number, number, number] {
  const [gx, gy, gz] = grid;
  if (gx <= max && gy <= max && gz <= max) return [gx, gy, gz];
  const total = gx * gy * gz;
  const x = Math.min(total, max);
  const rest = Math.ceil(total / x);
  const y = Math.min(rest, max);
  const z = Math.ceil(rest / y);
  if (z > max) throw new UnsupportedError(`webgpu: ${what} needs ${total} workgroups, more than ${max}^3 (maxComputeWorkgroupsPerDimension)`);
  return [x, y, z];
}

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** A builder of one kernel as a kernel-table entry (entries return the kernels of a step, in order). */
export const single = <S extends OpStep, C>(f: (step: S, ctx: C) => Kernel) => (step: S, ctx: C): Kernel[] => [f(step, ctx)];

/** A 1-D grid of `threads` invocations in workgroups of `wg`. */
export const grid1d = (threads: number, wg: number): [number, number, number] => [Math.max(1, ceilDiv(threads, wg)), 1, 1];

/** WGSL declaration of storage binding i. */
export function storageDecl(i: number, name: string, elem: string, access: 'read' | 'read_write'): string {
  return `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${elem}>;`;
}

/**
 * Run synchronous device calls inside an error scope of their own and return the scope's error.
 * NOTE: error scopes are one LIFO stack per device, shared by every compile in flight; a scope
 * held open across an await catches (or loses) the errors of whatever compiles meanwhile. So
 * the scope is pushed and popped around the calls alone, with no await between: the error
 * belongs to these calls and no others.
 */
export function scoped<T>(device: GPUDevice, create: () => T): { value: T; error: Promise<GPUError | null> } {
  device.pushErrorScope('validation');
  let value: T;
  try {
    value = create();
  } catch (e) {
    void device.popErrorScope().catch(() => undefined); // the stack stays balanced
    throw e;
  }
  return { value, error: device.popErrorScope() };
}

/**
 * Create a pipeline. The shader module is created in an error scope of its own (scoped) and the
 * pipeline with createComputePipelineAsync, whose rejection carries its own error, so that
 * kernels compiling at the same time never see each other's errors. A WGSL error becomes a
 * KernelCompileError naming the op, the kernel and the offending source line.
 */
export async function createPipeline(device: GPUDevice, layout: GPUPipelineLayout, code: string, label: string, op: string): Promise<GPUComputePipeline> {
  const { value: module, error: moduleError } = scoped(device, () => device.createShaderModule({ code, label }));
  const info = await module.getCompilationInfo();
  const bad = info.messages.find((m) => m.type === 'error');
  const scopeError = await moduleError;
  let pipeline: GPUComputePipeline | undefined;
  let failure: string | undefined;
  if (!bad && !scopeError) {
    try {
      pipeline = await device.createComputePipelineAsync({ layout, compute: { module, entryPoint: 'main' }, label });
    } catch (e) {
      failure = (e as Error).message;
    }
  }
  if (bad || scopeError || failure || !pipeline) {
    const lines = code.split('\n');
    const lineNo = bad?.lineNum ?? 0;
    const line = lineNo > 0 ? lines[lineNo - 1]?.trim() : undefined;
    const msg = bad?.message ?? scopeError?.message ?? failure ?? 'pipeline creation failed';
    throw new KernelCompileError(
      `webgpu: kernel '${label}' for ${op} failed to compile: ${msg}${line ? `\n  at WGSL line ${lineNo}: ${line}` : ''}`,
      op, line,
    );
  }
  return pipeline;
}
