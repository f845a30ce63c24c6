import type { Graph, Node } from './graph';
import { type FluentOps, METHOD_OPS } from './ops';
import type { DType, Shape } from './shape';

/**
 * A symbolic tensor: a handle on one node of one graph, with a static shape (dims are numbers
 * or symbols such as 'batch') and a dtype ('f32', 'i32' or 'bool'). Every op of the op table is
 * a method (`x.add(y).relu()`), defined with the class from the same table as the `ops.*`
 * functions (ops/index.ts), so methods and functions are the same code, with the same argument
 * checks. Shapes and dtypes are inferred when the op is called: a mistake throws a ShapeError,
 * DTypeError, GraphError or OptionsError there, naming the op, the node and the operands.
 * @example
 * ```ts
 * const g = new Graph();
 * const x = g.input('x', ['batch', 784]);
 * const w = g.param('w', [784, 10], { init: 'glorotUniform' });
 * const logits = x.matmul(w); // Tensor(matmul_2: f32[batch, 10])
 * ```
 */
export class Tensor {
  /** Use graph methods and ops to make tensors; this wraps an existing node. */
  constructor(
    /** The graph the node belongs to. */
    readonly graph: Graph,
    /** The node's index in `graph.nodes`. */
    readonly id: number,
  ) {}
  /** The graph node this tensor stands for. */
  get node(): Node { return this.graph.nodes[this.id]!; }
  /** Static shape; a string dim is bound from the feeds at run time. */
  get shape(): Shape { return this.node.shape; }
  /** Element type: 'f32', 'i32' or 'bool'. */
  get dtype(): DType { return this.node.dtype; }
  /** Number of dims (0 for a scalar). */
  get rank(): number { return this.node.shape.length; }
  /** The primitive that computes it ('matmul', 'input', ...). */
  get op(): string { return this.node.op; }
  /** The node's name: an input's or param's own, else `<op>_<id>`. */
  get name(): string { return this.node.name; }
  /** `Tensor(name: dtype[shape])`, as error messages print tensors. */
  toString(): string { return `Tensor(${this.node.name}: ${this.dtype}[${this.shape.join(', ')}])`; }

  static {
    for (const [name, fn] of Object.entries(METHOD_OPS)) {
      const f = fn as (x: Tensor, ...rest: unknown[]) => unknown;
      Object.defineProperty(this.prototype, name, { value: function (this: Tensor, ...rest: unknown[]) { return f(this, ...rest); }, writable: true, configurable: true });
    }
  }
}

/** Anything an op accepts where a tensor is expected: a tensor, or a scalar number. */
export type TensorLike = Tensor | number | boolean;

// The methods the static block defines, typed from the op table.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Tensor extends FluentOps {}
