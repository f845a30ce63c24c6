import type { Graph, Node } from './graph';
import { type FluentOps, METHOD_OPS } from './ops';
import type { DType, Shape } from './shape';

/**
 * A symbolic tensor: a handle on one node of one graph. Every op of the op table is a method
 * (`x.add(y).relu()`), defined with the class from the same table as the `ops.*` functions
 * (ops/index.ts), so methods and functions are the same code.
 */
export class Tensor {
  constructor(readonly graph: Graph, readonly id: number) {}
  get node(): Node { return this.graph.nodes[this.id]!; }
  get shape(): Shape { return this.node.shape; }
  get dtype(): DType { return this.node.dtype; }
  get rank(): number { return this.node.shape.length; }
  get op(): string { return this.node.op; }
  get name(): string { return this.node.name; }
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
