/**
 * Hand-built Plans for the CPU backend tests, and the float64 oracle for them: each op step's
 * expected output comes from the primitive's own `ref` in core (the executable spec).
 */
import {
  type AssignStep, type DType, type ElementwiseStep, type Expr, type OpStep, type Plan, type PlanBuffer, type PlanOperand,
  type KernelPrimitive, kernelParams, type PrimitiveName, type RefValue, spec, type TypedArray,
} from '@kiln/core';

export const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Deterministic values in [-1, 1) (mulberry32). */
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
  private slots: number[] = [];

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

  constant(data: TypedArray, shape: readonly number[], dtype: DType = 'f32'): PlanOperand {
    return this.add({ dtype, size: numel(shape), kind: 'const', data }, shape);
  }

  /** A temp in its own slot, or in `slot` (shared with other temps). */
  temp(shape: readonly number[], dtype: DType = 'f32', slot?: number): PlanOperand {
    const s = slot ?? this.slots.length;
    this.slots[s] = Math.max(this.slots[s] ?? 0, Math.max(4, 4 * numel(shape)));
    return this.add({ dtype, size: numel(shape), kind: 'temp', slot: s }, shape);
  }

  elementwise(expr: Expr, inputs: PlanOperand[], shape: readonly number[], dtype: DType, slot?: number): PlanOperand {
    const out = this.temp(shape, dtype, slot);
    this.steps.push({ kind: 'elementwise', expr, inputs, out, ops: ['test'] });
    return out;
  }

  /** An op step; output shape/dtype from the spec's inference, attrs through its schema (defaults). */
  op(op: KernelPrimitive, inputs: PlanOperand[], attrs: Record<string, unknown> = {}): PlanOperand {
    const s = spec(op);
    const parsed = s.attrs.parse(attrs) as Record<string, unknown>;
    const t = s.infer(inputs.map((x) => ({ shape: x.shape, dtype: x.dtype })), parsed);
    const shape = t.shape as number[];
    const out = this.temp(shape, t.dtype);
    const view = s.kind === 'movement' ? (s as unknown as { view: (i: readonly number[], a: unknown, o: readonly number[]) => OpStep['view'] }).view(inputs[0]!.shape, parsed, shape) : undefined;
    this.steps.push({ kind: 'op', op, attrs: parsed, params: kernelParams(op, inputs, parsed, out), inputs, out, ops: [op], ...(view ? { view } : {}) });
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

export const ref = (data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32'): RefValue => ({ data: Float64Array.from(data), shape, dtype });

/** The float64 reference of one op on host values. */
export function refOp(op: PrimitiveName, inputs: RefValue[], attrs: Record<string, unknown> = {}, step = 0): Float64Array {
  const s = spec(op);
  const parsed = s.attrs.parse(attrs) as Record<string, unknown>;
  const t = s.infer(inputs.map((x) => ({ shape: x.shape, dtype: x.dtype })), parsed);
  return s.ref(inputs, parsed, { out: { shape: t.shape as number[], dtype: t.dtype }, step });
}

/** |a - e| <= atol + rtol |e|, NaN where NaN, infinities equal. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    const ok = Number.isNaN(e) ? Number.isNaN(a) : !Number.isFinite(e) ? a === e : Math.abs(a - e) <= atol + rtol * Math.abs(e);
    if (!ok) throw new Error(`element ${i}: got ${a}, expected ${e}`);
  }
}
