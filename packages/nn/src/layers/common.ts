/** Shared option schemas and the "call with a tensor, or get a layer" convention. */
import { describeValue, type Graph, GraphError, INIT_NAMES, type InitName, type ParamInit, ShapeError, Tensor } from '@kiln/core';
import { z } from 'zod';
import { ACTIVATIONS, type Activation, type ActivationName } from './activations';
import { layerName } from './naming';

/**
 * A layer: a function from a tensor to a tensor. A layer with params owns them, as a Keras
 * layer or a PyTorch module does: its first call in a graph makes them, and every later call
 * in that graph uses the same params (gradients sum over the uses).
 */
export type Layer = (x: Tensor) => Tensor;

const graphNumbers = new WeakMap<Graph, number>();
let graphCount = 0;
/** A graph as messages name it: a number in order of first mention, and its inputs. */
function graphLabel(g: Graph): string {
  if (!graphNumbers.has(g)) graphNumbers.set(g, ++graphCount);
  const inputs = [...g.inputs.keys()];
  return `graph #${graphNumbers.get(g)} (${inputs.length ? `inputs ${inputs.join(', ')}` : 'no inputs'})`;
}

/**
 * The params a layer object owns, in the one graph it is used in: `own(g, signature, make)`
 * makes them on the first call (under a fresh layer name) and returns the same ones afterwards;
 * a call in another graph is a GraphError naming the layer and both graphs. `signature`
 * describes what the params were shaped for (e.g. `'5 input features'`); a later call with
 * another signature is a ShapeError naming the layer.
 */
export function ownedParams<P>(kind: string, name: string | undefined): (g: Graph, signature: string, make: (name: string) => P) => P {
  let built: { graph: Graph; name: string; signature: string; params: P } | undefined;
  return (g, signature, make) => {
    if (built && built.graph !== g) {
      throw new GraphError(
        `${kind} '${built.name}': this layer object's params live in ${graphLabel(built.graph)}; it was called in ${graphLabel(g)}. ` +
          'A layer owns its params (as a Keras layer or a PyTorch module): make a new layer for the other graph',
      );
    }
    if (built) {
      if (built.signature !== signature) throw new ShapeError(`${kind} '${built.name}': its params were made for ${built.signature}; called again with ${signature}`);
      return built.params;
    }
    const n = layerName(g, kind, name);
    built = { graph: g, name: n, signature, params: make(n) };
    return built.params;
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

/**
 * A layer function called as `layer(x, size, ...)` with x missing (undefined or null): a
 * GraphError naming the input, not a complaint about the next argument read as `size`.
 */
export function checkLayerInput(kind: string, input: string, first: unknown, second: unknown): void {
  if ((first === undefined || first === null) && typeof second === 'number') {
    throw new GraphError(`${kind}: argument '${input}': expected a Tensor, got ${describeValue(first)}`);
  }
}

/** Static size of dim `axis` of `x`, or a ShapeError naming the layer. */
export function staticDim(x: Tensor, axis: number, what: string): number {
  const a = axis < 0 ? x.rank + axis : axis;
  const d = x.shape[a];
  if (typeof d !== 'number') throw new ShapeError(`${what}: dim ${a} of ${x} must be static, got '${String(d)}'`);
  return d;
}
