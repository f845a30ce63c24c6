/**
 * Argument checks at the boundary of @kiln/nn's public functions, with core's op machinery
 * (`args.checkArgs`, packages/core/src/ops/args.ts): a missing or wrong-typed argument is a
 * GraphError (tensor operands) or an OptionsError naming the function, the argument and what
 * was expected, before any work; never a TypeError from inside.
 *
 *   check('fit', [model, dataset, optional(opts)], [m, ds, options]);
 */
import { args, DTypeError, Executable, Graph, ShapeError, type Tensor } from '@kiln/core';
import { z } from 'zod';

export const { checkArgs: check, tensor, arg, optional } = args;

/** An options object; its fields are checked by the function's own schema. */
export const opts = (name = 'options'): args.Arg => arg(name, 'an options object', { value: z.object({}).passthrough() });
export const bytesArg = (name = 'bytes'): args.Arg => arg(name, 'a Uint8Array', { value: z.instanceof(Uint8Array) });
export const pathArg = (name = 'path'): args.Arg => arg(name, 'a file path (a non-empty string)', { value: z.string().min(1) });
export const graph = (name = 'graph'): args.Arg => arg(name, 'a Graph', { value: z.instanceof(Graph) });
export const exeArg: args.Arg = arg('exe', 'an Executable', { value: z.custom((v) => v instanceof Executable) });
/** An array of token-id documents (Int32Array each). */
export const docsArg = (name: string): args.Arg => arg(name, 'an array of Int32Array documents', { value: z.array(z.instanceof(Int32Array)) });
/** Any array (its items are the function's to check). */
export const arrayArg = (name: string, expected: string): args.Arg => arg(name, expected, { value: z.array(z.unknown()) });
export const stringArg = (name: string): args.Arg => arg(name, 'a string', { value: z.string() });
export const numberArg = (name: string, expected = 'a number'): args.Arg => arg(name, expected, { value: z.number() });
/** A sample shape: an array of numbers (their values are the function's to check). */
export const dimsArg = (name: string): args.Arg => arg(name, 'an array of dims', { value: z.array(z.number()) });
/** A host array of numbers (a typed array or number[]). */
export const numbers = (name: string): args.Arg =>
  arg(name, 'an array of numbers (typed array or number[])', { value: z.custom<ArrayLike<number>>((v) => ArrayBuffer.isView(v) || Array.isArray(v)) });
/** A dataset: an object with the named array fields (x, y or columns). */
export const dataset = (name = 'data'): args.Arg =>
  arg(name, 'a Dataset (createDataset) or RecordDataset (createRecordDataset)', { value: z.custom((v) => typeof v === 'object' && v !== null && typeof (v as { count?: unknown }).count === 'number') });

/** Predictions and targets of one shape, targets f32; else a ShapeError/DTypeError naming `what`. */
export function sameShape(a: Tensor, b: Tensor, what: string): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${what}: predictions ${a} and targets ${b} must have the same shape`);
  }
  if (b.dtype !== 'f32') throw new DTypeError(`${what}: targets ${b} must be f32`);
}
