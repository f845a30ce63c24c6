/**
 * Movement: transpose, broadcastTo, slice and pad are one strided-view copy (core gives the
 * view), generated per step; concat copies contiguous blocks; gather and scatterAdd walk
 * [outer, axis, inner] blocks (out-of-range indices read 0 / are dropped, as the reference says).
 */
import { type OpStep, shapeSize, shapeStrides, type StridedView, UnsupportedError } from '@kiln/core';
import { BYTES, compileJs, type Kernel, type LowerContext, shapeStr } from '../kernel';
import { coalesce, emitNest } from '../layout';
import { literal } from '../render';

export function viewSource(view: StridedView, outShape: readonly number[], dtype: string): string {
  const padded = (d: number) => view.lo !== undefined && (view.lo[d]! > 0 || view.hi![d]! < outShape[d]!);
  const nest = coalesce(outShape, [shapeStrides(outShape), [...view.strides]], padded);
  const pinnedDims = nest.origin.map((d) => (padded(d) ? { lo: view.lo![d]!, hi: view.hi![d]! } : null));
  const value = literal(view.value ?? 0, dtype === 'f32' ? 'f32' : 'i32');
  const nd = nest.dims.length;
  const okAt = (d: number): string => {
    for (let e = d; e >= 0; e--) if (pinnedDims[e]) return `ok${e}`;
    return 'true';
  };
  return emitNest(nest, {
    // The offset is an argument, not a literal: the T slices of an unrolled loop share one source.
    base: (k) => (k === 1 ? 'xOffset' : '0'),
    level: (d) => {
      const b = pinnedDims[d];
      if (!b) return '';
      const prev = d > 0 ? okAt(d - 1) : 'true';
      return `const ok${d} = ${prev === 'true' ? '' : `${prev} && `}c${d} >= ${b.lo} && c${d} < ${b.hi};`;
    },
    inner: (off) => {
      const ok = okAt(nd - 1);
      return ok === 'true' ? `out[${off(0)}] = x[${off(1)}];` : `out[${off(0)}] = ${ok} ? x[${off(1)}] : ${value};`;
    },
  });
}

function lowerView(step: OpStep, ctx: LowerContext): Kernel {
  if (!step.view) throw new UnsupportedError(`cpu backend: ${step.op} reached the backend without a strided view`);
  const n = shapeSize(step.out.shape);
  const x = ctx.view(step.inputs[0]!), out = ctx.view(step.out);
  const f = compileJs<(x: unknown, out: unknown, xOffset: number) => void>(step.op, ['x', 'out', 'xOffset'], n === 0 ? '' : viewSource(step.view, step.out.shape, step.out.dtype));
  const offset = step.view.offset;
  return { name: 'stridedCopy', ops: step.ops, shapes: shapeStr([...step.inputs, step.out]), bytes: 2 * BYTES * n, flops: 0, run: () => f(x, out, offset) };
}

function lowerConcat(step: OpStep<'concat'>, ctx: LowerContext): Kernel {
  const os = step.out.shape;
  const { axis, outer, inner } = step.params;
  const rowOut = os[axis]! * inner;
  const out = ctx.view(step.out);
  const parts = step.inputs.map((x) => ({ data: ctx.view(x), len: x.shape[axis]! * inner }));
  return {
    name: 'concat', ops: step.ops, shapes: shapeStr([...step.inputs, step.out]), bytes: 2 * BYTES * shapeSize(os), flops: 0,
    run() {
      let at = 0;
      for (const p of parts) {
        const { data, len } = p;
        if (len > 0) {
          if (outer === 1) out.set(data.subarray(0, len), at);
          else for (let o = 0; o < outer; o++) out.set(data.subarray(o * len, (o + 1) * len), o * rowOut + at);
        }
        at += len;
      }
    },
  };
}

function lowerGather(step: OpStep<'gather'>, ctx: LowerContext): Kernel {
  const [xo, io] = step.inputs as [typeof step.inputs[0], typeof step.inputs[0]];
  const { outer, len, inner } = step.params;
  const k = shapeSize(io!.shape);
  const body = `
    for (let o = 0; o < ${outer}; o++) for (let j = 0; j < ${k}; j++) {
      const src = idx[j], dst = (o * ${k} + j) * ${inner};
      if (src >= 0 && src < ${len}) { const s = (o * ${len} + src) * ${inner}; for (let i = 0; i < ${inner}; i++) out[dst + i] = x[s + i]; }
      else for (let i = 0; i < ${inner}; i++) out[dst + i] = 0;
    }`;
  const f = compileJs<(x: unknown, idx: unknown, out: unknown) => void>('gather', ['x', 'idx', 'out'], body);
  const x = ctx.view(xo!), idx = ctx.view(io!), out = ctx.view(step.out);
  return { name: 'gather', ops: step.ops, shapes: shapeStr([...step.inputs, step.out]), bytes: BYTES * (k + 2 * shapeSize(step.out.shape)), flops: 0, run: () => f(x, idx, out) };
}

function lowerScatterAdd(step: OpStep<'scatterAdd'>, ctx: LowerContext): Kernel {
  const [uo, io] = step.inputs as [typeof step.inputs[0], typeof step.inputs[0]];
  const os = step.out.shape;
  const { outer, len, inner } = step.params;
  const k = shapeSize(io!.shape);
  const add = step.out.dtype === 'i32' ? '(out[d + i] + u[s + i]) | 0' : 'out[d + i] + u[s + i]';
  const body = `
    out.fill(0, 0, ${shapeSize(os)});
    for (let o = 0; o < ${outer}; o++) for (let j = 0; j < ${k}; j++) {
      const dst = idx[j];
      if (dst < 0 || dst >= ${len}) continue;
      const d = (o * ${len} + dst) * ${inner}, s = (o * ${k} + j) * ${inner};
      for (let i = 0; i < ${inner}; i++) out[d + i] = ${add};
    }`;
  const f = compileJs<(u: unknown, idx: unknown, out: unknown) => void>('scatterAdd', ['u', 'idx', 'out'], body);
  const u = ctx.view(uo!), idx = ctx.view(io!), out = ctx.view(step.out);
  return { name: 'scatterAdd', ops: step.ops, shapes: shapeStr([...step.inputs, step.out]), bytes: BYTES * (k + shapeSize(uo!.shape) + shapeSize(os)), flops: shapeSize(uo!.shape), run: () => f(u, idx, out) };
}

export const MOVEMENT_KERNELS = {
  transpose: lowerView, broadcastTo: lowerView, slice: lowerView, pad: lowerView,
  concat: lowerConcat, gather: lowerGather, scatterAdd: lowerScatterAdd,
};
