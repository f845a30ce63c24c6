/**
 * Reductions. sum/prod/max/min are one template built from the spec's `reduce.init` and
 * `reduce.combine` expressions: the input is walked in memory order (after merging runs of
 * kept and of reduced dims) into a float64 accumulator per output element, held in a local
 * while the innermost run is reduced. argMax/argMin scan one axis.
 */
import { E, type OpStep, shapeSize, spec } from '@kiln/core';
import { BYTES, compileJs, type Kernel, type LowerContext, shapeStr } from '../kernel';
import { coalesce, emitNest, type Nest } from '../layout';

/** Independent accumulators per contiguous reduced run. */
const LANES = 4;
import { literal, renderExpr } from '../render';

export function reduceSource(step: OpStep<'sum' | 'prod' | 'max' | 'min'>): { body: string; outSize: number } {
  const x = step.inputs[0]!;
  const shape = x.shape;
  const rank = shape.length;
  const axes = new Set(step.params.axes);
  const r = spec(step.op).reduce!;
  const dtype = x.dtype as 'f32' | 'i32';
  // Output strides of kept dims (row-major over kept dims), 0 along reduced dims.
  const outStr: number[] = new Array<number>(rank).fill(0);
  let acc = 1;
  for (let d = rank - 1; d >= 0; d--) if (!axes.has(d)) { outStr[d] = acc; acc *= shape[d]!; }
  const inStr: number[] = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) { inStr[d] = s; s *= shape[d]!; }
  const nest = coalesce(shape, [inStr, outStr]);
  const outSize = acc;
  const combine = (a: string, v: string, p: string) => {
    const e = r.combine(E.arg(0, dtype), E.arg(1, dtype));
    const ren = renderExpr(e, (i) => (i === 0 ? a : v), p);
    return { lines: ren.lines.join('\n'), value: ren.value };
  };
  const init = literal(r.init(dtype), dtype);
  const innerReduced = nest.dims.length > 0 && nest.strides[1]![nest.dims.length - 1] === 0;
  let loops: string;
  if (nest.dims.length === 0) {
    const c = combine(init, 'x[0]', 't');
    loops = `${c.lines}\nacc[0] = ${c.value};`;
  } else if (innerReduced && nest.dims[nest.dims.length - 1]! >= 2 * LANES && nest.strides[0]![nest.dims.length - 1] === 1) {
    // A contiguous reduced run: LANES independent accumulators, so the adds (compares) of
    // neighbouring elements do not wait on each other (1.4-1.8x at 1024 per run), merged at its end.
    const d = nest.dims.length - 1;
    const outer: Nest = { dims: nest.dims.slice(0, d), strides: nest.strides.map((s) => s.slice(0, d)), origin: nest.origin.slice(0, d) };
    const n = nest.dims[d]!;
    const lanes = Array.from({ length: LANES }, (_, l) => l);
    const step4 = lanes.map((l) => { const c = combine(`r${l}`, `x[j + ${l}]`, `t${l}_`); return `${c.lines}\nr${l} = ${c.value};`; }).join('\n');
    const tail = combine('r0', 'x[j]', 't');
    let merged = 'r0';
    const mergeLines: string[] = [];
    for (let l = 1; l < LANES; l++) {
      const c = combine(merged, `r${l}`, `m${l}_`);
      mergeLines.push(c.lines);
      merged = c.value;
    }
    loops = emitNest(outer, {
      base: () => '0',
      inner: (off) => [
        `let r0 = acc[${off(1)}], ${lanes.slice(1).map((l) => `r${l} = ${init}`).join(', ')};`,
        `let j = ${off(0)};`,
        `const e${LANES} = j + ${n - (n % LANES)}, e = j + ${n};`,
        `for (; j < e${LANES}; j += ${LANES}) {\n${step4}\n}`,
        `for (; j < e; j++) {\n${tail.lines}\nr0 = ${tail.value};\n}`,
        mergeLines.join('\n'),
        `acc[${off(1)}] = ${merged};`,
      ].join('\n'),
    });
  } else if (innerReduced) {
    loops = emitNest(nest, {
      base: () => '0',
      pre: (off) => `let r = acc[${off(1)}];`,
      inner: (off) => { const c = combine('r', `x[${off(0)}]`, 't'); return `${c.lines}\nr = ${c.value};`; },
      post: (off) => `acc[${off(1)}] = r;`,
    });
  } else {
    loops = emitNest(nest, {
      base: () => '0',
      inner: (off) => { const c = combine(`acc[${off(1)}]`, `x[${off(0)}]`, 't'); return `${c.lines}\nacc[${off(1)}] = ${c.value};`; },
    });
  }
  const body = `acc.fill(${init}, 0, ${outSize});\n${loops}\nfor (let i = 0; i < ${outSize}; i++) out[i] = acc[i];`;
  return { body, outSize };
}

function lowerReduce(step: OpStep<'sum' | 'prod' | 'max' | 'min'>, ctx: LowerContext): Kernel {
  const x = ctx.view(step.inputs[0]!);
  const out = ctx.view(step.out);
  const n = shapeSize(step.inputs[0]!.shape);
  const { body, outSize } = reduceSource(step);
  const f = compileJs<(x: unknown, out: unknown, acc: Float64Array) => void>(step.op, ['x', 'out', 'acc'], body);
  const acc = ctx.scratchF64(outSize);
  return {
    name: 'reduce', ops: step.ops, shapes: shapeStr([...step.inputs, step.out]),
    bytes: BYTES * (n + outSize), flops: n,
    run: () => f(x, out, acc),
  };
}

/** First index of the max (min) along one axis; a NaN is the extremum (NumPy). */
function lowerArg(step: OpStep<'argMax' | 'argMin'>, ctx: LowerContext): Kernel {
  const { outer, len, inner } = step.params;
  const cmp = step.op === 'argMax' ? '>' : '<';
  const body = `
    for (let o = 0; o < ${outer}; o++) for (let j = 0; j < ${inner}; j++) {
      const base = o * ${len * inner} + j;
      let best = x[base], bi = ${len > 0 ? 0 : -1};
      for (let k = 1; k < ${len}; k++) {
        if (best !== best) break;
        const v = x[base + k * ${inner}];
        if (v !== v || v ${cmp} best) { best = v; bi = k; }
      }
      out[o * ${inner} + j] = bi;
    }`;
  const f = compileJs<(x: unknown, out: unknown) => void>(step.op, ['x', 'out'], body);
  const x = ctx.view(step.inputs[0]!), out = ctx.view(step.out);
  return {
    name: 'argReduce', ops: step.ops, shapes: shapeStr([...step.inputs, step.out]),
    bytes: BYTES * (outer * len * inner + outer * inner), flops: outer * len * inner,
    run: () => f(x, out),
  };
}

/** Running sum along one axis: a float64 accumulator per (outer, inner) line (i32 wraps like the reference). */
function lowerCumsum(step: OpStep<'cumsum'>, ctx: LowerContext): Kernel {
  const { outer, len, inner, exclusive, reverse } = step.params;
  const x = ctx.view(step.inputs[0]!), out = ctx.view(step.out);
  const wrap = step.out.dtype === 'i32';
  const run = () => {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let acc = 0;
        for (let j = 0; j < len; j++) {
          const at = (o * len + (reverse ? len - 1 - j : j)) * inner + i;
          const v = x[at]!;
          if (exclusive) { out[at] = acc; acc += v; } else { acc += v; out[at] = acc; }
          if (wrap) acc |= 0;
        }
      }
    }
  };
  const n = outer * len * inner;
  return { name: 'cumsum', ops: step.ops, shapes: shapeStr([...step.inputs, step.out]), bytes: 2 * BYTES * n, flops: n, run };
}

export const REDUCE_KERNELS = {
  sum: lowerReduce, prod: lowerReduce, max: lowerReduce, min: lowerReduce,
  argMax: lowerArg, argMin: lowerArg,
  cumsum: lowerCumsum,
};
