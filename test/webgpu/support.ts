/**
 * Shared pieces of the WebGPU suites: whether to run at all, one backend per file, and
 * hand-built Plans (so single kernels can be tested without the compiler).
 *
 * Without an adapter the suites skip with a visible message, except under CI
 * (KILN_REQUIRE_WEBGPU=1), where a missing adapter fails them.
 */
import {
  type AssignStep, type DType, type ElementwiseStep, type Expr, type OpStep, type Plan, type PlanBuffer, type PlanOperand,
  type KernelPrimitive, kernelParams, type PrimitiveName, type StridedView, type TypedArray,
} from '@kiln/core';
import { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions, webgpuAvailable } from '@kiln/webgpu';

const probe = await webgpuAvailable();
if (!probe.ok) {
  if (process.env.KILN_REQUIRE_WEBGPU === '1') throw new Error(`KILN_REQUIRE_WEBGPU=1 but there is no WebGPU adapter: ${probe.reason}`);
  console.warn(`SKIPPED WebGPU suites: ${probe.reason}`);
}

/** describe() that skips (with the warning above) when there is no adapter. */
export const describeGpu: jest.Describe = (probe.ok ? describe : describe.skip) as jest.Describe;

/** A backend per suite, disposed after it. */
export function useBackend(options: WebGPUBackendOptions = {}): () => WebGPUBackend {
  let backend: WebGPUBackend | undefined;
  beforeAll(async () => { backend = await createWebGPUBackend(options); });
  afterAll(async () => { await backend?.dispose(); });
  return () => backend!;
}

export const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Deterministic values in [-scale, scale) (mulberry32). */
export function rand(n: number, seed = 1, scale = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

export class PlanBuilder {
  readonly buffers = new Map<number, PlanBuffer>();
  readonly steps: (ElementwiseStep | OpStep | AssignStep)[] = [];
  readonly feeds: { buf: number; name: string }[] = [];
  readonly fetches: { key: string; operand: PlanOperand }[] = [];
  private readonly slots: number[] = [];

  private add(b: Omit<PlanBuffer, 'id'>, shape: readonly number[]): PlanOperand {
    const id = this.buffers.size;
    this.buffers.set(id, { id, ...b });
    return { buf: id, shape, dtype: b.dtype };
  }

  feed(name: string, shape: readonly number[], dtype: DType = 'f32'): PlanOperand {
    const op = this.add({ dtype, size: numel(shape), kind: 'feed', name }, shape);
    this.feeds.push({ buf: op.buf, name });
    return op;
  }

  param(name: string, shape: readonly number[], dtype: DType = 'f32'): PlanOperand {
    return this.add({ dtype, size: numel(shape), kind: 'param', name }, shape);
  }

  temp(shape: readonly number[], dtype: DType = 'f32'): PlanOperand {
    const slot = this.slots.length;
    this.slots.push(Math.max(4, 4 * numel(shape)));
    return this.add({ dtype, size: numel(shape), kind: 'temp', slot }, shape);
  }

  elementwise(expr: Expr, inputs: PlanOperand[], shape: readonly number[], dtype: DType): PlanOperand {
    const out = this.temp(shape, dtype);
    this.steps.push({ kind: 'elementwise', expr, inputs, out, ops: ['test'] });
    return out;
  }

  op(op: KernelPrimitive, inputs: PlanOperand[], shape: readonly number[], dtype: DType, attrs: Record<string, unknown> = {}, view?: StridedView): PlanOperand {
    const out = this.temp(shape, dtype);
    this.steps.push({ kind: 'op', op, attrs, params: kernelParams(op, inputs, attrs, out), inputs, out, ops: [op], ...(view ? { view } : {}) });
    return out;
  }

  assign(src: PlanOperand, dst: PlanOperand): void {
    this.steps.push({ kind: 'assign', src, dst, ops: ['assign'] });
  }

  fetch(key: string, operand: PlanOperand): this {
    this.fetches.push({ key, operand });
    return this;
  }

  build(): Plan {
    return { buffers: this.buffers, steps: this.steps, slots: this.slots, feeds: this.feeds, fetches: this.fetches, usesStep: true };
  }
}

/** Lower a plan, run it once with feeds by name, return the fetches by key; disposes the program. */
export async function runPlan(backend: WebGPUBackend, plan: Plan, feeds: Record<string, TypedArray>, step = 0): Promise<Record<string, TypedArray>> {
  const program = await backend.lower(plan);
  try {
    const map = new Map(plan.feeds.map((f) => [f.buf, feeds[f.name]!]));
    const r = await program.run(map, plan.fetches.map((f) => f.operand.buf), { step });
    return Object.fromEntries(plan.fetches.map((f) => [f.key, r.outputs.get(f.operand.buf)!]));
  } finally {
    program.dispose();
  }
}

/** |a - e| <= atol + rtol |e|, NaN where NaN, infinities equal; a message naming the first miss. */
export function mismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-4): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} vs ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(a) || Number.isNaN(e)) {
      if (Number.isNaN(a) !== Number.isNaN(e)) return `[${i}] got ${a}, expected ${e}`;
      continue;
    }
    if (!Number.isFinite(a) || !Number.isFinite(e)) {
      if (a !== e) return `[${i}] got ${a}, expected ${e}`;
      continue;
    }
    if (Math.abs(a - e) > atol + rtol * Math.abs(e)) return `[${i}] got ${a}, expected ${e}`;
  }
  return null;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol?: number, rtol?: number): void {
  expect(mismatch(actual, expected, atol, rtol)).toBeNull();
}
