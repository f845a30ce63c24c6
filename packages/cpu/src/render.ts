/**
 * The JavaScript renderer of core's scalar expression IR: one `const` per distinct DAG node,
 * in topological order, so shared subexpressions are computed once.
 *
 * Value representation per expression type:
 *   f32   a JS number. Intermediates stay float64 (closer to the float64 reference than f32
 *         would be); the Float32Array store rounds the result once.
 *   i32   a JS int32: `| 0` after add/sub/neg/div, Math.imul for mul (wraps like WGSL).
 *   u32   a JS number in [0, 2^32): `>>> 0` after every op that can leave that range.
 *   bool  a JS boolean (loaded from storage with `!== 0`, stored as 0/1).
 *
 * NOTE: casts f32 -> i32 use `| 0` (ToInt32: truncate, wrap modulo 2^32, NaN/Inf -> 0), which is
 * exactly core's `toDType` for i32 — the reference defines the semantics, not WGSL's saturation.
 */
import { type Expr, type EType, exprNodes, type Fn, erf, erfc, ndtr, pcgHash } from '@kiln/core';
import { fastExp } from './fastmath';

/** Helpers the generated code may call; passed to every compiled kernel as `H`. */
export const HELPERS = { pcg: pcgHash, erf, erfc, ndtr, exp: fastExp } as const;

export interface Rendered {
  /** Statements computing every interior node (`const tN = ...;`). */
  readonly lines: string[];
  /** The same statements with the node each one computes (for hoisting by the caller). */
  readonly nodes: { readonly expr: Expr; readonly line: string }[];
  /** The expression (a local or an inlined leaf) holding the root's value. */
  readonly value: string;
}

/** A JS literal for a number of the given expression type. */
export function literal(v: number, t: EType): string {
  switch (t) {
    case 'bool': return v ? 'true' : 'false';
    case 'i32': return num(v | 0);
    case 'u32': return num(v >>> 0);
    default: return num(v);
  }
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '(-Infinity)';
  if (Object.is(v, -0)) return '(-0)';
  return v < 0 ? `(${v})` : String(v);
}

/**
 * Float math by name: JavaScript's Math is the reference's, special values included; exp is
 * fastExp (./fastmath: 1.4-2x faster kernels, the f32 result equal or one ulp off).
 */
const FLOAT_MATH: Readonly<Record<string, string>> = {
  exp: 'H.exp', expm1: 'Math.expm1', log: 'Math.log', log1p: 'Math.log1p', sqrt: 'Math.sqrt',
  sin: 'Math.sin', cos: 'Math.cos', floor: 'Math.floor', pow: 'Math.pow', erf: 'H.erf', erfc: 'H.erfc', ndtr: 'H.ndtr',
};

/** One call node as a JS expression over already-rendered argument strings. */
function renderCall(f: Fn, t: EType, a: readonly string[]): string {
  const [x, y] = a as [string, string];
  switch (f) {
    case 'add': return t === 'i32' ? `((${x} + ${y}) | 0)` : t === 'u32' ? `((${x} + ${y}) >>> 0)` : `(${x} + ${y})`;
    case 'sub': return t === 'i32' ? `((${x} - ${y}) | 0)` : t === 'u32' ? `((${x} - ${y}) >>> 0)` : `(${x} - ${y})`;
    case 'mul': return t === 'i32' ? `Math.imul(${x}, ${y})` : t === 'u32' ? `(Math.imul(${x}, ${y}) >>> 0)` : `(${x} * ${y})`;
    // i32: trunc toward zero, x/0 -> 0 (core's toDType of +-Inf/NaN); u32: x/0 -> x, as WGSL.
    case 'div': return t === 'i32' ? `((${x} / ${y}) | 0)` : t === 'u32' ? `(${y} === 0 ? ${x} : Math.floor(${x} / ${y}))` : `(${x} / ${y})`;
    case 'neg': return t === 'i32' ? `((-${x}) | 0)` : t === 'u32' ? `((-${x}) >>> 0)` : `(-${x})`;
    case 'abs': return t === 'i32' ? `(Math.abs(${x}) | 0)` : t === 'u32' ? x : `Math.abs(${x})`;
    case 'max': return `Math.max(${x}, ${y})`;
    case 'min': return `Math.min(${x}, ${y})`;
    case 'lt': return `(${x} < ${y})`;
    case 'le': return `(${x} <= ${y})`;
    case 'gt': return `(${x} > ${y})`;
    case 'ge': return `(${x} >= ${y})`;
    case 'eq': return `(${x} === ${y})`;
    case 'ne': return `(${x} !== ${y})`;
    case 'and': return `(${x} && ${y})`;
    case 'or': return `(${x} || ${y})`;
    case 'not': return `(!${x})`;
    case 'isnan': return `(${x} !== ${x})`;
    case 'xor': return t === 'u32' ? `((${x} ^ ${y}) >>> 0)` : `(${x} ^ ${y})`;
    case 'shr': return t === 'u32' ? `(${x} >>> ${y})` : `(${x} >> ${y})`;
    case 'shl': return t === 'u32' ? `((${x} << ${y}) >>> 0)` : `(${x} << ${y})`;
    case 'pcg': return `H.pcg(${x})`;
    default: {
      const m = FLOAT_MATH[f];
      if (!m) throw new Error(`cpu renderer: no JavaScript for expression function '${f}'`);
      return `${m}(${a.join(', ')})`;
    }
  }
}

function renderCast(x: string, from: EType, to: EType): string {
  if (from === to) return x;
  if (from === 'bool') return to === 'bool' ? x : `(${x} ? 1 : 0)`;
  switch (to) {
    case 'f32': return x; // i32/u32 are exact in float64; the f32 store rounds
    case 'i32': return `(${x} | 0)`;
    case 'u32': return `(${x} >>> 0)`;
    case 'bool': return `(${x} !== 0)`;
  }
}

/**
 * Render an expression. `arg(i)` names the JS value of argument i; `prefix` keeps locals of
 * several rendered expressions in one function apart.
 */
export function renderExpr(root: Expr, arg: (i: number) => string, prefix = 't'): Rendered {
  const names = new Map<Expr, string>();
  const lines: string[] = [];
  const nodes: { expr: Expr; line: string }[] = [];
  const ref = (e: Expr): string => {
    const n = names.get(e);
    if (n !== undefined) return n;
    switch (e.k) {
      case 'arg': return arg(e.i);
      case 'lit': return literal(e.v, e.t);
      case 'index': return 'idx';
      case 'step': return 'step';
      default: throw new Error('cpu renderer: node used before it was rendered');
    }
  };
  let k = 0;
  for (const e of exprNodes(root)) {
    let code: string;
    switch (e.k) {
      case 'call': code = renderCall(e.f, e.a[0]?.t ?? e.t, e.a.map(ref)); break;
      case 'select': code = `(${ref(e.c)} ? ${ref(e.a)} : ${ref(e.b)})`; break;
      case 'cast': code = renderCast(ref(e.a), e.a.t, e.t); break;
      default: continue; // leaves are inlined
    }
    const name = `${prefix}${k++}`;
    const line = `const ${name} = ${code};`;
    lines.push(line);
    nodes.push({ expr: e, line });
    names.set(e, name);
  }
  return { lines, nodes, value: ref(root) };
}

/** Compile a whole scalar expression into a JS function of its arguments (tests, constant folding). */
export function compileScalar(e: Expr, arity: number): (args: readonly number[], index?: number, step?: number) => number | boolean {
  const { lines, value } = renderExpr(e, (i) => `a${i}`);
  const types = new Map<number, EType>();
  for (const n of exprNodes(e)) if (n.k === 'arg') types.set(n.i, n.t);
  const loads = Array.from({ length: arity }, (_, i) => (types.get(i) === 'bool' ? `const a${i} = A[${i}] !== 0;` : `const a${i} = A[${i}];`));
  const body = `return function (A, idx, step) { ${loads.join(' ')} ${lines.join(' ')} return ${value}; };`;
  const f = new Function('H', body)(HELPERS) as (a: readonly number[], idx: number, step: number) => number | boolean;
  return (args, index = 0, step = 0) => f(args, index >>> 0, step >>> 0);
}
