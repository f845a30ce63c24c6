/**
 * The ONNX op table: one entry per op type, building Kiln primitives and composites from a
 * node's inputs and attributes (defaults as in the ONNX operator docs, per opset where they
 * changed). An attribute value Kiln cannot express is an UnsupportedError naming the node; no
 * entry approximates.
 */
import { concat, type DType, type Graph, normAxis, ShapeError, type Tensor, UnsupportedError } from '@kiln/core';
import type { AttrValue } from './import';
import type { NodeProto } from './proto';
import type { HostTensor } from './tensor';

export interface OpContext {
  g: Graph;
  opset: number;
  where: string;
  node: NodeProto;
  inputs: (Tensor | undefined)[];
  nOutputs: number;
  outputsWanted: boolean[];
  attrs: Map<string, AttrValue>;
  constant(h: HostTensor): Tensor;
  /** The ONNX element type input k was declared or computed with (CastLike's target). */
  onnxType(k: number): number;
  hostOf(t: Tensor, what: string): HostTensor;
}
type Impl = (c: OpContext) => (Tensor | undefined)[];

const unsupported = (c: OpContext, why: string): never => { throw new UnsupportedError(`${c.where}: ${why}`); };
const int = (c: OpContext, name: string, def: number): number => { const v = c.attrs.get(name); return typeof v === 'number' ? v : def; };
/** A float attribute (ONNX stores f and i in different fields; attrMap already decoded both to numbers). */
const float = int;
const str = (c: OpContext, name: string, def: string): string => { const v = c.attrs.get(name); return typeof v === 'string' ? v : def; };
const ints = (c: OpContext, name: string): number[] | undefined => { const v = c.attrs.get(name); return Array.isArray(v) ? (v as number[]) : undefined; };
function input(c: OpContext, k: number): Tensor {
  const t = c.inputs[k];
  if (!t) return unsupported(c, `input ${k} is required`);
  return t;
}
const opt = (c: OpContext, k: number): Tensor | undefined => c.inputs[k];
/** An input's values as numbers, known at build time. */
const hostInts = (c: OpContext, k: number, what: string): number[] => Array.from(c.hostOf(input(c, k), what).data);
const staticShape = (c: OpContext, t: Tensor): number[] => {
  if (!t.shape.every((d) => typeof d === 'number')) unsupported(c, `needs a static shape, got [${t.shape.join(', ')}]`);
  return [...(t.shape as number[])];
};
const f32 = (c: OpContext, t: Tensor): Tensor => (t.dtype === 'f32' ? t : unsupported(c, `expects a float tensor, got ${t.dtype}`));
const iconst = (c: OpContext, values: number[], dims: number[] = [values.length]): Tensor => c.constant({ dtype: 'i32', dims, data: Int32Array.from(values) });
const fconst = (c: OpContext, values: number[], dims: number[] = [values.length]): Tensor => c.constant({ dtype: 'f32', dims, data: Float32Array.from(values) });

/**
 * Index lists and unrolled loops built on the host are bounded before they are built: a model
 * declaring a dim of 2**31 must be refused, not take the process's memory.
 */
export const MAX_HOST_LIST = 2 ** 24;
export const MAX_UNROLLED_STEPS = 4096;
function hostList(c: OpContext, n: number, f: (i: number) => number, what: string): number[] {
  if (!(n >= 0 && n <= MAX_HOST_LIST)) unsupported(c, `${what} of ${n} entries would be built on the host (at most ${MAX_HOST_LIST})`);
  return Array.from({ length: n }, (_, i) => f(i));
}

// ------------------------------------------------------------------ elementwise

const unary = (f: (x: Tensor) => Tensor): Impl => (c) => [f(input(c, 0))];
const binary = (f: (a: Tensor, b: Tensor) => Tensor): Impl => (c) => [f(input(c, 0), input(c, 1))];
const variadic = (f: (a: Tensor, b: Tensor) => Tensor): Impl => (c) => [c.inputs.filter((t): t is Tensor => !!t).reduce(f)];

/** floor for f32: integers below 2**23 in magnitude come from a cast through i32; larger floats are integers already. */
function floor(x: Tensor): Tensor {
  const t = x.cast('i32').cast('f32');
  const f = t.greater(x).where(t.sub(1), t);
  return x.abs().less(2 ** 23).where(f, x);
}
const ceil = (x: Tensor): Tensor => floor(x.neg()).neg();
function roundHalfEven(x: Tensor): Tensor {
  const fl = floor(x), d = x.sub(fl);
  const even = fl.sub(floor(fl.mul(0.5)).mul(2)).equal(0);
  const up = d.greater(0.5).logicalOr(d.equal(0.5).logicalAnd(even.logicalNot()));
  return up.where(fl.add(1), fl);
}

/** Narrow float formats ONNX casts to, held in f32 after rounding: [mantissa bits, min normal exponent, max exponent, max finite]. */
const NARROW_FLOATS: Record<number, { name: string; mb: number; minExp: number; maxExp: number; max: number; inf: boolean; nanTo?: number }> = {
  10: { name: 'FLOAT16', mb: 10, minExp: -14, maxExp: 15, max: 65504, inf: true },
  // bfloat16 has f32's exponent range; a value past its max rounds to infinity (no saturation)
  16: { name: 'BFLOAT16', mb: 7, minExp: -126, maxExp: 127, max: 3.3895313892515355e38, inf: true },
  17: { name: 'FLOAT8E4M3FN', mb: 3, minExp: -6, maxExp: 8, max: 448, inf: false },
  18: { name: 'FLOAT8E4M3FNUZ', mb: 3, minExp: -7, maxExp: 7, max: 240, inf: false },
  19: { name: 'FLOAT8E5M2', mb: 2, minExp: -14, maxExp: 15, max: 57344, inf: true },
  20: { name: 'FLOAT8E5M2FNUZ', mb: 2, minExp: -15, maxExp: 15, max: 57344, inf: false },
  // E2M1 has no NaN or infinity: ONNX saturates and writes NaN as -0
  23: { name: 'FLOAT4E2M1', mb: 1, minExp: 0, maxExp: 2, max: 6, inf: false, nanTo: 0 },
};
/** Sub-byte integers: values wrap modulo 2**bits like a C cast: [bits, lowest value]. */
const NARROW_INTS: Record<number, [number, number]> = { 21: [4, 0], 22: [4, -8], 25: [2, 0], 26: [2, -2] };

/**
 * 2**floor(log2|x|) for finite nonzero f32 x, clamped below at 2**minExp, found exactly: |x| is
 * scaled by powers of two (exact in binary floating point) towards [1, 2) in halving steps,
 * 2**64 down to 2**1, so no log2 rounding can pick a wrong binade.
 */
function binade(x: Tensor, minExp: number): Tensor {
  let y = x.abs(), scale: Tensor | number = 1;
  for (let b = 64; b >= 1; b /= 2) {
    const up = y.greaterEqual(2 ** b);
    y = up.where(y.mul(2 ** -b), y);
    scale = up.where(typeof scale === 'number' ? 2 ** b : scale.mul(2 ** b), scale);
    const down = y.less(2 ** (1 - b));
    y = down.where(y.mul(2 ** b), y);
    scale = down.where(typeof scale === 'number' ? 2 ** -b : scale.mul(2 ** -b), scale);
  }
  // f32 subnormals (below 2**-126, which the steps above do not fully reach) only need to
  // land under the clamp: every format's smallest normal exponent is -126 or more
  scale = y.less(1).where((scale as Tensor).mul(2 ** -64), scale);
  return (scale as Tensor).maximum(2 ** minExp);
}

/**
 * Round f32 values to a narrow float format exactly (round half to even, subnormals,
 * saturation or overflow as ONNX's Cast specifies).
 */
function roundToFormat(c: OpContext, x: Tensor, code: number): Tensor {
  const f = NARROW_FLOATS[code]!;
  const saturate = code === 23 || int(c, 'saturate', 1) === 1;
  const ax = x.abs();
  const step = binade(x, f.minExp).mul(2 ** -f.mb);
  const q = roundHalfEven(x.div(step)).mul(step);
  const big = x.sign().mul(f.max);
  const overflow = saturate && code !== 16 ? big : f.inf ? x.sign().mul(Infinity) : x.mul(NaN);
  let y = q.abs().greater(f.max).where(overflow, q);
  // infinities: saturate to the max finite value, keep them (formats with inf), else NaN
  const infTo = saturate && code !== 16 ? big : f.inf ? x : x.mul(NaN);
  y = ax.equal(Infinity).where(infTo, y);
  // NOTE: x stands for NaN here (where x is NaN): a NaN literal in this position came out as
  // Infinity on the cpu backend (reported to core/backends).
  y = ax.equal(0).where(x, y);
  return x.isNaN().where(f.nanTo ?? x, y);
}

/** FLOAT8E8M0 holds powers of two 2**-127 .. 2**127 (and NaN); round_mode picks the neighbour. */
function roundToE8M0(c: OpContext, x: Tensor): Tensor {
  const mode = str(c, 'round_mode', 'up');
  const ax = x.abs(), b = binade(x, -127);
  const r = mode === 'up' ? ax.greater(b).where(b.mul(2), b) : mode === 'down' ? b : mode === 'nearest' ? ax.greaterEqual(b.mul(1.5)).where(b.mul(2), b) : unsupported(c, `round_mode '${mode}'`);
  const saturate = int(c, 'saturate', 1) === 1;
  const y = r.greater(2 ** 127).where(saturate ? 2 ** 127 : x.mul(NaN), r);
  return x.isNaN().where(x, ax.equal(Infinity).where(saturate ? 2 ** 127 : x.mul(NaN), y));
}

function cast(c: OpContext, x: Tensor, code: number): Tensor {
  if (NARROW_FLOATS[code]) return roundToFormat(c, x.dtype === 'f32' ? x : x.cast('f32'), code);
  if (code === 24) return roundToE8M0(c, x.dtype === 'f32' ? x : x.cast('f32'));
  const narrow = NARROW_INTS[code];
  if (narrow) {
    const [bits, lo] = narrow, m = 2 ** bits;
    const v = (x.dtype === 'i32' ? x : x.cast('i32')).cast('f32').sub(lo);
    return v.sub(floor(v.div(m)).mul(m)).add(lo).cast('i32');
  }
  const to = dtypeOfCode(c, code);
  if (x.dtype === to) return x;
  // ONNX casts float to int by truncation toward zero, like Kiln's cast.
  return x.cast(to);
}
function dtypeOfCode(c: OpContext, code: number): DType {
  if ([1, 11].includes(code)) return 'f32';
  if ([2, 3, 4, 5, 6, 7, 12, 13].includes(code)) return 'i32';
  if (code === 9) return 'bool';
  return unsupported(c, `casting to ONNX type ${code}, which has no Kiln dtype`);
}
function intDiv(a: Tensor, b: Tensor): Tensor {
  // ONNX integer Div truncates toward zero.
  return a.cast('f32').div(b.cast('f32')).cast('i32');
}

// ------------------------------------------------------------------ reductions

function reduceAxesOf(c: OpContext, x: Tensor, axesInputSince: number): number[] | undefined {
  let axes: number[] | undefined;
  if (c.opset >= axesInputSince) axes = opt(c, 1) ? hostInts(c, 1, 'axes') : undefined;
  else axes = ints(c, 'axes');
  if (axes && axes.length === 0) axes = undefined;
  if (!axes && int(c, 'noop_with_empty_axes', 0)) return [];
  return (axes ?? x.shape.map((_, i) => i)).map((a) => normAxis(a, x.rank, c.where));
}
function reduction(since: number, f: (x: Tensor, axes: number[], keep: boolean) => Tensor): Impl {
  return (c) => {
    const x = input(c, 0);
    const axes = reduceAxesOf(c, x, since);
    if (!axes) return [x];
    if (axes.length === 0) return [x];
    return [f(x, axes, int(c, 'keepdims', 1) === 1)];
  };
}

function argReduce(kind: 'argMax' | 'argMin'): Impl {
  return (c) => {
    let x = input(c, 0);
    const axis = normAxis(int(c, 'axis', 0), x.rank, c.where), keepDims = int(c, 'keepdims', 1) === 1;
    if (!int(c, 'select_last_index', 0)) return [x[kind]({ axis, keepDims })];
    const n = staticShape(c, x)[axis]!;
    x = x.gather(iconst(c, hostList(c, n, (i) => n - 1 - i, 'a reversed index')), { axis });
    return [x[kind]({ axis, keepDims }).neg().add(n - 1)];
  };
}

// ------------------------------------------------------------------ shape and movement

function reshapeTo(c: OpContext, x: Tensor, target: number[], allowZero: boolean): Tensor {
  const shape: (number | string)[] = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i] ?? unsupported(c, `shape dim ${i} copies a dim the input lacks`) : d));
  const minus = shape.indexOf(-1);
  if (minus >= 0) {
    const known = shape.filter((_, i) => i !== minus);
    const total = staticShape(c, x).reduce((a, b) => a * b, 1);
    const rest = (known as number[]).reduce((a, b) => a * b, 1);
    if (rest === 0 || total % rest) throw new ShapeError(`${c.where}: cannot reshape [${x.shape.join(', ')}] to [${target.join(', ')}]`);
    shape[minus] = total / rest;
  }
  return x.reshape(shape);
}

function unsqueeze(x: Tensor, axes: number[], where: string): Tensor {
  const rank = x.rank + axes.length;
  const ax = axes.map((a) => normAxis(a, rank, where)).sort((a, b) => a - b);
  const s: (number | string)[] = [...x.shape];
  for (const a of ax) s.splice(a, 0, 1);
  return x.reshape(s);
}

function sliceOp(c: OpContext): Tensor {
  const x = input(c, 0);
  const shape = staticShape(c, x);
  let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
  if (c.opset >= 10) {
    starts = hostInts(c, 1, 'starts'); ends = hostInts(c, 2, 'ends');
    axes = opt(c, 3) ? hostInts(c, 3, 'axes') : undefined;
    steps = opt(c, 4) ? hostInts(c, 4, 'steps') : undefined;
  } else {
    starts = ints(c, 'starts') ?? []; ends = ints(c, 'ends') ?? []; axes = ints(c, 'axes');
  }
  const begin = shape.map(() => 0), size = [...shape];
  const stride = shape.map(() => 1);
  (axes ?? starts.map((_, i) => i)).forEach((a0, i) => {
    const a = normAxis(a0, x.rank, c.where), d = shape[a]!, step = steps?.[i] ?? 1;
    if (step === 0) unsupported(c, 'a step of 0');
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let s = starts[i]!, e = ends[i]!;
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (step > 0) { s = clamp(s, 0, d); e = clamp(e, 0, d); } else { s = clamp(s, -1, d - 1); e = clamp(e, -1, d - 1); }
    const n = Math.max(0, Math.ceil((e - s) / step));
    begin[a] = s; size[a] = n; stride[a] = step;
  });
  let y = x;
  if (stride.every((s) => s === 1)) return y.slice({ begin, size });
  for (let a = 0; a < x.rank; a++) {
    const idx = hostList(c, size[a]!, (i) => begin[a]! + i * stride[a]!, 'a strided slice');
    if (stride[a] === 1) y = y.slice({ begin: shape.map((_, k) => (k === a ? begin[a]! : 0)), size: y.shape.map((dd, k) => (k === a ? size[a]! : (dd as number))) });
    else y = y.gather(iconst(c, idx), { axis: a });
  }
  return y;
}

/** Bidirectional (numpy) broadcast of x against shape. */
function expand(c: OpContext, x: Tensor, shape: number[]): Tensor {
  const rank = Math.max(x.rank, shape.length);
  const xs = [...Array(rank - x.rank).fill(1), ...x.shape] as (number | string)[];
  const ts = [...Array(rank - shape.length).fill(1), ...shape];
  const out = xs.map((d, i) => (ts[i] === 1 ? d : ts[i]!));
  return x.reshape(xs).broadcastTo(out);
}

function gatherIndices(c: OpContext, idx: Tensor, n: number): Tensor {
  // ONNX indices may be negative (counting from the end).
  const i = idx.dtype === 'i32' ? idx : idx.cast('i32');
  return i.less(0).where(i.add(n), i);
}

/** Move axis a to the end (returns the tensor and the inverse permutation). */
function toLast(x: Tensor, a: number): [Tensor, number[]] {
  const perm = x.shape.map((_, i) => i).filter((i) => i !== a).concat([a]);
  const inv = perm.map((_, i) => perm.indexOf(i));
  return [x.transpose(perm), inv];
}

function gatherElements(c: OpContext): Tensor {
  const x = input(c, 0), axis = normAxis(int(c, 'axis', 0), x.rank, c.where);
  const xs = staticShape(c, x), n = xs[axis]!;
  const idx = gatherIndices(c, input(c, 1), n), is = staticShape(c, idx);
  let xv = x;
  if (is.some((d, i) => i !== axis && d !== xs[i])) xv = x.slice({ begin: xs.map(() => 0), size: xs.map((d, i) => (i === axis ? d : is[i]!)) });
  const [xl] = toLast(xv, axis), [il, inv] = toLast(idx, axis);
  const hit = il.expandDims(-1).equal(c.g.range(n)); // [..., m, n]
  const vals = xl.dtype === 'f32' ? xl : xl.cast('i32');
  const out = hit.where(vals.expandDims(-2), 0).sum({ axes: [-1] });
  const back = out.transpose(inv);
  return x.dtype === 'bool' ? back.cast('bool') : back;
}

function scatterElements(c: OpContext): Tensor {
  const data = input(c, 0), axis = normAxis(int(c, 'axis', 0), data.rank, c.where);
  const ds = staticShape(c, data), n = ds[axis]!;
  const idx = gatherIndices(c, input(c, 1), n), upd = input(c, 2);
  const is = staticShape(c, idx);
  if (is.some((d, i) => i !== axis && d !== ds[i])) unsupported(c, 'indices smaller than data off the scatter axis');
  const [il] = toLast(idx, axis), [ul] = toLast(upd, axis), [dl, inv] = toLast(data, axis);
  const hit = il.expandDims(-1).equal(c.g.range(n)); // [..., m, n]
  const u = ul.expandDims(-1);
  const any = hit.cast('i32').sum({ axes: [-2] }).greater(0);
  const red = str(c, 'reduction', 'none');
  let out: Tensor;
  if (red === 'none') out = any.where(hit.where(u, 0).sum({ axes: [-2] }), dl);
  else if (red === 'add') out = dl.add(hit.where(u, 0).sum({ axes: [-2] }));
  else if (red === 'mul') out = dl.mul(hit.where(u, 1).prod({ axes: [-2] }));
  else if (red === 'max') out = any.where(dl.maximum(hit.where(u, -Infinity).max({ axes: [-2] })), dl);
  else if (red === 'min') out = any.where(dl.minimum(hit.where(u, Infinity).min({ axes: [-2] })), dl);
  else return unsupported(c, `reduction '${red}'`);
  return out.transpose(inv);
}

function padOp(c: OpContext): Tensor {
  const x = input(c, 0);
  const mode = str(c, 'mode', 'constant');
  const pads = c.opset >= 11 ? hostInts(c, 1, 'pads') : ints(c, 'pads') ?? [];
  let value = c.opset >= 11 ? (opt(c, 2) ? Array.from(c.hostOf(input(c, 2), 'constant_value').data)[0] ?? 0 : 0) : float(c, 'value', 0);
  const axes = opt(c, 3) ? hostInts(c, 3, 'axes').map((a) => normAxis(a, x.rank, c.where)) : x.shape.map((_, i) => i);
  const k = axes.length;
  const pr: [number, number][] = x.shape.map(() => [0, 0]);
  axes.forEach((a, i) => (pr[a] = [pads[i]!, pads[i + k]!]));
  if (pr.some(([lo, hi]) => lo < 0 || hi < 0)) {
    unsupported(c, 'negative pads');
  }
  if (x.dtype === 'bool') value = value ? 1 : 0;
  if (mode === 'constant') return x.pad(pr, value);
  const shape = staticShape(c, x);
  let y = x;
  for (let a = 0; a < x.rank; a++) {
    const [lo, hi] = pr[a]!, d = shape[a]!;
    if (!lo && !hi) continue;
    const src = (i: number): number => {
      if (mode === 'edge') return Math.min(Math.max(i, 0), d - 1);
      if (mode === 'wrap') return ((i % d) + d) % d;
      if (d === 1) return 0;
      const p = 2 * (d - 1); // reflect
      const m = ((i % p) + p) % p;
      return m < d ? m : p - m;
    };
    y = y.gather(iconst(c, hostList(c, d + lo + hi, (i) => src(i - lo), `a ${mode} pad`)), { axis: a });
  }
  return y;
}

function tile(c: OpContext): Tensor {
  const x = input(c, 0), reps = hostInts(c, 1, 'repeats'), shape = staticShape(c, x);
  const inter = shape.flatMap((d) => [1, d]);
  const big = shape.flatMap((d, i) => [reps[i]!, d]);
  return x.reshape(inter).broadcastTo(big).reshape(shape.map((d, i) => d * reps[i]!));
}

function splitOp(c: OpContext): Tensor[] {
  const x = input(c, 0), axis = normAxis(int(c, 'axis', 0), x.rank, c.where);
  const d = staticShape(c, x)[axis]!;
  let sizes = c.opset >= 13 ? (opt(c, 1) ? hostInts(c, 1, 'split') : undefined) : ints(c, 'split');
  if (!sizes) {
    const n = c.opset >= 18 && c.attrs.has('num_outputs') ? int(c, 'num_outputs', c.nOutputs) : c.nOutputs;
    const each = Math.ceil(d / n);
    sizes = hostList(c, n, (i) => Math.max(0, Math.min(each, d - i * each)), 'a split');
  }
  return x.split(sizes, axis);
}

// ------------------------------------------------------------------ convolution and pooling

interface Geometry { kernel: number[]; strides: number[]; dilations: number[]; pads: number[] }
function geometry(c: OpContext, x: Tensor, kernel: number[], ceilMode = false): Geometry {
  const sp = x.rank - 2;
  const strides = ints(c, 'strides') ?? Array(sp).fill(1);
  const dilations = ints(c, 'dilations') ?? Array(sp).fill(1);
  let pads = ints(c, 'pads') ?? Array(2 * sp).fill(0);
  const auto = str(c, 'auto_pad', 'NOTSET');
  const size = staticShape(c, x).slice(2);
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    pads = Array(2 * sp).fill(0);
    for (let i = 0; i < sp; i++) {
      const out = Math.ceil(size[i]! / strides[i]!);
      const total = Math.max(0, (out - 1) * strides[i]! + dilations[i]! * (kernel[i]! - 1) + 1 - size[i]!);
      const small = Math.floor(total / 2);
      pads[i] = auto === 'SAME_UPPER' ? small : total - small;
      pads[i + sp] = total - pads[i]!;
    }
  } else if (auto === 'VALID') pads = Array(2 * sp).fill(0);
  else if (auto !== 'NOTSET') unsupported(c, `auto_pad '${auto}'`);
  if (ceilMode) {
    pads = [...pads];
    for (let i = 0; i < sp; i++) {
      const eff = dilations[i]! * (kernel[i]! - 1) + 1;
      const span = size[i]! + pads[i]! + pads[i + sp]! - eff;
      let out = Math.ceil(span / strides[i]!) + 1;
      // the last window must start inside the input or the left padding
      if ((out - 1) * strides[i]! >= size[i]! + pads[i]!) out--;
      const extra = (out - 1) * strides[i]! + eff - (size[i]! + pads[i]! + pads[i + sp]!);
      if (extra > 0) pads[i + sp] = pads[i + sp]! + extra;
    }
  }
  return { kernel, strides, dilations, pads };
}
/** 1-D convs and pools run as 2-D with a height of 1. */
const to2d = (x: Tensor): Tensor => x.reshape([x.shape[0]!, x.shape[1]!, 1, x.shape[2]!]);
const pads4 = (g: Geometry, is1d: boolean): [number, number, number, number] =>
  is1d ? [0, 0, g.pads[0]!, g.pads[1]!] : [g.pads[0]!, g.pads[2]!, g.pads[1]!, g.pads[3]!];
const pair = (v: number[], is1d: boolean, fill: number): [number, number] => (is1d ? [fill, v[0]!] : [v[0]!, v[1]!]);

function spatialRank(c: OpContext, x: Tensor): boolean {
  if (x.rank === 3) return true;
  if (x.rank === 4) return false;
  return unsupported(c, `${x.rank - 2}-D spatial input (Kiln has 1-D and 2-D convolution and pooling)`);
}

function convOp(c: OpContext): Tensor {
  const x0 = f32(c, input(c, 0)), w0 = input(c, 1);
  const is1d = spatialRank(c, x0);
  const kernel = ints(c, 'kernel_shape') ?? staticShape(c, w0).slice(2);
  const geo = geometry(c, x0, kernel);
  const x = is1d ? to2d(x0) : x0, w = is1d ? to2d(w0) : w0;
  let y = x.conv2d(w, { stride: pair(geo.strides, is1d, 1), dilation: pair(geo.dilations, is1d, 1), padding: pads4(geo, is1d), groups: int(c, 'group', 1) });
  const b = opt(c, 2);
  if (b) y = y.add(b.reshape([1, b.shape[0]!, 1, 1]));
  return is1d ? y.reshape([y.shape[0]!, y.shape[1]!, y.shape[3]!]) : y;
}

function convTransposeOp(c: OpContext): Tensor {
  const x0 = f32(c, input(c, 0)), w0 = input(c, 1);
  const is1d = spatialRank(c, x0);
  const sp = x0.rank - 2;
  const kernel = ints(c, 'kernel_shape') ?? staticShape(c, w0).slice(2);
  const strides = ints(c, 'strides') ?? Array(sp).fill(1), dil = ints(c, 'dilations') ?? Array(sp).fill(1);
  let pads = ints(c, 'pads') ?? Array(2 * sp).fill(0);
  let outPad = ints(c, 'output_padding') ?? Array(sp).fill(0);
  const size = staticShape(c, x0).slice(2);
  const outShape = ints(c, 'output_shape');
  const auto = str(c, 'auto_pad', 'NOTSET');
  if (outShape || auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const target = outShape ? outShape.slice(-sp) : size.map((s, i) => s * strides[i]!);
    pads = Array(2 * sp).fill(0);
    for (let i = 0; i < sp; i++) {
      const total = strides[i]! * (size[i]! - 1) + outPad[i]! + ((kernel[i]! - 1) * dil[i]! + 1) - target[i]!;
      if (total < 0) { outPad = [...outPad]; outPad[i] = outPad[i]! - total; continue; }
      const half = Math.floor(total / 2);
      // ONNX: SAME_UPPER puts the odd pixel at the end, SAME_LOWER and output_shape at the beginning
      pads[i] = auto === 'SAME_UPPER' ? half : total - half;
      pads[i + sp] = total - pads[i]!;
    }
  } else if (auto === 'VALID') pads = Array(2 * sp).fill(0);
  const geo: Geometry = { kernel, strides, dilations: dil, pads };
  const x = is1d ? to2d(x0) : x0, w = is1d ? to2d(w0) : w0;
  let y = x.conv2dTranspose(w, { stride: pair(strides, is1d, 1), dilation: pair(dil, is1d, 1), padding: pads4(geo, is1d), groups: int(c, 'group', 1), outputPadding: pair(outPad, is1d, 0) });
  const b = opt(c, 2);
  if (b) y = y.add(b.reshape([1, b.shape[0]!, 1, 1]));
  return is1d ? y.reshape([y.shape[0]!, y.shape[1]!, y.shape[3]!]) : y;
}

/**
 * Pooling of any spatial rank, with dilations, as a max or sum over the window's taps: each tap
 * is a strided view of the padded input, so the result is exact (no kernel of its own). Used
 * where Kiln's 2-D pooling primitives do not reach (3-D, dilated).
 */
function poolByTaps(c: OpContext, kind: 'max' | 'avg', x: Tensor, geo: Geometry, explicitPads: number[], withIndices = false): Tensor[] {
  const shape = staticShape(c, x), sp = shape.length - 2;
  const size = shape.slice(2);
  const out = size.map((n, i) => Math.floor((n + geo.pads[i]! + geo.pads[i + sp]! - geo.dilations[i]! * (geo.kernel[i]! - 1) - 1) / geo.strides[i]!) + 1);
  const taps = geo.kernel.reduce((a, b) => a * b, 1);
  if (taps > 4096) unsupported(c, `a pooling window of ${taps} taps`);
  const padsOf = (p: number[]) => [[0, 0], [0, 0], ...size.map((_, i) => [p[i]!, p[i + sp]!])] as [number, number][];
  const view = (t: Tensor, tap: number[]) => {
    let y = t;
    for (let i = 0; i < sp; i++) y = y.gather(iconst(c, hostList(c, out[i]!, (j) => tap[i]! * geo.dilations[i]! + j * geo.strides[i]!, 'a pooling tap')), { axis: i + 2 });
    return y;
  };
  const padded = x.pad(padsOf(geo.pads), kind === 'max' ? -Infinity : 0);
  // ones where a tap reads the input (and, with count_include_pad, the explicit padding)
  const include = int(c, 'count_include_pad', 0) === 1;
  const onesBase = c.g.fill([1, 1, ...size], 1);
  const ones = include
    ? onesBase.pad(padsOf(explicitPads), 1).pad(padsOf(geo.pads.map((p, i) => p - explicitPads[i]!)), 0)
    : onesBase.pad(padsOf(geo.pads), 0);
  // MaxPool's Indices: each element's position in x, -1 in padding; storage_order 1 numbers the
  // spatial dims column-major (the last one varies slowest)
  const total = shape.reduce((a, b) => a * b, 1);
  const colMajor = int(c, 'storage_order', 0) === 1;
  const position = (i: number): number => {
    if (!colMajor) return i;
    const idx: number[] = [];
    for (let k = shape.length - 1, r = i; k >= 0; k--) { idx[k] = r % shape[k]!; r = Math.floor(r / shape[k]!); }
    const order = [0, 1, ...size.map((_, k) => shape.length - 1 - k)];
    return order.reduce((acc, k) => acc * shape[k]! + idx[k]!, 0);
  };
  const positions = withIndices ? iconst(c, hostList(c, total, position, 'the positions of MaxPool\'s input'), shape).pad(padsOf(geo.pads), -1) : undefined;
  let acc: Tensor | undefined, count: Tensor | undefined, at: Tensor | undefined;
  for (let t = 0; t < taps; t++) {
    const tap: number[] = [];
    let r = t;
    for (let i = sp - 1; i >= 0; i--) { tap[i] = r % geo.kernel[i]!; r = Math.floor(r / geo.kernel[i]!); }
    const v = view(padded, tap);
    if (positions) {
      const p = view(positions, tap);
      at = acc && at ? v.greater(acc).where(p, at) : p; // strictly greater: the first maximum wins
    }
    acc = acc ? (kind === 'max' ? acc.maximum(v) : acc.add(v)) : v;
    if (kind === 'avg') { const o = view(ones, tap); count = count ? count.add(o) : o; }
  }
  return kind === 'max' ? [acc!, ...(at ? [at] : [])] : [acc!.div(count!)];
}

function poolOp(kind: 'max' | 'avg'): Impl {
  return (c) => {
    const indices = kind === 'max' && !!c.outputsWanted[1];
    const raw = input(c, 0);
    // integer max pooling runs in f32: exact for every value below 2**24 in magnitude
    if (raw.dtype === 'i32' && kind === 'max') return [poolOp(kind)({ ...c, inputs: [raw.cast('f32'), ...c.inputs.slice(1)] })[0]!.cast('i32')];
    const x0 = f32(c, raw);
    const kernel = ints(c, 'kernel_shape') ?? unsupported(c, 'kernel_shape is required');
    const geo = geometry(c, x0, kernel, int(c, 'ceil_mode', 0) === 1);
    if (indices || x0.rank > 4 || geo.dilations.some((d) => d !== 1)) return poolByTaps(c, kind, x0, geo, geometry(c, x0, kernel).pads, indices);
    const is1d = spatialRank(c, x0);
    const x = is1d ? to2d(x0) : x0;
    const k = pair(kernel, is1d, 1), stride = pair(geo.strides, is1d, 1), padding = pads4(geo, is1d);
    let y: Tensor;
    if (kind === 'max') y = x.maxPool2d({ kernel: k, stride, padding });
    else {
      const ch = staticShape(c, x)[1]!;
      const w = c.g.fill([ch, 1, k[0], k[1]], 1);
      const sum = x.conv2d(w, { stride, padding, groups: ch });
      const explicit = pads4(geometry(c, x0, kernel), is1d);
      if (int(c, 'count_include_pad', 0)) {
        // padding from ceil_mode is not counted, explicit padding is
        const ones = c.g.fill([1, 1, ...staticShape(c, x).slice(2)], 1).pad([[0, 0], [0, 0], [explicit[0], explicit[1]], [explicit[2], explicit[3]]], 1);
        const extra: [number, number, number, number] = [padding[0] - explicit[0], padding[1] - explicit[1], padding[2] - explicit[2], padding[3] - explicit[3]];
        const count = ones.conv2d(c.g.fill([1, 1, k[0], k[1]], 1), { stride, padding: extra });
        y = sum.div(count);
      } else {
        const count = c.g.fill([1, 1, ...staticShape(c, x).slice(2)], 1).conv2d(c.g.fill([1, 1, k[0], k[1]], 1), { stride, padding });
        y = sum.div(count);
      }
    }
    return [is1d ? y.reshape([y.shape[0]!, y.shape[1]!, y.shape[3]!]) : y];
  };
}

// ------------------------------------------------------------------ normalisation

function layerNormOp(c: OpContext): Tensor[] {
  const x = f32(c, input(c, 0)), axis = normAxis(int(c, 'axis', -1), x.rank, c.where);
  const axes = x.shape.map((_, i) => i).filter((i) => i >= axis), eps = float(c, 'epsilon', 1e-5);
  const mean = x.mean({ axes, keepDims: true });
  const d = x.sub(mean);
  const inv = d.square().mean({ axes, keepDims: true }).add(eps).rsqrt();
  let y = d.mul(inv).mul(input(c, 1));
  const b = opt(c, 2);
  if (b) y = y.add(b);
  return [y, mean, inv];
}

// ------------------------------------------------------------------ losses

function nll(c: OpContext, logp: Tensor, target: Tensor, weight: Tensor | undefined): Tensor {
  // logp [N, C, d...], target [N, d...]
  const ignore = c.attrs.has('ignore_index') ? int(c, 'ignore_index', 0) : undefined;
  const C = staticShape(c, logp)[1]!;
  const t = target.dtype === 'i32' ? target : target.cast('i32');
  const hit = t.expandDims(1).equal(c.g.range(C).reshape([1, C, ...Array(t.rank - 1).fill(1)]));
  const picked = hit.where(logp, 0).sum({ axes: [1] }).neg();
  let w: Tensor = weight ? hit.where(weight.reshape([1, C, ...Array(t.rank - 1).fill(1)]), 0).sum({ axes: [1] }) : c.g.fill(t.shape, 1);
  if (ignore !== undefined) w = t.equal(ignore).where(0, w);
  const loss = picked.mul(w);
  const red = str(c, 'reduction', 'mean');
  if (red === 'none') return loss;
  if (red === 'sum') return loss.sum();
  if (red === 'mean') return loss.sum().div(w.sum());
  return unsupported(c, `reduction '${red}'`);
}

// ------------------------------------------------------------------ einsum

function einsum(c: OpContext): Tensor {
  const eq = str(c, 'equation', '').replace(/\s/g, '');
  const xs = c.inputs.filter((t): t is Tensor => !!t);
  let [lhs, rhs] = eq.split('->') as [string, string | undefined];
  const terms = lhs.split(',');
  if (terms.length !== xs.length) unsupported(c, `equation '${eq}' names ${terms.length} operands, the node has ${xs.length}`);
  // ellipsis: letters unused by the equation, as many as the operand's extra dims
  const spare = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('').filter((ch) => !eq.includes(ch));
  const ell = Math.max(0, ...terms.map((t, i) => (t.includes('...') ? xs[i]!.rank - (t.length - 3) : 0)));
  const ellLetters = spare.slice(0, ell).join('');
  const expanded = terms.map((t, i) => t.replace('...', ellLetters.slice(ell - (xs[i]!.rank - (t.length - 3)))));
  if (rhs === undefined) {
    const counts = new Map<string, number>();
    for (const t of expanded) for (const ch of t) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    rhs = ellLetters + [...counts].filter(([ch, n]) => n === 1 && !ellLetters.includes(ch)).map(([ch]) => ch).sort().join('');
  } else rhs = rhs.replace('...', ellLetters);
  const letters = [...new Set([...expanded.join(''), ...rhs])];
  const size = new Map<string, number>();
  const aligned = expanded.map((t, i) => {
    let x = xs[i]!;
    if (t.length !== x.rank) unsupported(c, `operand ${i} has rank ${x.rank}, '${t}' names ${t.length} dims`);
    const shape = staticShape(c, x);
    // a repeated letter takes the diagonal
    let term = t;
    for (let a = 0; a < term.length; a++) {
      const b = term.indexOf(term[a]!, a + 1);
      if (b < 0) continue;
      const n = shape[a]!;
      const eye = c.g.range(n).reshape([n, 1]).equal(c.g.range(n).reshape([1, n]));
      const s = x.shape.map(() => 1) as number[];
      s[a] = n; s[b] = n;
      x = eye.reshape(s).where(x, 0).sum({ axes: [b] });
      term = term.slice(0, b) + term.slice(b + 1);
      shape.splice(b, 1);
      a--;
    }
    term.split('').forEach((ch, k) => size.set(ch, Math.max(size.get(ch) ?? 1, shape[k]!)));
    const present = letters.filter((ch) => term.includes(ch));
    const perm = present.map((ch) => term.indexOf(ch));
    const xt = x.transpose(perm);
    return xt.reshape(letters.map((ch) => (term.includes(ch) ? shape[term.indexOf(ch)]! : 1)));
  });
  let prod = aligned.reduce((a, b) => a.mul(b));
  const sumAxes = letters.map((ch, i) => (rhs!.includes(ch) ? -1 : i)).filter((i) => i >= 0);
  if (sumAxes.length) prod = prod.sum({ axes: sumAxes });
  const kept = letters.filter((ch) => rhs!.includes(ch));
  const perm = rhs.split('').map((ch) => kept.indexOf(ch));
  return prod.rank ? prod.transpose(perm) : prod;
}

// ------------------------------------------------------------------ topk

function topK(c: OpContext): Tensor[] {
  const x = input(c, 0), axis = normAxis(int(c, 'axis', -1), x.rank, c.where);
  const k = hostInts(c, 1, 'K')[0]!;
  const largest = int(c, 'largest', 1) === 1;
  const n = staticShape(c, x)[axis]!;
  const [xl, inv] = toLast(x, axis);
  const xi = xl.expandDims(-1), xj = xl.expandDims(-2); // [..., n, 1], [..., 1, n]
  const ii = c.g.range(n).reshape([n, 1]), jj = c.g.range(n).reshape([1, n]);
  const beats = (largest ? xj.greater(xi) : xj.less(xi)).logicalOr(xj.equal(xi).logicalAnd(jj.less(ii)));
  const rank = beats.cast('i32').sum({ axes: [-1] }); // [..., n]
  const sel = rank.expandDims(-2).equal(c.g.range(k).reshape([k, 1])); // [..., k, n]
  const values = sel.where(xl.expandDims(-2), 0).sum({ axes: [-1] });
  const indices = sel.where(c.g.range(n).reshape([1, n]), 0).sum({ axes: [-1] });
  return [values.transpose(inv), indices.transpose(inv)];
}

// ------------------------------------------------------------------ attention (opset 23)

/** Scaled dot-product attention with ONNX's masks, KV cache, grouped heads and softcap. */
function attention(c: OpContext): (Tensor | undefined)[] {
  let q = f32(c, input(c, 0)), k = input(c, 1), v = input(c, 2);
  const mask0 = opt(c, 3), pastK = opt(c, 4), pastV = opt(c, 5), nonpad = opt(c, 6);
  const threeD = q.rank === 3;
  if (threeD) {
    const qh = int(c, 'q_num_heads', 0), kvh = int(c, 'kv_num_heads', 0);
    if (!qh || !kvh) unsupported(c, '3-D inputs need q_num_heads and kv_num_heads');
    const heads = (t: Tensor, h: number) => { const [b, s, d] = staticShape(c, t) as [number, number, number]; return t.reshape([b, s, h, d / h]).transpose([0, 2, 1, 3]); };
    q = heads(q, qh); k = heads(k, kvh); v = heads(v, kvh);
  }
  if (q.rank !== 4) unsupported(c, `Q of rank ${q.rank}`);
  const headSize = staticShape(c, q)[3]!;
  const scale = c.attrs.has('scale') ? float(c, 'scale', 1) : 1 / Math.sqrt(headSize);
  if (pastK) k = concat([pastK, k], 2);
  if (pastV) v = concat([pastV, v], 2);
  const presentK = k, presentV = v;
  const [B, qH, Sq] = staticShape(c, q) as [number, number, number];
  const [, kH, Skv] = staticShape(c, k) as [number, number, number];
  const past = pastK ? staticShape(c, pastK)[2]! : 0;

  // the additive bias [.., Sq, Skv]: 0 where a key is attended, -inf where not
  let bias: Tensor | undefined;
  if (mask0) {
    let m = mask0;
    const pad = Skv - staticShape(c, m).at(-1)!;
    if (pad > 0) m = m.pad(m.shape.map((_, i) => (i === m.rank - 1 ? [0, pad] : [0, 0])) as [number, number][], m.dtype === 'bool' ? 0 : -Infinity);
    bias = m.dtype === 'bool' ? m.where(0, -Infinity) : m;
  }
  if (int(c, 'is_causal', 0)) {
    const i = c.g.range(Sq).reshape([Sq, 1]), j = c.g.range(Skv).reshape([1, Skv]);
    let allowed: Tensor;
    if (!pastK && nonpad) {
      const off = nonpad.reshape([B, 1, 1, 1]).sub(Sq);
      allowed = j.lessEqual(i.add(off)); // [B, 1, Sq, Skv]
    } else allowed = j.lessEqual(i.add(past));
    const causal = allowed.where(0, -Infinity);
    bias = bias ? bias.add(causal) : causal;
  }
  if (nonpad) {
    const keep = c.g.range(Skv).reshape([1, 1, 1, Skv]).less(nonpad.reshape([B, 1, 1, 1]));
    const padBias = keep.where(0, -Infinity);
    bias = bias ? bias.add(padBias) : padBias;
  }
  if (qH !== kH) {
    if (qH % kH) unsupported(c, `${qH} query heads over ${kH} key/value heads`);
    const rep = (t: Tensor) => { const [b, h, s, d] = staticShape(c, t) as [number, number, number, number]; return t.reshape([b, h, 1, s, d]).broadcastTo([b, h, qH / kH, s, d]).reshape([b, qH, s, d]); };
    k = rep(k); v = rep(v);
  }
  const root = Math.sqrt(scale);
  let qk = q.mul(root).matmul(k.mul(root), { transposeB: true });
  const softcap = float(c, 'softcap', 0);
  if (softcap > 0) qk = qk.div(softcap).tanh().mul(softcap);
  const withBias = bias ? qk.add(bias) : qk;
  // a row whose every key is masked gets zero weights (ONNX's reference), not 0/0 = NaN
  const m = withBias.max({ axes: [-1], keepDims: true }).stopGradient();
  const e = withBias.sub(m.equal(-Infinity).where(0, m)).exp();
  const sum = e.sum({ axes: [-1], keepDims: true });
  const p = sum.equal(0).where(0, e.div(sum));
  let y = p.matmul(v);
  if (threeD) { const [b, h, s, d] = staticShape(c, y) as [number, number, number, number]; y = y.transpose([0, 2, 1, 3]).reshape([b, s, h * d]); }
  const mode = int(c, 'qk_matmul_output_mode', 0);
  const qkOut = mode === 2 ? withBias : mode === 3 ? p : qk;
  return [y, presentK, presentV, qkOut];
}

// ------------------------------------------------------------------ recurrent layers (RNN, GRU, LSTM)

const ACTIVATIONS: Record<string, (x: Tensor, alpha?: number, beta?: number) => Tensor> = {
  Sigmoid: (x) => x.sigmoid(), Tanh: (x) => x.tanh(), Relu: (x) => x.relu(),
  LeakyRelu: (x, a = 0.01) => x.leakyRelu(a), Elu: (x, a = 1) => x.elu(a), Softsign: (x) => x.softsign(), Softplus: (x) => x.softplus(),
  HardSigmoid: (x, a = 0.2, b = 0.5) => x.mul(a).add(b).maximum(0).minimum(1),
  Affine: (x, a = 1, b = 0) => x.mul(a).add(b), ScaledTanh: (x, a = 1, b = 1) => x.mul(b).tanh().mul(a),
};

/**
 * RNN, GRU and LSTM unrolled over the (static) sequence, with ONNX's layouts: W [dirs, gates*H,
 * in], R [dirs, gates*H, H], B [dirs, 2*gates*H]; gate orders RNN i, GRU z r h, LSTM i o f c.
 */
function recurrent(kind: 'RNN' | 'GRU' | 'LSTM'): Impl {
  const gates = kind === 'RNN' ? 1 : kind === 'GRU' ? 3 : 4;
  return (c) => {
    const layout = int(c, 'layout', 0);
    let x = f32(c, input(c, 0));
    if (layout === 1) x = x.transpose([1, 0, 2]);
    const w = input(c, 1), r = input(c, 2), b = opt(c, 3);
    const [T, N] = staticShape(c, x) as [number, number];
    if (T > MAX_UNROLLED_STEPS) unsupported(c, `a sequence of ${T} steps (Kiln unrolls recurrences, at most ${MAX_UNROLLED_STEPS} steps)`);
    const H = int(c, 'hidden_size', staticShape(c, r)[2]!);
    const direction = str(c, 'direction', 'forward');
    const dirs = direction === 'bidirectional' ? 2 : 1;
    const clip = c.attrs.has('clip') ? float(c, 'clip', 0) : undefined;
    if (kind === 'LSTM' && int(c, 'input_forget', 0)) unsupported(c, 'input_forget=1');
    const names = (c.attrs.get('activations') as string[] | undefined) ?? [];
    const alphas = ints(c, 'activation_alpha'), betas = ints(c, 'activation_beta');
    const perDir = kind === 'RNN' ? 1 : kind === 'GRU' ? 2 : 3;
    const defaults = kind === 'RNN' ? ['Tanh'] : kind === 'GRU' ? ['Sigmoid', 'Tanh'] : ['Sigmoid', 'Tanh', 'Tanh'];
    const act = (d: number, i: number) => {
      const k = d * perDir + i, name = names[k] ?? defaults[i]!;
      const f = ACTIVATIONS[name] ?? unsupported(c, `activation '${name}'`);
      return (t: Tensor) => f(t, alphas?.[k], betas?.[k]);
    };
    const lens = opt(c, 4) ? hostInts(c, 4, 'sequence_lens') : undefined;
    const h0 = opt(c, 5), c0 = kind === 'LSTM' ? opt(c, 6) : undefined, peep = kind === 'LSTM' ? opt(c, 7) : undefined;
    const lbr = kind === 'GRU' && int(c, 'linear_before_reset', 0) === 1;
    const ys: Tensor[] = [], hs: Tensor[] = [], cs: Tensor[] = [];
    for (let d = 0; d < dirs; d++) {
      const reverse = direction === 'reverse' || d === 1;
      const pick = (t: Tensor, rows: number) => t.slice({ begin: [d, 0, 0].slice(0, t.rank), size: [1, ...staticShape(c, t).slice(1)] }).reshape(staticShape(c, t).slice(1, rows));
      const W = pick(w, 3), R = pick(r, 3); // [gates*H, in], [gates*H, H]
      const Bv = b ? pick(b, 2) : undefined; // [2*gates*H]
      const gate = (m: Tensor, g: number) => m.slice({ begin: [g * H, 0], size: [H, -1] });
      const bias = (g: number, rec: boolean) => (Bv ? Bv.slice({ begin: [(rec ? gates : 0) * H + g * H], size: [H] }) : undefined);
      const f = act(d, 0), gAct = perDir > 1 ? act(d, 1) : f, hAct = perDir > 2 ? act(d, 2) : f;
      let h = h0 ? pick(h0, 3) : c.g.zeros([N, H]);
      let cell = c0 ? pick(c0, 3) : c.g.zeros([N, H]);
      const P = peep ? pick(peep, 2) : undefined;
      const pp = (i: number) => P!.slice({ begin: [i * H], size: [H] });
      const out: Tensor[] = Array(T);
      const lin = (xt: Tensor, g: number) => { let y = xt.matmul(gate(W, g), { transposeB: true }); const bb = bias(g, false); return bb ? y.add(bb) : y; };
      const rec = (ht: Tensor, g: number) => { let y = ht.matmul(gate(R, g), { transposeB: true }); const bb = bias(g, true); return bb ? y.add(bb) : y; };
      const cl = (t: Tensor) => (clip === undefined ? t : t.maximum(-clip).minimum(clip));
      for (let s = 0; s < T; s++) {
        const t = reverse ? T - 1 - s : s;
        const xt = x.slice({ begin: [t, 0, 0], size: [1, N, -1] }).reshape([N, staticShape(c, x)[2]!]);
        let hNew: Tensor, cNew: Tensor | undefined;
        if (kind === 'RNN') hNew = f(cl(lin(xt, 0).add(rec(h, 0))));
        else if (kind === 'GRU') {
          const z = f(cl(lin(xt, 0).add(rec(h, 0)))), rr = f(cl(lin(xt, 1).add(rec(h, 1))));
          const cand = lbr ? gAct(cl(lin(xt, 2).add(rr.mul(rec(h, 2))))) : gAct(cl(lin(xt, 2).add(rec(rr.mul(h), 2))));
          hNew = z.mul(-1).add(1).mul(cand).add(z.mul(h));
        } else {
          let iPre = lin(xt, 0).add(rec(h, 0)), fPre = lin(xt, 2).add(rec(h, 2));
          if (P) { iPre = iPre.add(pp(0).mul(cell)); fPre = fPre.add(pp(2).mul(cell)); }
          const i = f(cl(iPre)), fg = f(cl(fPre)), cc = gAct(cl(lin(xt, 3).add(rec(h, 3))));
          cNew = fg.mul(cell).add(i.mul(cc));
          let oPre = lin(xt, 1).add(rec(h, 1));
          if (P) oPre = oPre.add(pp(1).mul(cNew));
          hNew = f(cl(oPre)).mul(hAct(cNew));
        }
        if (lens) {
          // steps past an example's length keep its state and output zeros
          const live = c.constant({ dtype: 'bool', dims: [N, 1], data: Uint8Array.from(lens, (l) => (t < l ? 1 : 0)) });
          out[t] = live.where(hNew, 0);
          h = live.where(hNew, h);
          if (cNew) cell = live.where(cNew, cell);
        } else {
          out[t] = hNew; h = hNew;
          if (cNew) cell = cNew;
        }
      }
      ys.push(concat(out.map((o) => o.reshape([1, 1, N, H])), 0)); // [T, 1, N, H]
      hs.push(h.reshape([1, N, H])); cs.push(cell.reshape([1, N, H]));
    }
    let Y = dirs === 1 ? ys[0]! : concat(ys, 1), Yh = dirs === 1 ? hs[0]! : concat(hs, 0), Yc = dirs === 1 ? cs[0]! : concat(cs, 0);
    if (layout === 1) { Y = Y.transpose([2, 0, 1, 3]); Yh = Yh.transpose([1, 0, 2]); Yc = Yc.transpose([1, 0, 2]); }
    return [Y, Yh, kind === 'LSTM' ? Yc : undefined];
  };
}

// ------------------------------------------------------------------ rotary embedding, ND indexing

function rotaryEmbedding(c: OpContext): Tensor {
  const x0 = f32(c, input(c, 0));
  let x = x0;
  if (x.rank === 4) x = x.transpose([0, 2, 1, 3]); // [B, S, heads, d]
  else {
    const heads = int(c, 'num_heads', 0);
    if (!heads) unsupported(c, '3-D input needs num_heads');
    const [b, sq, hid] = staticShape(c, x) as [number, number, number];
    x = x.reshape([b, sq, heads, hid / heads]);
  }
  const [B, S, Hh, D] = staticShape(c, x) as [number, number, number, number];
  const rot = int(c, 'rotary_embedding_dim', 0) || D, half = rot / 2;
  let cos = input(c, 1), sin = input(c, 2);
  const pos = opt(c, 3);
  if (pos) { cos = cos.gather(pos, { axis: 0 }); sin = sin.gather(pos, { axis: 0 }); }
  cos = cos.reshape([...staticShape(c, cos).slice(0, -1), 1, half]);
  sin = sin.reshape([...staticShape(c, sin).slice(0, -1), 1, half]);
  const xr = x.slice({ begin: [0, 0, 0, 0], size: [B, S, Hh, rot] });
  let x1: Tensor, x2: Tensor;
  const interleaved = int(c, 'interleaved', 0) === 1;
  if (interleaved) {
    const pairs = xr.reshape([B, S, Hh, half, 2]);
    x1 = pairs.slice({ begin: [0, 0, 0, 0, 0], size: [B, S, Hh, half, 1] }).reshape([B, S, Hh, half]);
    x2 = pairs.slice({ begin: [0, 0, 0, 0, 1], size: [B, S, Hh, half, 1] }).reshape([B, S, Hh, half]);
  } else [x1, x2] = xr.split(2, -1) as [Tensor, Tensor];
  const re = cos.mul(x1).sub(sin.mul(x2)), im = sin.mul(x1).add(cos.mul(x2));
  const rotated = interleaved ? concat([re.expandDims(-1), im.expandDims(-1)], -1).reshape([B, S, Hh, rot]) : concat([re, im], -1);
  const y = rot < D ? concat([rotated, x.slice({ begin: [0, 0, 0, rot], size: [B, S, Hh, D - rot] })], -1) : rotated;
  return x0.rank === 4 ? y.transpose([0, 2, 1, 3]) : y.reshape(x0.shape);
}

/** Row-major linear positions of ND index tuples (the last axis of `idx`) into dims. */
function linearIndex(c: OpContext, idx: Tensor, dims: number[]): Tensor {
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const i = idx.dtype === 'i32' ? idx : idx.cast('i32');
  const wrapped = i.less(0).where(i.add(iconst(c, dims)), i);
  return wrapped.mul(iconst(c, strides)).sum({ axes: [-1] });
}

function gatherND(c: OpContext): Tensor {
  const data = input(c, 0), idx = input(c, 1), bd = int(c, 'batch_dims', 0);
  const ds = staticShape(c, data), is = staticShape(c, idx), k = is.at(-1)!;
  const batch = ds.slice(0, bd), nb = batch.reduce((a, b) => a * b, 1);
  const rest = ds.slice(bd + k), m = ds.slice(bd, bd + k).reduce((a, b) => a * b, 1);
  let lin = linearIndex(c, idx, ds.slice(bd, bd + k)); // [batch..., inner...]
  if (bd) lin = lin.reshape([nb, -1]).add(c.g.range(nb).mul(m).reshape([nb, 1]));
  const flat = data.reshape([nb * m, ...rest]);
  return flat.gather(lin.reshape([-1]), { axis: 0 }).reshape([...is.slice(0, -1), ...rest]);
}

function scatterND(c: OpContext): Tensor {
  const data = input(c, 0), idx = input(c, 1), upd = input(c, 2);
  const ds = staticShape(c, data), is = staticShape(c, idx), k = is.at(-1)!;
  const rest = ds.slice(k), m = ds.slice(0, k).reduce((a, b) => a * b, 1), r = rest.reduce((a, b) => a * b, 1);
  const u = is.slice(0, -1).reduce((a, b) => a * b, 1);
  const lin = linearIndex(c, idx, ds.slice(0, k)).reshape([u, 1]);
  const hit = lin.equal(c.g.range(m).reshape([1, m])).reshape([u, m, 1]); // [U, M, 1]
  const uf = upd.reshape([u, 1, r]), df = data.reshape([m, r]);
  const any = hit.cast('i32').sum({ axes: [0] }).greater(0); // [M, 1]
  const red = str(c, 'reduction', 'none');
  let out: Tensor;
  if (red === 'none') out = any.where(hit.where(uf, 0).sum({ axes: [0] }), df);
  else if (red === 'add') out = df.add(hit.where(uf, 0).sum({ axes: [0] }));
  else if (red === 'mul') out = df.mul(hit.where(uf, 1).prod({ axes: [0] }));
  else if (red === 'max') out = any.where(df.maximum(hit.where(uf, -Infinity).max({ axes: [0] })), df);
  else if (red === 'min') out = any.where(df.minimum(hit.where(uf, Infinity).min({ axes: [0] })), df);
  else return unsupported(c, `reduction '${red}'`);
  return out.reshape(ds);
}

// ------------------------------------------------------------------ the table

const norm = (x: Tensor, axes: number[], eps: number): Tensor => x.sub(x.mean({ axes, keepDims: true })).mul(x.variance({ axes, keepDims: true }).add(eps).rsqrt());

export const OP_TABLE: Record<string, Impl> = {
  Identity: unary((x) => x),
  Abs: unary((x) => x.abs()), Neg: unary((x) => x.neg()), Exp: unary((x) => x.exp()), Log: unary((x) => x.log()),
  Sqrt: unary((x) => x.sqrt()), Reciprocal: unary((x) => x.reciprocal()), Sin: unary((x) => x.sin()), Cos: unary((x) => x.cos()),
  Tanh: unary((x) => x.tanh()), Sigmoid: unary((x) => x.sigmoid()), Relu: unary((x) => x.relu()), Erf: unary((x) => x.erf()),
  Softplus: unary((x) => x.softplus()), Softsign: unary((x) => x.softsign()), Sign: unary((x) => x.sign()),
  Not: unary((x) => x.logicalNot()), IsNaN: unary((x) => x.isNaN()),
  Floor: unary(floor), Ceil: unary(ceil), Round: unary(roundHalfEven),
  IsInf: (c) => {
    const x = input(c, 0), pos = int(c, 'detect_positive', 1), neg = int(c, 'detect_negative', 1);
    const r = pos && neg ? x.abs().equal(Infinity) : pos ? x.equal(Infinity) : neg ? x.equal(-Infinity) : x.notEqual(x).logicalAnd(x.equal(x));
    return [r];
  },
  Add: binary((a, b) => a.add(b)), Sub: binary((a, b) => a.sub(b)), Mul: binary((a, b) => a.mul(b)),
  Div: binary((a, b) => (a.dtype === 'i32' ? intDiv(a, b) : a.div(b))),
  Pow: (c) => {
    const a = input(c, 0), b = input(c, 1);
    if (a.dtype === 'f32') return [a.pow(b.dtype === 'f32' ? b : b.cast('f32'))];
    // integer base: computed in f32 and rounded back (exact while results stay below 2**24)
    return [roundHalfEven(a.cast('f32').pow(b.dtype === 'f32' ? b : b.cast('f32'))).cast(a.dtype)];
  },
  Equal: binary((a, b) => a.equal(b)), Less: binary((a, b) => a.less(b)), LessOrEqual: binary((a, b) => a.lessEqual(b)),
  Greater: binary((a, b) => a.greater(b)), GreaterOrEqual: binary((a, b) => a.greaterEqual(b)),
  And: binary((a, b) => a.logicalAnd(b)), Or: binary((a, b) => a.logicalOr(b)), Xor: binary((a, b) => a.notEqual(b)),
  Max: variadic((a, b) => a.maximum(b)), Min: variadic((a, b) => a.minimum(b)), Sum: variadic((a, b) => a.add(b)),
  Mean: (c) => { const xs = c.inputs.filter((t): t is Tensor => !!t); return [xs.reduce((a, b) => a.add(b)).div(xs.length)]; },
  PRelu: binary((x, s) => x.less(0).where(x.mul(s), x)),
  LeakyRelu: (c) => [input(c, 0).leakyRelu(float(c, 'alpha', 0.01))],
  Elu: (c) => [input(c, 0).elu(float(c, 'alpha', 1))],
  Selu: (c) => {
    const x = input(c, 0), a = float(c, 'alpha', 1.67326319217681884765625), gm = float(c, 'gamma', 1.05070102214813232421875);
    return [x.greater(0).where(x, x.exp().sub(1).mul(a)).mul(gm)];
  },
  Celu: (c) => { const x = input(c, 0), a = float(c, 'alpha', 1); return [x.maximum(0).add(x.div(a).exp().sub(1).mul(a).minimum(0))]; },
  HardSigmoid: (c) => [input(c, 0).mul(float(c, 'alpha', 0.2)).add(float(c, 'beta', 0.5)).maximum(0).minimum(1)],
  Gelu: (c) => {
    const x = input(c, 0);
    if (str(c, 'approximate', 'none') === 'none') return [x.gelu()];
    const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
    return [x.mul(0.5).mul(inner.tanh().add(1))];
  },
  Swish: (c) => { const x = input(c, 0); return [x.mul(x.mul(float(c, 'alpha', 1)).sigmoid())]; },
  Mish: unary((x) => x.mul(x.softplus().tanh())),
  Clip: (c) => {
    let x = input(c, 0);
    const lo = c.opset >= 11 ? opt(c, 1) : c.attrs.has('min') ? float(c, 'min', 0) : undefined;
    const hi = c.opset >= 11 ? opt(c, 2) : c.attrs.has('max') ? float(c, 'max', 0) : undefined;
    if (lo !== undefined) x = x.maximum(lo);
    if (hi !== undefined) x = x.minimum(hi);
    return [x];
  },
  Where: (c) => [input(c, 0).where(input(c, 1), input(c, 2))],
  Cast: (c) => [cast(c, input(c, 0), int(c, 'to', 0))],
  CastLike: (c) => [cast(c, input(c, 0), c.onnxType(1))],
  Constant: (c) => {
    const [name, v] = [...c.attrs][0] ?? unsupported(c, 'no value');
    if (typeof v === 'object' && !Array.isArray(v)) return [c.constant(v)];
    if (name === 'value_float') return [fconst(c, [v as number], [])];
    if (name === 'value_floats') return [fconst(c, v as number[])];
    if (name === 'value_int') return [iconst(c, [v as number], [])];
    if (name === 'value_ints') return [iconst(c, v as number[])];
    return unsupported(c, `attribute '${name}'`);
  },
  ConstantOfShape: (c) => {
    const shape = hostInts(c, 0, 'shape');
    const v = c.attrs.get('value') as HostTensor | undefined;
    return [c.g.fill(shape, v ? v.data[0]! : 0, v?.dtype ?? 'f32')];
  },
  Shape: (c) => {
    const x = input(c, 0);
    const s = staticShape(c, x);
    const start = normClamp(int(c, 'start', 0), s.length), end = normClamp(int(c, 'end', s.length), s.length);
    return [iconst(c, s.slice(start, end))];
  },
  Size: (c) => [iconst(c, [staticShape(c, input(c, 0)).reduce((a, b) => a * b, 1)], [])],
  Range: (c) => {
    const [s, l, d] = [0, 1, 2].map((k) => Array.from(c.hostOf(input(c, k), ['start', 'limit', 'delta'][k]!).data)[0]!);
    const n = Math.max(0, Math.ceil((l! - s!) / d!));
    const vals = hostList(c, n, (i) => s! + i * d!, 'a range');
    return [input(c, 0).dtype === 'f32' ? fconst(c, vals) : iconst(c, vals)];
  },

  ReduceSum: reduction(13, (x, axes, keepDims) => x.sum({ axes, keepDims })),
  ReduceMean: reduction(18, (x, axes, keepDims) => x.mean({ axes, keepDims })),
  ReduceMax: reduction(18, (x, axes, keepDims) => (x.dtype === 'bool' ? x.cast('i32').max({ axes, keepDims }).cast('bool') : x.max({ axes, keepDims }))),
  ReduceMin: reduction(18, (x, axes, keepDims) => (x.dtype === 'bool' ? x.cast('i32').min({ axes, keepDims }).cast('bool') : x.min({ axes, keepDims }))),
  ReduceProd: reduction(18, (x, axes, keepDims) => x.prod({ axes, keepDims })),
  ReduceL1: reduction(18, (x, axes, keepDims) => x.abs().sum({ axes, keepDims })),
  ReduceL2: reduction(18, (x, axes, keepDims) => x.square().sum({ axes, keepDims }).sqrt()),
  ReduceSumSquare: reduction(18, (x, axes, keepDims) => x.square().sum({ axes, keepDims })),
  ReduceLogSum: reduction(18, (x, axes, keepDims) => x.sum({ axes, keepDims }).log()),
  ReduceLogSumExp: reduction(18, (x, axes, keepDims) => x.logSumExp({ axes, keepDims })),
  ArgMax: argReduce('argMax'), ArgMin: argReduce('argMin'),
  CumSum: (c) => {
    const x = input(c, 0), axis = normAxis(hostInts(c, 1, 'axis')[0]!, x.rank, c.where);
    return [x.cumsum({ axis, exclusive: int(c, 'exclusive', 0) === 1, reverse: int(c, 'reverse', 0) === 1 })];
  },

  Softmax: (c) => softmaxLike(c, (x, axis) => x.softmax({ axis })),
  LogSoftmax: (c) => softmaxLike(c, (x, axis) => x.logSoftmax({ axis })),
  Hardmax: (c) => softmaxLike(c, (x, axis) => {
    const n = staticShape(c, x)[axis]!;
    const am = x.argMax({ axis, keepDims: true });
    const s = x.shape.map(() => 1) as number[];
    s[axis] = n;
    return am.equal(c.g.range(n).reshape(s)).cast('f32');
  }),

  MatMul: binary((a, b) => a.matmul(b)),
  Gemm: (c) => {
    let a = input(c, 0), b = input(c, 1);
    if (int(c, 'transA', 0)) a = a.transpose();
    if (int(c, 'transB', 0)) b = b.transpose();
    let y = a.matmul(b);
    const alpha = float(c, 'alpha', 1), beta = float(c, 'beta', 1);
    if (alpha !== 1) y = y.mul(alpha);
    const cc = opt(c, 2);
    if (cc) y = y.add(beta === 1 ? cc : cc.mul(beta));
    return [y];
  },
  Einsum: (c) => [einsum(c)],
  Attention: attention,
  RotaryEmbedding: (c) => [rotaryEmbedding(c)],
  GatherND: (c) => [gatherND(c)],
  ScatterND: (c) => [scatterND(c)],
  RNN: recurrent('RNN'), GRU: recurrent('GRU'), LSTM: recurrent('LSTM'),

  Reshape: (c) => [reshapeTo(c, input(c, 0), c.opset >= 5 ? hostInts(c, 1, 'shape') : ints(c, 'shape') ?? [], int(c, 'allowzero', 0) === 1)],
  Flatten: (c) => {
    const x = input(c, 0), a = int(c, 'axis', 1), s = staticShape(c, x);
    const axis = a < 0 ? a + x.rank : a; // Flatten's axis ranges over [-rank, rank]
    const p = (l: number[]) => l.reduce((a, b) => a * b, 1);
    return [x.reshape([p(s.slice(0, axis)), p(s.slice(axis))])];
  },
  Transpose: (c) => { const p = ints(c, 'perm'); return [p ? input(c, 0).transpose(p) : input(c, 0).transpose()]; },
  Squeeze: (c) => {
    const x = input(c, 0);
    const axes = c.opset >= 13 ? (opt(c, 1) ? hostInts(c, 1, 'axes') : undefined) : ints(c, 'axes');
    return [axes ? x.squeeze(axes.map((a) => normAxis(a, x.rank, c.where))) : x.squeeze()];
  },
  Unsqueeze: (c) => [unsqueeze(input(c, 0), c.opset >= 13 ? hostInts(c, 1, 'axes') : ints(c, 'axes') ?? [], c.where)],
  Concat: (c) => [concat(c.inputs.filter((t): t is Tensor => !!t), normAxis(int(c, 'axis', 0), input(c, 0).rank, c.where))],
  Split: splitOp,
  Slice: (c) => [sliceOp(c)],
  Expand: (c) => [expand(c, input(c, 0), hostInts(c, 1, 'shape'))],
  Tile: (c) => [tile(c)],
  Pad: (c) => [padOp(c)],
  Gather: (c) => {
    const x = input(c, 0), axis = normAxis(int(c, 'axis', 0), x.rank, c.where);
    return [x.gather(gatherIndices(c, input(c, 1), staticShape(c, x)[axis]!), { axis })];
  },
  GatherElements: (c) => [gatherElements(c)],
  ScatterElements: (c) => [scatterElements(c)],
  OneHot: (c) => {
    const depth = Array.from(c.hostOf(input(c, 1), 'depth').data)[0]!;
    const vals = input(c, 2);
    const idx0 = input(c, 0), idx = idx0.dtype === 'i32' ? idx0 : idx0.cast('i32');
    const i = idx.less(0).where(idx.add(depth), idx);
    const axis = normAxis(int(c, 'axis', -1), i.rank + 1, c.where);
    const s = Array(i.rank + 1).fill(1);
    s[axis] = depth;
    const hit = unsqueeze(i, [axis], c.where).equal(c.g.range(depth).reshape(s));
    const [off, on] = vals.split(2, 0);
    return [hit.where(on!.reshape([]), off!.reshape([]))];
  },
  Trilu: (c) => {
    const x = input(c, 0), s = staticShape(c, x);
    const k = opt(c, 1) ? hostInts(c, 1, 'k')[0]! : 0;
    const [n, m] = s.slice(-2) as [number, number];
    const d = c.g.range(m).reshape([1, m]).sub(c.g.range(n).reshape([n, 1]));
    const keep = int(c, 'upper', 1) ? d.greaterEqual(k) : d.lessEqual(k);
    return [keep.where(x, x.dtype === 'bool' ? false : 0)];
  },
  TopK: topK,
  DepthToSpace: (c) => {
    const x = input(c, 0), [n, ch, h, w] = staticShape(c, x) as [number, number, number, number], b = int(c, 'blocksize', 1);
    const crd = str(c, 'mode', 'DCR') === 'CRD';
    const y = crd ? x.reshape([n, ch / (b * b), b, b, h, w]).transpose([0, 1, 4, 2, 5, 3]) : x.reshape([n, b, b, ch / (b * b), h, w]).transpose([0, 3, 4, 1, 5, 2]);
    return [y.reshape([n, ch / (b * b), h * b, w * b])];
  },
  SpaceToDepth: (c) => {
    const x = input(c, 0), [n, ch, h, w] = staticShape(c, x) as [number, number, number, number], b = int(c, 'blocksize', 1);
    return [x.reshape([n, ch, h / b, b, w / b, b]).transpose([0, 3, 5, 1, 2, 4]).reshape([n, ch * b * b, h / b, w / b])];
  },

  Conv: (c) => [convOp(c)],
  ConvTranspose: (c) => [convTransposeOp(c)],
  MaxPool: poolOp('max'),
  AveragePool: poolOp('avg'),
  GlobalAveragePool: unary((x) => x.mean({ axes: x.shape.map((_, i) => i).slice(2), keepDims: true })),
  GlobalMaxPool: unary((x) => x.max({ axes: x.shape.map((_, i) => i).slice(2), keepDims: true })),

  BatchNormalization: (c) => {
    const x = input(c, 0), r = [1, staticShape(c, x)[1]!, ...Array(x.rank - 2).fill(1)];
    if (int(c, 'training_mode', 0)) {
      // batch statistics (population variance), and the running statistics' update as outputs
      const axes = x.shape.map((_, i) => i).filter((i) => i !== 1), m = float(c, 'momentum', 0.9);
      const mean = x.mean({ axes, keepDims: true }), variance = x.variance({ axes, keepDims: true });
      const y = x.batchNorm({ scale: input(c, 1).reshape(r), offset: input(c, 2).reshape(r), mean, variance, epsilon: float(c, 'epsilon', 1e-5) });
      const C = staticShape(c, x)[1]!;
      return [y, input(c, 3).mul(m).add(mean.reshape([C]).mul(1 - m)), input(c, 4).mul(m).add(variance.reshape([C]).mul(1 - m))];
    }
    if (c.outputsWanted.slice(1).some(Boolean)) unsupported(c, 'running statistics outputs without training_mode');
    return [x.batchNorm({ scale: input(c, 1).reshape(r), offset: input(c, 2).reshape(r), mean: input(c, 3).reshape(r), variance: input(c, 4).reshape(r), epsilon: float(c, 'epsilon', 1e-5) })];
  },
  InstanceNormalization: (c) => {
    const x = input(c, 0), r = [1, staticShape(c, x)[1]!, ...Array(x.rank - 2).fill(1)];
    return [norm(x, x.shape.map((_, i) => i).slice(2), float(c, 'epsilon', 1e-5)).mul(input(c, 1).reshape(r)).add(input(c, 2).reshape(r))];
  },
  GroupNormalization: (c) => {
    const x = input(c, 0), s = staticShape(c, x), G = int(c, 'num_groups', 1), C = s[1]!;
    const grouped = x.reshape([s[0]!, G, C / G, ...s.slice(2)]);
    const y = norm(grouped, grouped.shape.map((_, i) => i).slice(2), float(c, 'epsilon', 1e-5)).reshape(s);
    const r = [1, C, ...Array(x.rank - 2).fill(1)];
    let scale = input(c, 1), bias = input(c, 2);
    if (c.opset < 21 && scale.shape[0] === G && G !== C) {
      // opset 18: scale and bias per group
      scale = scale.reshape([G, 1]).broadcastTo([G, C / G]).reshape([C]);
      bias = bias.reshape([G, 1]).broadcastTo([G, C / G]).reshape([C]);
    }
    return [y.mul(scale.reshape(r)).add(bias.reshape(r))];
  },
  LayerNormalization: layerNormOp,
  RMSNormalization: (c) => {
    const x = f32(c, input(c, 0)), axis = normAxis(int(c, 'axis', -1), x.rank, c.where);
    const axes = x.shape.map((_, i) => i).filter((i) => i >= axis);
    return [x.mul(x.square().mean({ axes, keepDims: true }).add(float(c, 'epsilon', 1e-5)).rsqrt()).mul(input(c, 1))];
  },
  Dropout: (c) => {
    const x = input(c, 0);
    const training = opt(c, 2) ? Array.from(c.hostOf(input(c, 2), 'training_mode').data)[0] : 0;
    const ratio = opt(c, 1) ? Array.from(c.hostOf(input(c, 1), 'ratio').data)[0] : 0.5;
    if (training && ratio !== 0) unsupported(c, 'training_mode=true (Kiln dropout reads the executable\'s train flag; import the model for inference)');
    return [x, c.outputsWanted[1] ? c.g.fill(x.shape, 1, 'bool') : undefined];
  },

  NegativeLogLikelihoodLoss: (c) => [nll(c, input(c, 0), input(c, 1), opt(c, 2))],
  SoftmaxCrossEntropyLoss: (c) => {
    const x = input(c, 0);
    const logp = x.logSoftmax({ axis: 1 });
    return [nll(c, logp, input(c, 1), opt(c, 2)), c.outputsWanted[1] ? logp : undefined];
  },
};

const normClamp = (v: number, n: number): number => Math.min(Math.max(v < 0 ? v + n : v, 0), n);

function softmaxLike(c: OpContext, f: (x: Tensor, axis: number) => Tensor): Tensor[] {
  const x = input(c, 0);
  if (c.opset >= 13) return [f(x, normAxis(int(c, 'axis', -1), x.rank, c.where))];
  // before opset 13 the input is coerced to 2-D at `axis` (default 1)
  const axis = normAxis(int(c, 'axis', 1), x.rank, c.where), s = staticShape(c, x);
  const p = (l: number[]) => l.reduce((a, b) => a * b, 1);
  return [f(x.reshape([p(s.slice(0, axis)), p(s.slice(axis))]), 1).reshape(s)];
}

