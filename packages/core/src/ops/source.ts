/** Sources whose values come from outside the graph (feeds, device-resident params, constants) and assign. */
import { z } from 'zod';
import { GraphError, ShapeError } from '../errors';
import { type DType, DTYPES, shapeBroadcast, shapesEqual, shapeToString } from '../shape';
import { defineOp } from '../spec';
import { broadcastIndex, ieeeNumber } from './util';

const dtype = z.enum(DTYPES as [DType, ...DType[]]);
const shape = z.array(z.union([z.number().int().nonnegative(), z.string()]));
const external = (what: string) => () => { throw new GraphError(`${what} values come from the evaluator, not from a reference kernel`); };

export const INPUT = defineOp({
  name: 'input', kind: 'source', arity: 0,
  attrs: z.object({ name: z.string().min(1), shape, dtype }).strict(),
  infer: (_, a) => ({ shape: a.shape, dtype: a.dtype }),
  ref: external('input'),
});

export const PARAM = defineOp({
  name: 'param', kind: 'source', arity: 0,
  attrs: z.object({ name: z.string().min(1), shape: z.array(z.number().int().nonnegative()), dtype }).strict(),
  infer: (_, a) => ({ shape: a.shape, dtype: a.dtype }),
  ref: external('param'),
});

export const CONSTANT = defineOp({
  name: 'constant', kind: 'source', arity: 0,
  attrs: z.object({ value: z.array(ieeeNumber), shape: z.array(z.number().int().nonnegative()), dtype }).strict(),
  infer: (_, a) => ({ shape: a.shape, dtype: a.dtype }),
  ref: (_, a) => Float64Array.from(a.value),
});

/** assign(target, value): at the end of a training run, target (a param) takes value. */
export const ASSIGN = defineOp({
  name: 'assign', kind: 'state', arity: 2, attrs: z.object({}).strict(),
  infer: ([t, v]) => {
    if (t!.dtype !== v!.dtype) throw new ShapeError(`assign: value dtype ${v!.dtype} differs from target ${t!.dtype}`);
    if (!shapesEqual(shapeBroadcast([t!.shape, v!.shape], 'assign'), t!.shape)) {
      throw new ShapeError(`assign: value ${shapeToString(v!.shape)} does not broadcast to target ${shapeToString(t!.shape)}`);
    }
    return { shape: t!.shape, dtype: t!.dtype };
  },
  ref: ([t, v]) => {
    const map = broadcastIndex(v!.shape, t!.shape);
    return Float64Array.from(map, (i) => v!.data[i]!);
  },
});
