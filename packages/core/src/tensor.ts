import type { Graph, Node } from './graph';
import type { DType, Shape } from './shape';

/**
 * A symbolic tensor: a handle on one node of one graph. Op methods (`x.add(y).relu()`)
 * are installed on the prototype from the op table, so methods and `ops.*` functions
 * are the same code (see ops/index.ts).
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
}

/** Anything an op accepts where a tensor is expected: a tensor, or a scalar number. */
export type TensorLike = Tensor | number | boolean;

import type { FluentOps } from './ops';
// Declaration merging: the methods exist on the prototype once installTensorMethods() ran.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Tensor extends FluentOps {}
