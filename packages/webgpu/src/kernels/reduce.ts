/**
 * Reductions. sum/prod/max/min are one template: the combiner and identity come from the op's
 * spec (`spec.reduce`), rendered like any expression. Short rows (or many outputs) reduce with
 * one invocation per output; long rows with a workgroup tree per output, split over several
 * workgroups (a second, serial pass over the partials) when there are too few outputs to fill
 * the device. argMax/argMin walk their axis in one invocation per output.
 */
import { E, type OpStep, shapeSize, spec } from '@kiln/core';
import { type Binding, type BuildContext, ceilDiv, grid1d, type Kernel, single } from '../kernel';
import { epilogueHook, prologueFns } from './fused';
import { type Defines, preprocess, shader } from '../preprocess';
import { exprKey, literal, renderExpr, storageType } from '../render';

const SERIAL_WG = 64;
/** Workgroup of a tree reduction; small because barriers are costly on CPU-emulated adapters. */
const TREE_WG = 64;
/** Rows up to this length reduce serially. */
const SERIAL_MAX = 256;
/** Enough outputs to keep a device busy with one invocation each. */
const MANY_OUTPUTS = 4096;
/** Workgroups a split reduction aims for. */
const TARGET_WORKGROUPS = 256;

const FLAGS = { SERIAL: 0, TREE: 0, ARG: 0, VEC4: 0, COMBINE: '', INIT: '0', IN_INDEX: 'return 0u;', CHUNK: 1, PARTS: 1, R: 0, INNER: 1, LEN: 1, BETTER: 'false', ...epilogueHook(undefined, [], 0).defines, PROLOGUE: 0, PROLOGUE_FNS: '' };
const reduceShader = (d: Defines) => shader('reduce.wgsl', { ...FLAGS, ...d });

/** WGSL body of in_index(o, r) for reducing `axes` of `shape`. */
export function reduceIndexCode(shape: readonly number[], axes: ReadonlySet<number>): string {
  // Merge adjacent dims with the same role; size-1 dims play no part.
  const groups: { size: number; stride: number; reduced: boolean }[] = [];
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d !== 1) {
      const red = axes.has(i);
      const g = groups[0];
      if (g && g.reduced === red && g.stride * g.size === stride) g.size *= d;
      else groups.unshift({ size: d, stride, reduced: red });
    }
    stride *= d;
  }
  const walk = (v: string, dims: typeof groups): string[] => {
    if (dims.length === 0) return [];
    if (dims.length === 1) return [`off += ${v} * ${dims[0]!.stride}u;`];
    const lines = [`var q_${v} = ${v};`];
    for (let k = dims.length - 1; k >= 0; k--) {
      const g = dims[k]!;
      if (k === 0) lines.push(`off += q_${v} * ${g.stride}u;`);
      else lines.push(`off += (q_${v} % ${g.size}u) * ${g.stride}u;`, `q_${v} = q_${v} / ${g.size}u;`);
    }
    return lines;
  };
  return ['var off = 0u;', ...walk('o', groups.filter((g) => !g.reduced)), ...walk('r', groups.filter((g) => g.reduced)), 'return off;'].join('\n  ');
}

export function reduceKernels(step: OpStep<'sum' | 'prod' | 'max' | 'min'>, ctx: BuildContext): Kernel[] {
  const x = step.inputs[0]!;
  const rank = x.shape.length;
  const axes = new Set(step.params.axes);
  const O = shapeSize(step.out.shape);
  const R = shapeSize(x.shape.filter((_, i) => axes.has(i)));
  const T = storageType(x.dtype);
  const r = spec(step.op).reduce!;
  const comb = renderExpr(r.combine(E.arg(0, x.dtype), E.arg(1, x.dtype)), (i) => (i === 0 ? 'acc' : 'v'));
  const common = {
    T, OUT_T: T, OUT: O,
    COMBINE: [...comb.lines, `return ${comb.value};`].join('\n  '),
    INIT: literal(r.init(x.dtype), x.dtype),
  };
  // Core's prologue (fusePrologues) computes the input as the first pass reads it: its inputs
  // take bindings 1.. in place of x.
  const prologue = step.prologue;
  const reading: Defines = prologue ? { PROLOGUE: 1, PROLOGUE_FNS: prologueFns(prologue, x.shape, 1) } : {};
  const inputBindings: Binding[] = prologue ? prologue.inputs.map((i) => ({ target: { buf: i.buf }, access: 'read' })) : [{ target: { buf: x.buf }, access: 'read' }];
  // Core's epilogue (fuseEpilogues), applied by whichever kernel stores the final outputs.
  const epilogue = step.epilogue;
  const finishing = (firstBinding: number): Defines => epilogueHook(epilogue, step.out.shape, firstBinding).defines;
  const epilogueBindings = epilogueHook(epilogue, step.out.shape, 0).bindings;
  const meta = { ops: step.ops, shapes: `${x.dtype}[${x.shape.join(', ')}] axes [${[...axes].join(', ')}] -> [${step.out.shape.join(', ')}]`, flops: shapeSize(x.shape) };
  const inIndex = reduceIndexCode(x.shape, axes);
  const keyBase = `${step.op}[${x.shape.join(',')}|${[...axes].join(',')}|${T}]${prologue ? ` prologue e${exprKey(prologue.expr)} ${prologue.inputs.map((i) => `${i.dtype}[${i.shape.join(',')}]`).join(' ')}` : ''}${epilogue ? ` epilogue e${exprKey(epilogue.expr)} ${epilogue.inputs.map((i) => `${i.dtype}[${i.shape.join(',')}]`).join(' ')}` : ''}`;
  if (O === 0) return [];
  // On CPU-emulated adapters an invocation per output is best as soon as there are a few SIMD
  // groups of outputs; GPUs want many more threads (and trees for long rows).
  const serial = ctx.traits.cpuLike ? R <= SERIAL_MAX || O >= 32 : R <= SERIAL_MAX || O >= MANY_OUTPUTS;
  // Reducing trailing dims: output o reads the contiguous row [o R, (o + 1) R).
  const trailing = [...axes].every((a) => a >= rank - axes.size) || x.shape.filter((_, i) => !axes.has(i)).every((d) => d === 1);
  const vec4 = trailing && R % 4 === 0 && R > 0 && !prologue;
  if (serial) {
    return [{
      name: `reduce_${step.op}`, key: `serial_${keyBase}${vec4 ? ' x4' : ''}`,
      source: reduceShader({ ...common, ...reading, ...finishing(1 + inputBindings.length), SERIAL: 1, WG: SERIAL_WG, R, IN_INDEX: inIndex, VEC4: vec4 ? 1 : 0 }),
      workgroupSize: SERIAL_WG, grid: grid1d(O, SERIAL_WG),
      bindings: [{ target: { buf: step.out.buf }, access: 'read_write' }, ...inputBindings, ...epilogueBindings],
      bytes: 4 * (shapeSize(x.shape) + O), ...meta,
    }];
  }
  const parts = Math.max(1, Math.min(ceilDiv(R, TREE_WG * 8), ceilDiv(TARGET_WORKGROUPS, O)));
  const chunk = ceilDiv(R, parts);
  const final = parts === 1;
  const tree = (out: { buf: number } | { scratch: number }): Kernel => ({
    name: `reduce_${step.op}`, key: `tree_${keyBase}|parts ${parts}`,
    source: reduceShader({ ...common, ...reading, ...(final ? finishing(1 + inputBindings.length) : {}), TREE: 1, WG: TREE_WG, R, CHUNK: chunk, PARTS: parts, IN_INDEX: inIndex }),
    workgroupSize: TREE_WG, grid: [parts, O, 1],
    bindings: [{ target: out, access: 'read_write' }, ...inputBindings, ...(final ? epilogueBindings : [])],
    bytes: 4 * (shapeSize(x.shape) + O * parts), ...meta,
  });
  if (parts === 1) return [tree({ buf: step.out.buf })];
  const partials = ctx.scratch(4 * O * parts);
  return [
    tree({ scratch: partials }),
    {
      name: `reduce_${step.op}`, key: `partials_${keyBase}|parts ${parts}`,
      source: reduceShader({ ...common, ...finishing(2), SERIAL: 1, WG: SERIAL_WG, R: parts, IN_INDEX: `return o * ${parts}u + r;` }),
      workgroupSize: SERIAL_WG, grid: grid1d(O, SERIAL_WG),
      bindings: [{ target: { buf: step.out.buf }, access: 'read_write' }, { target: { scratch: partials }, access: 'read' }, ...epilogueBindings],
      ops: step.ops, shapes: meta.shapes, bytes: 4 * (O * parts + O), flops: O * parts,
    },
  ];
}

export function argReduceKernel(step: OpStep<'argMax' | 'argMin'>): Kernel {
  const x = step.inputs[0]!;
  const { axis, len, inner } = step.params;
  const O = shapeSize(step.out.shape);
  const T = storageType(x.dtype);
  const cmp = step.op === 'argMax' ? '>' : '<';
  const better = x.dtype === 'f32' ? `!kiln_isnan(best) && (kiln_isnan(v) || v ${cmp} best)` : `v ${cmp} best`;
  return {
    name: step.op, key: `${step.op}[${x.shape.join(',')}|axis ${axis}|${T}]`,
    source: reduceShader({ ARG: 1, T, OUT_T: 'i32', OUT: O, WG: SERIAL_WG, INNER: inner, LEN: len, BETTER: better }),
    workgroupSize: SERIAL_WG, grid: grid1d(O, SERIAL_WG),
    bindings: [{ target: { buf: step.out.buf }, access: 'read_write' }, { target: { buf: x.buf }, access: 'read' }],
    ops: step.ops, shapes: `${x.dtype}[${x.shape.join(', ')}] axis ${axis} -> [${step.out.shape.join(', ')}]`,
    bytes: 4 * (shapeSize(x.shape) + O), flops: shapeSize(x.shape),
  };
}

/** Inclusive or exclusive running sum: one invocation per (outer, inner) line walks its `len` elements. */
export function cumsumKernel(step: OpStep<'cumsum'>): Kernel {
  const x = step.inputs[0]!;
  const { outer, len, inner, exclusive, reverse } = step.params;
  const lines = outer * inner;
  const T = storageType(x.dtype);
  const source = preprocess(`#include "common.wgsl"
@group(0) @binding(0) var<storage, read_write> y: array<${T}>;
@group(0) @binding(1) var<storage, read> x: array<${T}>;

@compute @workgroup_size(${SERIAL_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = kiln_wg(wid, nwg, KILN_GRID);
  let line = g.x * ${SERIAL_WG}u + lid;
  if (g.z >= KILN_GRID.z || line >= ${lines}u) {
    return;
  }
  let base = (line / ${inner}u) * ${len * inner}u + line % ${inner}u;
  var acc: ${T} = ${T}(0);
  for (var j = 0u; j < ${len}u; j++) {
    let at = base + ${reverse ? `(${len - 1}u - j)` : 'j'} * ${inner}u;
    let v = x[at];
${exclusive ? '    y[at] = acc;\n    acc = acc + v;' : '    acc = acc + v;\n    y[at] = acc;'}
  }
}`, {}, 'cumsum');
  const n = shapeSize(x.shape);
  return {
    name: 'cumsum', key: `cumsum[${outer}x${len}x${inner}|${exclusive ? 'excl' : 'incl'}|${reverse ? 'rev' : 'fwd'}|${T}]`,
    source, workgroupSize: SERIAL_WG, grid: grid1d(lines, SERIAL_WG),
    bindings: [{ target: { buf: step.out.buf }, access: 'read_write' }, { target: { buf: x.buf }, access: 'read' }],
    ops: step.ops, shapes: `${x.dtype}[${x.shape.join(', ')}] scan ${len}`,
    bytes: 8 * n, flops: n,
  };
}

/** This file's rows of the kernel table (kernels/index.ts). */
export const REDUCE_KERNELS = {
  sum: reduceKernels, prod: reduceKernels, max: reduceKernels, min: reduceKernels,
  argMax: single(argReduceKernel), argMin: single(argReduceKernel),
  cumsum: single(cumsumKernel),
};
