/**
 * The scalar expression IR. Every elementwise primitive is written once as an expression
 * over its arguments; the WebGPU backend renders it to WGSL and the CPU backend to
 * JavaScript, and fusion composes expressions by substituting a producer for an argument.
 *
 * Expressions are DAGs (a node may be shared); renderers emit one `let` per node, so
 * sharing never duplicates work.
 */
import type { DType } from './shape';

/** Expression dtypes: tensor dtypes plus u32, used inside hash-based random numbers. */
export type EType = DType | 'u32';

export type Fn =
  // arithmetic (f32, i32, u32)
  | 'add' | 'sub' | 'mul' | 'div' | 'neg' | 'abs' | 'max' | 'min'
  // comparisons (-> bool); on NaN every comparison but 'ne' is false, as in IEEE 754
  | 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne'
  // logic (bool)
  | 'and' | 'or' | 'not'
  // float math (f32), with the IEEE special values of JavaScript's Math (the reference):
  // backends must not take them from a compiler that assumes finite math. expm1/log1p/erfc
  // exist so that expressions need not cancel (exp(x) - 1 near 0 has no correct digits);
  // ndtr (the standard normal CDF, erfc(-x / sqrt 2) / 2) keeps gelu's tail relatively accurate.
  | 'exp' | 'expm1' | 'log' | 'log1p' | 'sqrt' | 'sin' | 'cos' | 'erf' | 'erfc' | 'ndtr' | 'floor' | 'pow' | 'isnan'
  // bit ops (u32), for counter-based random numbers
  | 'xor' | 'shr' | 'shl' | 'pcg';

export type Expr =
  | { readonly k: 'arg'; readonly i: number; readonly t: EType }
  | { readonly k: 'lit'; readonly v: number; readonly t: EType }
  | { readonly k: 'call'; readonly f: Fn; readonly a: readonly Expr[]; readonly t: EType }
  | { readonly k: 'select'; readonly c: Expr; readonly a: Expr; readonly b: Expr; readonly t: EType }
  | { readonly k: 'cast'; readonly a: Expr; readonly t: EType }
  /** Linear index of the output element being computed (u32). */
  | { readonly k: 'index'; readonly t: 'u32' }
  /** The run counter: increments every run, so random ops draw fresh numbers (u32). */
  | { readonly k: 'step'; readonly t: 'u32' };

const COMPARE: readonly Fn[] = ['lt', 'le', 'gt', 'ge', 'eq', 'ne', 'isnan'];

/** Small builder used by op definitions: `E.add(a, b)`, `E.lit(0.5)`. */
export const E = {
  arg: (i: number, t: EType): Expr => ({ k: 'arg', i, t }),
  lit: (v: number, t: EType = 'f32'): Expr => ({ k: 'lit', v, t }),
  index: (): Expr => ({ k: 'index', t: 'u32' }),
  step: (): Expr => ({ k: 'step', t: 'u32' }),
  call(f: Fn, ...a: Expr[]): Expr {
    const t: EType = COMPARE.includes(f) ? 'bool' : a[0]!.t;
    return { k: 'call', f, a, t };
  },
  select: (c: Expr, a: Expr, b: Expr): Expr => ({ k: 'select', c, a, b, t: a.t }),
  cast: (a: Expr, t: EType): Expr => (a.t === t ? a : { k: 'cast', a, t }),
  add: (a: Expr, b: Expr) => E.call('add', a, b),
  sub: (a: Expr, b: Expr) => E.call('sub', a, b),
  mul: (a: Expr, b: Expr) => E.call('mul', a, b),
  div: (a: Expr, b: Expr) => E.call('div', a, b),
  neg: (a: Expr) => E.call('neg', a),
  lt: (a: Expr, b: Expr) => E.call('lt', a, b),
  gt: (a: Expr, b: Expr) => E.call('gt', a, b),
  le: (a: Expr, b: Expr) => E.call('le', a, b),
  ge: (a: Expr, b: Expr) => E.call('ge', a, b),
  eq: (a: Expr, b: Expr) => E.call('eq', a, b),
  ne: (a: Expr, b: Expr) => E.call('ne', a, b),
  isnan: (a: Expr) => E.call('isnan', a),
  or: (a: Expr, b: Expr) => E.call('or', a, b),
  and: (a: Expr, b: Expr) => E.call('and', a, b),
  exp: (a: Expr) => E.call('exp', a),
  log: (a: Expr) => E.call('log', a),
  sqrt: (a: Expr) => E.call('sqrt', a),
  expm1: (a: Expr) => E.call('expm1', a),
  log1p: (a: Expr) => E.call('log1p', a),
  /** NaN-propagating max/min (WGSL's max/min leave NaN unspecified). */
  maxNaN: (a: Expr, b: Expr) => E.select(E.or(E.gt(a, b), E.isnan(a)), a, b),
  minNaN: (a: Expr, b: Expr) => E.select(E.or(E.lt(a, b), E.isnan(a)), a, b),
};

/** Does the expression read the output index or run counter (random numbers)? */
export function exprUses(e: Expr, k: 'index' | 'step'): boolean {
  const seen = new Set<Expr>();
  const go = (x: Expr): boolean => {
    if (seen.has(x)) return false;
    seen.add(x);
    if (x.k === k) return true;
    if (x.k === 'call') return x.a.some(go);
    if (x.k === 'select') return go(x.c) || go(x.a) || go(x.b);
    if (x.k === 'cast') return go(x.a);
    return false;
  };
  return go(e);
}

/** Topologically ordered distinct nodes of an expression DAG (leaves first). */
export function exprNodes(root: Expr): Expr[] {
  const out: Expr[] = [];
  const seen = new Set<Expr>();
  const go = (x: Expr) => {
    if (seen.has(x)) return;
    seen.add(x);
    if (x.k === 'call') x.a.forEach(go);
    else if (x.k === 'select') { go(x.c); go(x.a); go(x.b); }
    else if (x.k === 'cast') go(x.a);
    out.push(x);
  };
  go(root);
  return out;
}

/**
 * Floating-point operations per element of `expr`: its calls and selects, each shared
 * subexpression counted once. Every backend's profile counts an elementwise chain, or an
 * epilogue fused into another kernel, with this one rule, so FLOP figures agree across backends.
 */
export function exprFlops(expr: Expr): number {
  return exprNodes(expr).filter((e) => e.k === 'call' || e.k === 'select').length;
}

