/** Shared option schemas and the "call with a tensor, or get a layer" convention. */
import { type Graph, INIT_NAMES, type InitName, type ParamInit, ShapeError, Tensor } from '@kiln/core';
import { z } from 'zod';
import { ACTIVATIONS, type Activation, type ActivationName } from './activations';
import { layerName } from './naming';

/**
 * A layer: a function from a tensor to a tensor. A layer with params owns them, as a Keras
 * layer or a PyTorch module does: its first call in a graph makes them, and every later call
 * in that graph uses the same params (gradients sum over the uses).
 */
export type Layer = (x: Tensor) => Tensor;

/**
 * The params a layer object owns, per graph: `own(g, signature, make)` makes them on the
 * first call (under a fresh layer name) and returns the same ones afterwards. `signature`
 * describes what the params were shaped for (e.g. `'5 input features'`); a later call with
 * another signature is a ShapeError naming the layer.
 */
export function ownedParams<P>(kind: string, name: string | undefined): (g: Graph, signature: string, make: (name: string) => P) => P {
  const built = new WeakMap<Graph, { name: string; signature: string; params: P }>();
  return (g, signature, make) => {
    const b = built.get(g);
    if (b) {
      if (b.signature !== signature) throw new ShapeError(`${kind} '${b.name}': its params were made for ${b.signature}; called again with ${signature}`);
      return b.params;
    }
    const n = layerName(g, kind, name);
    const params = make(n);
    built.set(g, { name: n, signature, params });
    return params;
  };
}

export const initSchema: z.ZodType<ParamInit> = z.union([
  z.enum(INIT_NAMES as [InitName, ...InitName[]]),
  z.object({ name: z.enum(INIT_NAMES as [InitName, ...InitName[]]), scale: z.number().optional(), mean: z.number().optional(), std: z.number().optional(), low: z.number().optional(), high: z.number().optional() }).strict(),
  z.object({ constant: z.number() }).strict(),
  z.instanceof(Float32Array),
  z.instanceof(Int32Array),
  z.array(z.number()),
]) as z.ZodType<ParamInit>;

export const activationSchema: z.ZodType<Activation> = z.union([
  z.enum(Object.keys(ACTIVATIONS) as [ActivationName, ...ActivationName[]]),
  z.custom<(x: Tensor) => Tensor>((v) => typeof v === 'function', 'expected an activation name or a function'),
]);

export const nameSchema = z.string().min(1).optional();

/** A positive integer or a pair of them (kernel sizes, strides). */
export const pairSchema = z.union([z.number().int().positive(), z.tuple([z.number().int().positive(), z.number().int().positive()])]);

export const isTensor = (v: unknown): v is Tensor => v instanceof Tensor;

/** Static size of dim `axis` of `x`, or a ShapeError naming the layer. */
export function staticDim(x: Tensor, axis: number, what: string): number {
  const a = axis < 0 ? x.rank + axis : axis;
  const d = x.shape[a];
  if (typeof d !== 'number') throw new ShapeError(`${what}: dim ${a} of ${x} must be static, got '${String(d)}'`);
  return d;
}
