/**
 * The WGSL renderer of core's scalar expression IR: one `let` per distinct DAG node, in
 * topological order, so shared subexpressions are computed once. The semantics are core's
 * (the float64 references and expr-eval.ts), not WGSL's where the two differ:
 *
 *   - Inf/NaN arithmetic: WGSL lets the compiler assume finite math, and Dawn's Vulkan backend
 *     does (Mesa folds x - x to 0, x * 0 to 0, (x + y) - y to x). Float math goes through
 *     shaders/ieee.wgsl, which decides special cases on the bits; so does f32 add/sub/mul/div
 *     wherever such a fold could apply (plainArithmetic says where it cannot).
 *   - NaN/Inf literals: WGSL has none and a constant expression may not produce one; they
 *     call kiln_nan()/kiln_inf() (shaders/common.wgsl), which build them at run time.
 *   - isnan is a bit test, since compilers may assume x == x.
 *   - f32 -> i32 casts truncate and wrap (kiln_f2i), where WGSL's i32(x) saturates.
 *   - i32 division by zero gives 0 (core's toDType of +-Inf/NaN); WGSL would give the dividend.
 *   - exp, log, expm1, log1p, sin, cos, erf, erfc, ndtr and pow are ieee.wgsl's (a few ulp, relative, and
 *     JavaScript's special values); the built-ins are only absolutely accurate near 1 or 0.
 *   - sqrt of a negative gives NaN explicitly (WGSL leaves it undefined).
 *   - i32/u32 add, sub, mul and neg wrap in WGSL as in core.
 *
 * Storage: f32 as f32, i32 as i32, bool as u32 0/1 (callers convert at loads and stores).
 */
import { type Expr, exprEvaluator, type EType, exprNodes, type Fn } from '@kiln/core';

export const wgslType = (t: EType): string => (t === 'bool' ? 'bool' : t);
/** The element type a tensor of this dtype has in a storage buffer. */
export const storageType = (t: EType): string => (t === 'bool' ? 'u32' : t);

/** A WGSL literal of the given expression type (NaN/Inf through run-time helpers). */
export function literal(v: number, t: EType): string {
  switch (t) {
    case 'bool': return v ? 'true' : 'false';
    case 'u32': return `${v >>> 0}u`;
    case 'i32': {
      const i = v | 0;
      return i === -2147483648 ? 'i32(-2147483648)' : i < 0 ? `(${i}i)` : `${i}i`;
    }
    default: {
      if (Number.isNaN(v)) return 'kiln_nan()';
      const f = Math.fround(v);
      if (f === Infinity) return 'kiln_inf()';
      if (f === -Infinity) return '(-kiln_inf())';
      if (Object.is(f, -0)) return '(-0.0f)';
      let s = String(f);
      if (!/[.e]/.test(s)) s += '.0';
      return f < 0 ? `(${s}f)` : `${s}f`;
    }
  }
}

function renderCall(f: Fn, t: EType, a: readonly string[], plain = false): string {
  const [x, y] = a as [string, string];
  switch (f) {
    case 'add': return t === 'f32' && !plain ? `kiln_add(${x}, ${y})` : `(${x} + ${y})`;
    case 'sub': return t === 'f32' && !plain ? `kiln_sub(${x}, ${y})` : `(${x} - ${y})`;
    case 'mul': return t === 'f32' && !plain ? `kiln_mul(${x}, ${y})` : `(${x} * ${y})`;
    // The divisor is made non-zero first: `x / 0i` with a literal 0 is a compile error.
    case 'div': return t === 'i32' ? `select(${x} / select(${y}, 1i, ${y} == 0i), 0i, ${y} == 0i)` : t === 'f32' && !plain ? `kiln_div(${x}, ${y})` : `(${x} / ${y})`;
    case 'neg': return `(-${x})`;
    case 'abs': return `abs(${x})`;
    case 'max': return `max(${x}, ${y})`;
    case 'min': return `min(${x}, ${y})`;
    case 'lt': return `(${x} < ${y})`;
    case 'le': return `(${x} <= ${y})`;
    case 'gt': return `(${x} > ${y})`;
    case 'ge': return `(${x} >= ${y})`;
    case 'eq': return `(${x} == ${y})`;
    // NOTE: not `!=`: some compilers emit an ordered compare, false on NaN.
    case 'ne': return t === 'f32' ? `(!(${x} == ${y}))` : `(${x} != ${y})`;
    case 'and': return `(${x} && ${y})`;
    case 'or': return `(${x} || ${y})`;
    case 'not': return `(!${x})`;
    case 'exp': return `kiln_exp(${x})`;
    case 'expm1': return `kiln_expm1(${x})`;
    case 'log': return `kiln_log(${x})`;
    case 'log1p': return `kiln_log1p(${x})`;
    case 'sqrt': return `select(sqrt(${x}), kiln_nan(), ${x} < 0.0f)`;
    case 'sin': return `kiln_sincos(${x}, false)`;
    case 'cos': return `kiln_sincos(${x}, true)`;
    case 'erf': return `kiln_erf(${x})`;
    case 'erfc': return `kiln_erfc(${x})`;
    case 'ndtr': return `kiln_ndtr(${x})`;
    case 'floor': return `floor(${x})`;
    case 'pow': return `kiln_pow(${x}, ${y})`;
    case 'isnan': return `kiln_isnan(${x})`;
    case 'xor': return `(${x} ^ ${y})`;
    case 'shr': return `(${x} >> (${y} & 31u))`;
    case 'shl': return `(${x} << (${y} & 31u))`;
    case 'pcg': return `kiln_pcg(${x})`;
  }
}

function renderCast(x: string, from: EType, to: EType): string {
  if (from === to) return x;
  if (from === 'bool') return `select(${literal(0, to)}, ${literal(1, to)}, ${x})`;
  if (to === 'bool') return from === 'f32' ? `(!(${x} == 0.0f))` : `(${x} != ${literal(0, from)})`; // NaN is true
  if (from === 'f32') return to === 'i32' ? `kiln_f2i(${x})` : `bitcast<u32>(kiln_f2i(${x}))`;
  if (to === 'f32') return `f32(${x})`;
  return `bitcast<${to}>(${x})`; // i32 <-> u32
}

export interface Rendered {
  /** `let` statements computing every interior node. */
  readonly lines: string[];
  /** The WGSL expression holding the root's value. */
  readonly value: string;
}

/**
 * Which f32 add/sub/mul/div may be plain WGSL rather than ieee.wgsl's bit-tested forms. A
 * driver that assumes finite math only changes Inf/NaN results by algebra on a literal (x * 0,
 * x / 0), on an operand shared by both sides (x - x, (x + y) - y, a b + a c) or through a
 * select or bool cast (x * f32(c) -> select(c, x, 0)). So an op is plain when one operand is a
 * finite literal (non-zero for mul/div: x * 1 -> x keeps Inf and NaN), or when its operands
 * share no node and carry no 0/Inf/NaN literal, select or bool cast.
 * NOTE: literal scalings may still be refolded ((x * 2) * 0.5 -> x), so an intermediate that
 * would overflow to Inf can come out finite; Inf and NaN operands always propagate.
 */
function plainArithmetic(constant: ReadonlyMap<Expr, number>): (e: Expr) => boolean {
  // Leaves by identity of what they read: two E.arg(0) nodes are the same value.
  const key = (e: Expr): unknown => (e.k === 'arg' ? `arg${e.i}` : e.k === 'index' || e.k === 'step' ? e.k : e);
  const reach = new Map<Expr, Set<unknown>>();
  const risky = new Map<Expr, boolean>();
  const visit = (root: Expr) => {
    for (const e of exprNodes(root)) {
      if (reach.has(e)) continue;
      const c = constant.get(e);
      const kids = c !== undefined ? [] : e.k === 'call' ? e.a : e.k === 'select' ? [e.c, e.a, e.b] : e.k === 'cast' ? [e.a] : [];
      const set = new Set<unknown>([key(e)]);
      for (const kid of kids) for (const r of reach.get(kid)!) set.add(r);
      reach.set(e, set);
      const special = c !== undefined && (c === 0 || !Number.isFinite(Math.fround(c)));
      risky.set(e, special || e.k === 'select' || (e.k === 'cast' && e.a.t === 'bool') || kids.some((kid) => risky.get(kid)));
    }
  };
  const finite = (v: number | undefined) => v !== undefined && Number.isFinite(Math.fround(v));
  const nonZero = (v: number | undefined) => finite(v) && Math.fround(v!) !== 0;
  return (e) => {
    if (e.k !== 'call' || e.t !== 'f32' || !['add', 'sub', 'mul', 'div'].includes(e.f)) return false;
    const [x, y] = e.a as [Expr, Expr];
    const cx = constant.get(x), cy = constant.get(y);
    if (e.f === 'add' || e.f === 'sub' ? finite(cx) || finite(cy) : nonZero(cx) || nonZero(cy)) return true;
    if (cx !== undefined || cy !== undefined) return false;
    visit(x);
    visit(y);
    if (risky.get(x) || risky.get(y)) return false;
    const ry = reach.get(y)!;
    for (const r of reach.get(x)!) if (ry.has(r)) return false;
    return true;
  };
}

/**
 * Render an expression. `arg(i)` is the WGSL value of argument i (already of the argument's
 * expression type); `index` and `step` name the u32 output index and run counter.
 */
export function renderExpr(root: Expr, arg: (i: number) => string, names: { index?: string; step?: string; prefix?: string } = {}): Rendered {
  const local = new Map<Expr, string>();
  const lines: string[] = [];
  const ref = (e: Expr): string => {
    const n = local.get(e);
    if (n !== undefined) return n;
    switch (e.k) {
      case 'arg': return arg(e.i);
      case 'lit': return literal(e.v, e.t);
      case 'index': return names.index ?? 'idx';
      case 'step': return names.step ?? 'kiln_step';
      default: throw new Error('webgpu renderer: node used before it was rendered');
    }
  };
  const prefix = names.prefix ?? 'v';
  let k = 0;
  // Subtrees of literals are folded here: WGSL evaluates constant expressions at compile time
  // and rejects overflow, NaN or a division by zero there.
  const constant = new Map<Expr, number>();
  for (const e of exprNodes(root)) {
    const args = e.k === 'call' ? e.a : e.k === 'select' ? [e.c, e.a, e.b] : e.k === 'cast' ? [e.a] : [];
    if (e.k !== 'lit' && !(args.length > 0 && args.every((a) => constant.has(a)))) continue;
    const zeroDiv = e.k === 'call' && e.f === 'div' && e.t === 'i32' && exprEvaluator(e.a[1]!)([], 0, 0) === 0;
    const v = e.k === 'lit' ? e.v : zeroDiv ? 0 : exprEvaluator(e)([], 0, 0);
    constant.set(e, v);
    if (e.k !== 'lit') local.set(e, literal(v, e.t));
  }
  const plain = plainArithmetic(constant);
  for (const e of exprNodes(root)) {
    if (constant.has(e)) continue;
    let code: string;
    switch (e.k) {
      case 'call': code = renderCall(e.f, e.a[0]?.t ?? e.t, e.a.map(ref), plain(e)); break;
      case 'select': code = `select(${ref(e.b)}, ${ref(e.a)}, ${ref(e.c)})`; break;
      case 'cast': code = renderCast(ref(e.a), e.a.t, e.t); break;
      default: continue; // leaves are inlined
    }
    const name = `${prefix}${k++}`;
    lines.push(`let ${name} = ${code};`);
    local.set(e, name);
  }
  return { lines, value: ref(root) };
}

/**
 * A short name of an expression's exact content (FNV-1a over its nodes in topological order),
 * for variant keys: kernels whose expressions differ in a literal get different keys.
 */
export function exprKey(...roots: readonly Expr[]): string {
  const at = new Map<Expr, number>();
  let h = 0x811c9dc5;
  const mix = (text: string) => {
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  };
  for (const root of roots) {
    for (const e of exprNodes(root)) {
      at.set(e, at.size);
      const kids = e.k === 'call' ? e.a : e.k === 'select' ? [e.c, e.a, e.b] : e.k === 'cast' ? [e.a] : [];
      mix(`${e.k}:${e.t}:${e.k === 'call' ? e.f : e.k === 'arg' ? e.i : e.k === 'lit' ? Object.is(e.v, -0) ? '-0' : String(e.v) : ''}(${kids.map((x) => at.get(x)).join(',')});`);
    }
    mix('|');
  }
  return h.toString(16).padStart(8, '0');
}
