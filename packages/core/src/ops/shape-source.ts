/** dimSize: the product of some dims as an f32 scalar, bound when a symbolic dim is (mean over 'batch'). */
import { z } from 'zod';
import { E } from '../expr';
import { defineOp } from '../spec';

const product = (dims: readonly (number | string)[]) => dims.reduce<number>((a, d) => a * (d as number), 1);

export const DIM_SIZE = defineOp({
  name: 'dimSize', kind: 'elementwise', arity: 0,
  attrs: z.object({ dims: z.array(z.union([z.number().int().nonnegative(), z.string()])) }).strict(),
  infer: () => ({ shape: [], dtype: 'f32' }),
  // Attributes reach expr and ref with every symbolic dim already bound.
  expr: (_, a) => E.lit(product(a.dims), 'f32'),
  ref: (_, a) => Float64Array.of(product(a.dims)),
});
