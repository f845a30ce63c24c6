/**
 * The contract between core and a backend. Core turns a graph into a Plan (concrete shapes,
 * fused elementwise expressions, buffers with a memory plan); a backend lowers the Plan into
 * a Program of kernels and runs it. Backends never re-infer shapes.
 */
import type { Expr } from './expr';
import type { KernelParams } from './spec';
import type { TypedArray } from './host';
import type { StridedView } from './ops/movement';
import type { KernelPrimitive, ParamsOf } from './ops/primitives';
import type { DType } from './shape';

export type BufferKind = 'feed' | 'param' | 'const' | 'temp';

export interface PlanBuffer {
  readonly id: number;
  readonly dtype: DType;
  /** Element count (bool and i32 take 4 bytes per element on the device). */
  readonly size: number;
  readonly kind: BufferKind;
  /** Input name (feed) or parameter name (param). */
  readonly name?: string;
  /** Initial contents of a constant. */
  readonly data?: TypedArray;
  /** Temps share memory: buffers with the same slot are never live at once. */
  readonly slot?: number;
}

export interface PlanOperand {
  readonly buf: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** One fused elementwise kernel: out[i] = expr(inputs broadcast to `shape`). */
export interface ElementwiseStep {
  readonly kind: 'elementwise';
  readonly expr: Expr;
  readonly inputs: readonly PlanOperand[];
  readonly out: PlanOperand;
  /** Graph ops fused into this kernel (for names and profiles). */
  readonly ops: readonly string[];
}

/**
 * An elementwise expression applied to a kernel's results as they are stored (fusion pass
 * `fuseEpilogues`): `arg 0` is the kernel's own value at an output element, `arg k` (k >= 1) is
 * `inputs[k - 1]` broadcast to the output shape. Its dtype is the output's.
 */
export interface Epilogue {
  readonly expr: Expr;
  readonly inputs: readonly PlanOperand[];
}

/**
 * An elementwise expression a kernel computes its first input with as it reads it (fusion pass
 * `fusePrologues`): `inputs[0]` of the step then names no buffer the step reads; element j of
 * that input is `expr` of the prologue's inputs broadcast to its shape, at j.
 */
export interface Prologue {
  readonly expr: Expr;
  readonly inputs: readonly PlanOperand[];
}

/** One primitive with a kernel of its own (matmul, reduce, movement, conv, ...); `OpStep<'cumsum'>` types its params. */
export interface OpStep<K extends KernelPrimitive = KernelPrimitive> {
  readonly kind: 'op';
  readonly op: K;
  readonly attrs: Readonly<Record<string, unknown>>;
  /** Normalised kernel parameters from the spec (`PrimitiveSpec.params`; the attrs when it has none). */
  readonly params: ParamsOf<K>;
  readonly inputs: readonly PlanOperand[];
  readonly out: PlanOperand;
  /** For strided movement ops (transpose, broadcastTo, slice, pad): the index map. */
  readonly view?: StridedView;
  /** Elementwise ops fused into the kernel's reads of its first input; `ops` lists them first. */
  readonly prologue?: Prologue;
  /** Elementwise ops fused into the kernel's store; `ops` lists them after the primitive. */
  readonly epilogue?: Epilogue;
  readonly ops: readonly string[];
}

/** One part of a PackedElementwiseStep: out[offset + i] = expr(inputs at i), i < size(shape). */
export interface PackedSegment {
  readonly expr: Expr;
  /** Each input has one element (read at 0) or the segment's element count (read at i). */
  readonly inputs: readonly PlanOperand[];
  readonly offset: number;
  readonly shape: readonly number[];
  readonly ops: readonly string[];
}

/**
 * Several elementwise kernels as one (fusion pass `fuseMultiTensor`, e.g. an optimizer's
 * update of every param): each segment writes its part of one packed output buffer, which
 * assigns read at their `srcOffset`. `inputs` is every distinct operand the segments read.
 */
export interface PackedElementwiseStep {
  readonly kind: 'packed';
  readonly segments: readonly PackedSegment[];
  readonly inputs: readonly PlanOperand[];
  readonly out: PlanOperand;
  readonly ops: readonly string[];
}

/**
 * Copy a computed value into a parameter at the end of a training run (`assign`), after the
 * fetches are read. Lowering guarantees a plain copy: `src` has the size of `dst`, and is no
 * param that an assign of the same plan writes (such sources are copied to a temp first), so
 * the assigns of a plan may run in any order.
 */
export interface AssignStep {
  readonly kind: 'assign';
  /** The value: `size(dst)` elements of `src.buf` from element `srcOffset` (default 0). */
  readonly src: PlanOperand;
  readonly srcOffset?: number;
  readonly dst: PlanOperand;
  readonly ops: readonly string[];
}

export type PlanStep = ElementwiseStep | OpStep | PackedElementwiseStep | AssignStep;

export interface Plan {
  readonly buffers: ReadonlyMap<number, PlanBuffer>;
  readonly steps: readonly PlanStep[];
  /** Byte size of each temp slot. */
  readonly slots: readonly number[];
  readonly feeds: readonly { readonly buf: number; readonly name: string }[];
  readonly fetches: readonly { readonly key: string; readonly operand: PlanOperand }[];
  /** Whether any kernel draws random numbers (reads the run counter). */
  readonly usesStep: boolean;
}

export interface ProfileEntry {
  readonly kernel: string;
  readonly ops: readonly string[];
  readonly shapes: string;
  readonly ms: number;
  readonly bytes: number;
  readonly flops: number;
}

export interface ProgramRunResult {
  readonly outputs: Map<number, TypedArray>;
  readonly profile?: readonly ProfileEntry[];
  /** 'kernel' when each dispatch was timed; 'submission' when only whole runs could be. */
  readonly profileGranularity?: 'kernel' | 'submission';
}

export interface Program {
  /** Upload feeds, run every step (one submission on a GPU), read back `fetch` buffers. */
  run(feeds: ReadonlyMap<number, TypedArray>, fetch: readonly number[], options: { step: number; profile?: boolean }): Promise<ProgramRunResult>;
  dispose(): void;
}

export interface BackendStats {
  /** Queue submissions (one per run on WebGPU). */
  submissions: number;
  /** Device bytes currently allocated by this backend. */
  allocatedBytes: number;
}

/** A backend's binding limits, under WebGPU's names. */
export interface BackendLimits {
  /** Storage buffers one kernel may bind (WebGPU guarantees 8; lavapipe has 16, Chromium's SwiftShader 10). */
  readonly maxStorageBuffersPerShaderStage: number;
}

export interface Backend {
  readonly name: 'webgpu' | 'cpu' | 'reference';
  /** Human-readable device description (adapter info, gpu.js mode). */
  readonly description: string;
  readonly stats: BackendStats;
  /** Largest single buffer the backend can bind, in bytes. */
  readonly maxBufferBytes: number;
  /** Binding limits lowering must respect (fusion splits kernels to fit); absent: no limit of its own. */
  readonly limits?: BackendLimits;
  /** Compile a plan; throws UnsupportedError / KernelCompileError before anything runs. */
  lower(plan: Plan): Promise<Program>;
  /** Parameters are resident: created once, shared by every Program of this backend. */
  createParam(name: string, dtype: DType, init: TypedArray): void;
  readParam(name: string): Promise<TypedArray>;
  writeParam(name: string, data: TypedArray): void;
  /** Free a parameter's storage (an Executable frees its params when disposed). */
  deleteParam(name: string): void;
  /** Free everything; idempotent. */
  dispose(): Promise<void> | void;
}
