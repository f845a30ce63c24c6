/**
 * What the arguments of a public op accept, checked at the op boundary. Every `ops.*` function
 * and Tensor method is wrapped by `checkedOp` (ops/index.ts does it once for the whole table):
 * a call is checked against its argument list before the op adds a node, so a user mistake is
 * a typed error naming the op, the argument and what was expected, never a TypeError from deep
 * inside a composite, and never a half-built graph.
 *
 * Tensor arguments that are not tensors are GraphErrors (as the graph's own operand check);
 * other arguments that are missing or malformed are OptionsErrors; an options object is checked
 * with its zod schema, and the message names the field.
 */
import { z } from 'zod';
import { describeValue, GraphError, OptionsError } from '../errors';
import { parseOptions } from '../options';
import { type DType, DTYPES } from '../shape';
import type { Tensor, TensorLike } from '../tensor';
import { ieeeNumber } from './util';

/** One argument of a public op. */
export interface Arg {
  readonly name: string;
  /** What it accepts, for messages: "a Tensor", "an integer axis or { axis, keepDims }". */
  readonly expected: string;
  /** Absent, undefined or null means "use the default". */
  readonly optional: boolean;
  /** A tensor operand: a Tensor, or (`tensorLike`) also a number or boolean lifted to a scalar. */
  readonly tensor?: 'tensor' | 'tensorLike';
  /** The non-object values it accepts. */
  readonly value?: z.ZodType;
  /** Its options-object form: checked with parseOptions, so the message names the bad field. */
  readonly options?: z.ZodType;
}

// NOTE: duck-typed, not `instanceof Tensor`: tensor.ts builds its methods from this module's
// table, so importing the class here would be an import cycle. Graph.addNode still checks
// `instanceof Tensor` and the graph each input belongs to.
/** Whether v is a Tensor (duck-typed; see the NOTE above). */
export const isTensor = (v: unknown): v is Tensor =>
  typeof v === 'object' && v !== null && typeof (v as Tensor).id === 'number' && typeof (v as Tensor).graph === 'object' && (v as Tensor).graph !== null;
/** Whether v is a Tensor, a number or a boolean: what ops lift to a tensor. */
export const isTensorLike = (v: unknown): v is TensorLike => isTensor(v) || typeof v === 'number' || typeof v === 'boolean';

/** A Tensor operand. */
export const tensor = (name: string): Arg => ({ name, expected: 'a Tensor', optional: false, tensor: 'tensor' });
/** A Tensor operand, or a number/boolean (lifted to a scalar of the other operand's dtype). */
export const tensorLike = (name: string): Arg => ({ name, expected: 'a Tensor, a number or a boolean operand', optional: false, tensor: 'tensorLike' });
/** A non-tensor argument with its accepted values (`value`) and/or options-object form (`options`). */
export const arg = (name: string, expected: string, forms: { value?: z.ZodType; options?: z.ZodType }): Arg => ({ name, expected, optional: false, ...forms });
/** An options object (strict zod object). */
export const options = (schema: z.ZodType, name = 'options'): Arg => arg(name, 'an options object', { options: schema });
/** The same argument, optional. */
export const optional = (a: Arg): Arg => ({ ...a, optional: true });

// ---------------------------------------------------------------- shared schemas

/** An integer (an axis, a size). */
export const int = z.number().int();
/** A list of integers (axes, a permutation). */
export const ints = z.array(int);
/** A tensor-like value inside an options object (batchNorm's mean, dropout's training flag). */
// NOTE: typed `unknown`, not TensorLike: a zod type over Tensor would make Tensor's method
// table (derived from these schemas' ops) depend on itself.
export const tensorLikeField = z.custom<unknown>((v): boolean => isTensorLike(v), 'expected a Tensor, a number or a boolean');
/** A Tensor inside an options object or array (typed `unknown` for the same reason). */
export const tensorField = z.custom<unknown>((v): boolean => isTensor(v), 'expected a Tensor');
/** 'f32', 'i32' or 'bool'. */
export const dtypeSchema = z.enum(DTYPES as [DType, ...DType[]]);
/** A shape argument: non-negative integers and symbol names, and (reshape) one -1. */
export const shapeSchema = z.array(z.union([z.number().int().min(-1), z.string().min(1)]));
/** Any number, NaN and +-Infinity included (fill values, clip bounds). */
export const number = ieeeNumber;

/**
 * Check a call's arguments against an op's argument list; throws GraphError/OptionsError naming
 * the op and the argument. Returns the arguments with null in optional places made undefined
 * (so the op's defaults apply).
 */
export function checkArgs(op: string, args: readonly Arg[], values: readonly unknown[]): unknown[] {
  if (values.length > args.length) {
    throw new OptionsError(`${op}: too many arguments (${values.length}); it takes ${args.map((a) => a.name + (a.optional ? '?' : '')).join(', ')}`);
  }
  return args.map((a, i) => {
    const v = values[i];
    if ((v === undefined || v === null) && a.optional) return undefined;
    const bad = () => {
      const m = `${op}: argument '${a.name}': expected ${a.expected}, got ${describeValue(v)}`;
      return a.tensor ? new GraphError(m) : new OptionsError(m);
    };
    if (a.tensor) {
      if (a.tensor === 'tensor' ? !isTensor(v) : !isTensorLike(v)) throw bad();
      return v;
    }
    if (a.options && typeof v === 'object' && v !== null && !Array.isArray(v) && !isTensor(v)) {
      parseOptions(a.options, v, a.name === 'options' ? op : `${op} ${a.name}`);
      return v;
    }
    if (v !== undefined && v !== null && a.value?.safeParse(v).success) return v;
    throw bad();
  });
}

/**
 * `fn` with its arguments checked first (see checkArgs). Tensor methods call the same function
 * with the tensor as the first argument, so they are checked too.
 * @typeParam F - the op's function type, which the checked function keeps.
 * @throws GraphError or OptionsError from checkArgs, before fn runs.
 * @example const clip01 = checkedOp('clip01', [tensor('x')], (x: Tensor) => x.maximum(0).minimum(1));
 */
export function checkedOp<F extends (...args: never[]) => unknown>(op: string, args: readonly Arg[], fn: F): F {
  const call = fn as unknown as (...a: unknown[]) => unknown;
  return ((...values: unknown[]) => call(...checkArgs(op, args, values))) as unknown as F;
}
