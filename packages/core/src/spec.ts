/**
 * What one primitive is: a single spec object holding its attribute schema, shape and
 * dtype inference, gradient rule, float64 reference and (for elementwise ops) its scalar
 * expression. Backends key their kernel tables by `PrimitiveName`.
 */
import type { z } from 'zod';
import type { Expr, EType } from './expr';
import type { DType, Shape, TensorType } from './shape';
import type { Tensor } from './tensor';

export type Attrs = Record<string, unknown>;
/** Normalised parameters a kernel reads (see PrimitiveSpec.params). */
export type KernelParams = Readonly<Record<string, unknown>>;
/** A tensor type with every dim bound (what lowering and kernels see). */
export interface ConcreteType { readonly shape: readonly number[]; readonly dtype: DType }

/** Host-side float64 values of one tensor, as the reference evaluator sees them. */
export interface RefValue {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly data: Float64Array;
}

export interface RefContext {
  /** Output type with every symbolic dim bound. */
  readonly out: { shape: readonly number[]; dtype: DType };
  /** The run counter that random ops mix into their hash. */
  readonly step: number;
}

export interface GradContext<A> {
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly dy: Tensor;
  readonly attrs: A;
}
/** One entry per input: a gradient (any broadcastable shape; core reduces it), or null. */
export type Grads = (Tensor | null)[];
/**
 * A gradient rule, written with graph ops. NOTE: annotate a rule's return type (`): Grads =>`):
 * Tensor's methods are derived from the spec table, so an inferred return type would make the
 * table's type depend on itself.
 */
export type GradRule<A> = (ctx: GradContext<A>) => Grads;

/**
 * What a primitive is to the compiler. 'source' (input, param, constant) becomes a buffer;
 * 'elementwise' (an `expr`) is fused and rendered by every backend; 'alias' (reshape) shares
 * its input's buffer; 'state' (assign) is an end-of-run copy. Every other kind needs a kernel
 * of its own in each device backend (see KernelPrimitive).
 */
export type OpKind =
  | 'source' | 'elementwise' | 'alias' | 'state'
  | 'reduce' | 'scan' | 'matmul' | 'movement' | 'concat' | 'gather' | 'conv' | 'pool';

/** Kinds that reach a backend as a kernel of their own (an OpStep). */
export type KernelKind = Exclude<OpKind, 'source' | 'elementwise' | 'alias' | 'state'>;

export interface PrimitiveSpec<A extends Attrs = Attrs, P extends KernelParams = KernelParams> {
  readonly name: string;
  readonly kind: OpKind;
  /** Number of tensor inputs; 'variadic' for concat. */
  readonly arity: number | 'variadic';
  readonly attrs: z.ZodType<A>;
  /** Shape and dtype of the output; throws ShapeError/DTypeError naming the problem. */
  readonly infer: (inputs: readonly TensorType[], attrs: A) => TensorType;
  /** Gradient rule written with graph ops; absent = not differentiable. */
  readonly grad?: GradRule<A>;
  /** Float64 reference implementation: the executable spec the tests trust. */
  readonly ref: (inputs: readonly RefValue[], attrs: A, ctx: RefContext) => Float64Array;
  /** Elementwise only: the scalar expression both backends emit code from. */
  readonly expr?: (args: readonly Expr[], attrs: A, out: EType) => Expr;
  /**
   * Kernel parameters for concrete input shapes: the attributes with the op's shape rules
   * applied (axes resolved, extents computed). lowerToPlan stores them on the OpStep, so a
   * backend kernel reads `step.params` and never re-parses attributes. Absent: the attributes.
   */
  readonly params?: (inputs: readonly ConcreteType[], attrs: A, out: ConcreteType) => P;
  /** Reduce only: identity element and combiner, from which backends build kernels. */
  readonly reduce?: { readonly init: (t: DType) => number; readonly combine: (acc: Expr, x: Expr) => Expr };
}

/**
 * Define a primitive. The literal `kind` and `arity` and the type of its kernel parameters stay
 * in the type: the public op functions, the Tensor methods, the backends' kernel tables and the
 * OpSteps their kernels receive are derived from them (ops/primitives.ts).
 */
export const defineOp = <A extends Attrs, const K extends OpKind, const N extends number | 'variadic', P extends KernelParams = A>(
  spec: PrimitiveSpec<A, P> & { readonly kind: K; readonly arity: N },
): PrimitiveSpec<A, P> & { readonly kind: K; readonly arity: N } => spec;

export type { DType, Shape, TensorType };
