/**
 * Fused elementwise kernels: one generated JavaScript loop nest per step. Inputs broadcast by
 * strides (0 along broadcast dims); dims that every operand walks contiguously are merged, so
 * most kernels are one flat loop. Loads and subexpressions that do not change along the
 * innermost dim are hoisted out of it; scalar inputs are read once per run.
 */
import { type ElementwiseStep, type Expr, exprFlops, exprNodes, shapeBroadcastStrides, shapeSize, shapeStrides } from '@kiln/core';
import { BYTES, compileJs, type Kernel, type LowerContext, shapeStr } from '../kernel';
import { coalesce, emitNest } from '../layout';
import { renderExpr } from '../render';

/** 0: once per run, 1: once per innermost row, 2: per element. */
type Level = 0 | 1 | 2;

export function elementwiseSource(step: ElementwiseStep): { params: string[]; body: string } {
  const shape = step.out.shape;
  const m = step.inputs.length;
  const strides = [shapeStrides(shape), ...step.inputs.map((x) => shapeBroadcastStrides(x.shape, shape))];
  const nest = coalesce(shape, strides);
  const r = nest.dims.length;
  const argLevel = step.inputs.map((_, k): Level => {
    const s = nest.strides[k + 1]!;
    if (s.every((v) => v === 0)) return 0;
    return r > 0 && s[r - 1] === 0 ? 1 : 2;
  });
  // Level of every expression node: the deepest level among what it reads.
  const level = new Map<Expr, Level>();
  for (const e of exprNodes(step.expr)) {
    let l: Level = 0;
    switch (e.k) {
      case 'arg': l = argLevel[e.i]!; break;
      case 'index': l = 2; break;
      case 'lit': case 'step': l = 0; break;
      case 'call': l = Math.max(0, ...e.a.map((a) => level.get(a)!)) as Level; break;
      case 'select': l = Math.max(level.get(e.c)!, level.get(e.a)!, level.get(e.b)!) as Level; break;
      case 'cast': l = level.get(e.a)!; break;
    }
    level.set(e, l);
  }
  const rendered = renderExpr(step.expr, (i) => `a${i}`);
  const linesAt = (l: Level) => rendered.nodes.filter((n) => level.get(n.expr) === l).map((n) => n.line).join('\n');
  const load = (k: number, off: string) => {
    const v = `x${k}[${off}]`;
    return `const a${k} = ${step.inputs[k]!.dtype === 'bool' ? `${v} !== 0` : v};`;
  };
  const loadsAt = (l: Level, off: (k: number) => string) => step.inputs.map((_, k) => (argLevel[k] === l ? load(k, off(k + 1)) : '')).filter(Boolean).join('\n');
  const usesIndex = exprNodes(step.expr).some((e) => e.k === 'index');
  const store = step.out.dtype === 'bool' ? `${rendered.value} ? 1 : 0` : rendered.value;
  const top = [loadsAt(0, () => '0'), linesAt(0)].join('\n');
  let body: string;
  if (level.get(step.expr) === 0) {
    // A constant (per run) output: compute once, fill.
    body = `${top}\nout.fill(${store}, 0, ${shapeSize(shape)});`;
  } else {
    body = `${top}\n${emitNest(nest, {
      base: () => '0',
      pre: (off) => [loadsAt(1, off), linesAt(1)].join('\n'),
      inner: (off) => [usesIndex ? `const idx = ${off(0)};` : '', loadsAt(2, off), linesAt(2), `out[${off(0)}] = ${store};`].join('\n'),
    })}`;
  }
  const params = ['out', ...Array.from({ length: m }, (_, k) => `x${k}`), 'step'];
  return { params, body };
}

export function lowerElementwise(step: ElementwiseStep, ctx: LowerContext): Kernel {
  const n = shapeSize(step.out.shape);
  const out = ctx.view(step.out);
  const ins = step.inputs.map((x) => ctx.view(x));
  const kinds = `${step.ops.join('+')}`;
  if (n === 0) return { name: 'elementwise', ops: step.ops, shapes: '', bytes: 0, flops: 0, run: () => {} };
  const { params, body } = elementwiseSource(step);
  const f = compileJs<(...a: unknown[]) => void>(kinds, params, body);
  const args: unknown[] = [out, ...ins, 0];
  const stepIndex = args.length - 1;
  const flops = n * exprFlops(step.expr);
  return {
    name: 'elementwise',
    ops: step.ops,
    shapes: shapeStr([...step.inputs, step.out]),
    bytes: BYTES * (n + step.inputs.reduce((a, x) => a + shapeSize(x.shape), 0)),
    flops,
    run(s) {
      args[stepIndex] = s >>> 0;
      f(...args);
    },
  };
}
