/**
 * Movement kernels: one strided-copy kernel serves transpose, broadcastTo, slice and pad (core
 * hands every one as a StridedView), assigns that broadcast, and each piece of a concat.
 * gather reads through an index tensor; scatterAdd (gather's adjoint) sums into its output.
 */
import {
  type DType, type OpStep, type PlanOperand, shapeSize, shapeStrides, shapeToString,
  type StridedView,
} from '@kiln/core';
import { type Binding, type BuildContext, grid1d, type Kernel, single } from '../kernel';
import { collapse, indexCode, valueBits } from '../layout';
import { type Defines, shader } from '../preprocess';
import { storageType } from '../render';

const WG = 256;
const FLAGS = { STRIDED: 0, GATHER: 0, SCATTER_LOOP: 0, SCATTER_ATOMIC: 0, FILL: 0, FLOAT: 0 };
const movementShader = (defines: Defines) => shader('movement.wgsl', { ...FLAGS, WG, ...defines });

function describe(step: Pick<OpStep, 'inputs' | 'out'>): string {
  return [...step.inputs.map((x) => shapeToString(x.shape)), '->', shapeToString(step.out.shape)].join(' ');
}

/**
 * Copy over a domain of `shape`: reads x[srcOffset + sum(c * srcStrides)] (or `pad` outside
 * [lo, hi)) into y[dstOffset + sum(c * dstStrides)].
 */
export function stridedKernel(o: {
  x: number; y: number; dtype: DType; shape: readonly number[];
  src: { strides: readonly number[]; offset: number; lo?: readonly number[]; hi?: readonly number[]; value?: number };
  dst?: { strides: readonly number[]; offset: number };
  ops: readonly string[]; shapes: string; name: string;
}): Kernel {
  const n = shapeSize(o.shape);
  const dst = o.dst ?? { strides: shapeStrides(o.shape), offset: 0 };
  const padded = !!o.src.lo;
  let body: string[];
  if (padded) {
    // Padding needs every coordinate (no collapsing) and signed source offsets.
    const shape = o.shape;
    body = ['var rem = idx;'];
    for (let d = shape.length - 1; d >= 0; d--) {
      body.push(d === 0 ? 'let c0 = rem;' : `let c${d} = rem % ${shape[d]}u;`, ...(d === 0 ? [] : [`rem = rem / ${shape[d]}u;`]));
    }
    const terms = o.src.strides.map((v, d) => (v === 0 ? '' : `i32(c${d}) * ${v}i`)).filter((t) => t);
    body.push(`let src = ${[...terms, 'i32(offsets.x)'].join(' + ')};`);
    const dterms = dst.strides.map((v, d) => (v === 0 ? '' : `c${d} * ${v}u`)).filter((t) => t);
    body.push(`let dst = ${[...dterms, 'offsets.y'].join(' + ')};`);
    const conds = shape.flatMap((d, i) => {
      const lo = o.src.lo![i]!, hi = o.src.hi![i]!;
      return [...(lo > 0 ? [`c${i} >= ${lo}u`] : []), ...(hi < d ? [`c${i} < ${hi}u`] : [])];
    });
    body.push(`let inside = ${conds.length ? conds.join(' && ') : 'true'};`);
  } else {
    const c = collapse(o.shape, [o.src.strides, dst.strides]);
    body = indexCode('idx', c.shape, c.strides, ['src0', 'dst0']);
    body.push('let src = src0 + offsets.x;');
    body.push('let dst = dst0 + offsets.y;');
    body.push('let inside = true;');
  }
  const pad = valueBits(o.src.value ?? 0, o.dtype);
  const source = movementShader({ STRIDED: 1, N: n, INDEX: body.join('\n  '), PAD: pad });
  return {
    name: o.name,
    key: `${o.name}[${shapeToString(o.shape)}|${o.src.strides.join(',')}${padded ? `|pad ${o.src.lo!.join(',')}:${o.src.hi!.join(',')}=${pad}` : ''}|${dst.strides.join(',')}]`,
    source,
    workgroupSize: WG,
    grid: grid1d(n, WG),
    bindings: [{ target: { buf: o.y }, access: 'read_write' }, { target: { buf: o.x }, access: 'read' }, { target: { uniforms: true }, access: 'uniform' }],
    uniforms: new Uint32Array([o.src.offset, dst.offset, 0, 0]),
    ops: o.ops,
    shapes: o.shapes,
    bytes: 8 * n,
    flops: 0,
  };
}

export function viewKernel(step: OpStep): Kernel {
  const x = step.inputs[0]!;
  const view = step.view as StridedView;
  return stridedKernel({
    x: x.buf, y: step.out.buf, dtype: step.out.dtype, shape: step.out.shape,
    src: { strides: view.strides, offset: view.offset, ...(view.lo ? { lo: view.lo, hi: view.hi!, value: view.value ?? 0 } : {}) },
    ops: step.ops, shapes: describe(step), name: step.op,
  });
}

/** concat: one strided copy per input into its slice of the output. */
export function concatKernels(step: OpStep<'concat'>): Kernel[] {
  const out = step.out.shape;
  const { axis } = step.params;
  const outStrides = shapeStrides(out);
  let at = 0;
  const kernels: Kernel[] = [];
  for (const x of step.inputs) {
    const offset = at * outStrides[axis]!;
    at += x.shape[axis]!;
    if (shapeSize(x.shape) === 0) continue;
    kernels.push(stridedKernel({
      x: x.buf, y: step.out.buf, dtype: step.out.dtype, shape: x.shape,
      src: { strides: shapeStrides(x.shape), offset: 0 },
      dst: { strides: outStrides, offset },
      ops: step.ops, shapes: describe(step), name: 'concat',
    }));
  }
  return kernels;
}

export function gatherKernel(step: OpStep<'gather'>): Kernel {
  const [x, idx] = step.inputs as [PlanOperand, PlanOperand];
  const { axis, len, inner } = step.params;
  const k = shapeSize(idx.shape);
  const n = shapeSize(step.out.shape);
  return {
    name: 'gather',
    key: `gather[${shapeToString(x.shape)}|axis ${axis}|k ${k}]`,
    source: movementShader({ GATHER: 1, N: n, INNER: inner, K: Math.max(1, k), LEN: len }),
    workgroupSize: WG,
    grid: grid1d(n, WG),
    bindings: [{ target: { buf: step.out.buf }, access: 'read_write' }, { target: { buf: x.buf }, access: 'read' }, { target: { buf: idx.buf }, access: 'read' }],
    ops: step.ops, shapes: describe(step), bytes: 8 * n + 4 * k, flops: 0,
  };
}

/** Largest LEN * K for the deterministic (loop) scatterAdd; beyond it, atomics. */
export const SCATTER_LOOP_MAX = 1 << 16;

export function scatterAddKernels(step: OpStep<'scatterAdd'>): Kernel[] {
  const [u, idx] = step.inputs as [PlanOperand, PlanOperand];
  const { axis, len, inner } = step.params;
  const k = shapeSize(idx.shape);
  const n = shapeSize(step.out.shape);
  const float = step.out.dtype === 'f32';
  const T = storageType(step.out.dtype);
  const common = { INNER: inner, K: Math.max(1, k), LEN: len, T, FLOAT: float ? 1 : 0, AT: float ? 'u32' : 'i32' };
  const bindings: Binding[] = [{ target: { buf: step.out.buf }, access: 'read_write' }, { target: { buf: u.buf }, access: 'read' }, { target: { buf: idx.buf }, access: 'read' }];
  const meta = { ops: step.ops, shapes: describe(step), flops: shapeSize(u.shape) };
  if (len * k <= SCATTER_LOOP_MAX) {
    return [{
      name: 'scatterAdd', key: `scatterAdd_loop[${shapeToString(step.out.shape)}|axis ${axis}|k ${k}|${T}]`,
      source: movementShader({ SCATTER_LOOP: 1, N: n, ...common }),
      workgroupSize: WG, grid: grid1d(n, WG), bindings, bytes: 4 * (n + shapeSize(u.shape) + k), ...meta,
    }];
  }
  const nu = shapeSize(u.shape);
  return [
    fillKernel(step.out.buf, n, 0, step.ops),
    {
      name: 'scatterAdd', key: `scatterAdd_atomic[${shapeToString(step.out.shape)}|axis ${axis}|k ${k}|${T}]`,
      source: movementShader({ SCATTER_ATOMIC: 1, N: nu, ...common }),
      workgroupSize: WG, grid: grid1d(nu, WG), bindings, bytes: 4 * (2 * nu + k), ...meta,
    },
  ];
}

export function fillKernel(buf: number, n: number, bits: number, ops: readonly string[]): Kernel {
  return {
    name: 'fill', key: `fill[${n}=${bits}]`,
    source: movementShader({ FILL: 1, N: n, VALUE: bits }),
    workgroupSize: WG, grid: grid1d(n, WG),
    bindings: [{ target: { buf }, access: 'read_write' }],
    ops, shapes: `[${n}]`, bytes: 4 * n, flops: 0,
  };
}

export type { BuildContext };

/** This file's rows of the kernel table (kernels/index.ts). */
export const MOVEMENT_KERNELS = {
  transpose: single(viewKernel), broadcastTo: single(viewKernel), slice: single(viewKernel), pad: single(viewKernel),
  concat: concatKernels, gather: single(gatherKernel), scatterAdd: scatterAddKernels,
};
