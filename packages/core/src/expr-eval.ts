/**
 * A direct interpreter of the expression IR, used by the reference backend to execute
 * Plans on the host (so fusion and planning are tested without a device).
 */
import { type Expr, exprNodes, type Fn } from './expr';
import { pcgHash } from './rng';
import { erf, erfc, ndtr } from './special';

const u32 = (v: number) => v >>> 0;
const F: Record<Fn, (a: number[], t: string) => number> = {
  add: ([a, b], t) => (t === 'i32' ? (a! + b!) | 0 : t === 'u32' ? u32(a! + b!) : a! + b!),
  sub: ([a, b], t) => (t === 'i32' ? (a! - b!) | 0 : t === 'u32' ? u32(a! - b!) : a! - b!),
  mul: ([a, b], t) => (t === 'i32' ? Math.imul(a!, b!) : t === 'u32' ? u32(Math.imul(a!, b!)) : a! * b!),
  div: ([a, b], t) => (t === 'f32' ? a! / b! : b === 0 ? 0 : Math.trunc(a! / b!) | 0), // integer x / 0 is 0, as the reference and both backends
  neg: ([a], t) => (t === 'i32' ? -a! | 0 : -a!),
  abs: ([a]) => Math.abs(a!),
  max: ([a, b]) => Math.max(a!, b!),
  min: ([a, b]) => Math.min(a!, b!),
  lt: ([a, b]) => +(a! < b!), le: ([a, b]) => +(a! <= b!), gt: ([a, b]) => +(a! > b!),
  ge: ([a, b]) => +(a! >= b!), eq: ([a, b]) => +(a === b), ne: ([a, b]) => +(a !== b),
  and: ([a, b]) => +(!!a && !!b), or: ([a, b]) => +(!!a || !!b), not: ([a]) => +!a,
  exp: ([a]) => Math.exp(a!), expm1: ([a]) => Math.expm1(a!), log: ([a]) => Math.log(a!), log1p: ([a]) => Math.log1p(a!),
  sqrt: ([a]) => Math.sqrt(a!), sin: ([a]) => Math.sin(a!), cos: ([a]) => Math.cos(a!), erf: ([a]) => erf(a!), erfc: ([a]) => erfc(a!), ndtr: ([a]) => ndtr(a!),
  floor: ([a]) => Math.floor(a!), pow: ([a, b]) => Math.pow(a!, b!), isnan: ([a]) => +Number.isNaN(a!),
  xor: ([a, b]) => u32(a! ^ b!), shr: ([a, b]) => a! >>> b!, shl: ([a, b]) => u32(a! << b!), pcg: ([a]) => pcgHash(a!),
};

/**
 * Compile an expression into a JS closure over (args, index, step).
 *
 * NOTE: an expression is a DAG (tanh, gelu and fused chains reuse subexpressions), so it is
 * evaluated node by node in topological order into a value array: walking it as a tree would
 * evaluate a node once per path to it, exponential in the depth of a fused chain.
 */
export function exprEvaluator(root: Expr): (args: readonly number[], index: number, step: number) => number {
  const nodes = exprNodes(root);
  const slot = new Map<Expr, number>(nodes.map((e, k) => [e, k]));
  const at = (e: Expr) => slot.get(e)!;
  type Step = (v: Float64Array, a: readonly number[], i: number, s: number) => number;
  const steps: Step[] = nodes.map((e): Step => {
    switch (e.k) {
      case 'arg': { const k = e.i; return (_, a) => a[k]!; }
      case 'lit': { const c = e.v; return () => c; }
      case 'index': return (_, __, i) => i;
      case 'step': return (_, __, ___, s) => s >>> 0;
      case 'cast': {
        const x = at(e.a);
        if (e.t === 'f32') return (v) => v[x]!;
        if (e.t === 'bool') return (v) => +(v[x] !== 0);
        if (e.t === 'u32') return (v) => v[x]! >>> 0;
        return e.a.t === 'f32' ? (v) => { const y = v[x]!; return Number.isFinite(y) ? Math.trunc(y) | 0 : 0; } : (v) => v[x]! | 0;
      }
      case 'select': {
        const c = at(e.c), p = at(e.a), q = at(e.b);
        return (v) => (v[c] ? v[p]! : v[q]!);
      }
      case 'call': {
        const ins = e.a.map(at), f = F[e.f], t = e.t === 'bool' ? e.a[0]!.t : e.t;
        const xs = new Array<number>(ins.length);
        return (v) => {
          for (let k = 0; k < ins.length; k++) xs[k] = v[ins[k]!]!;
          return f(xs, t);
        };
      }
    }
  });
  const values = new Float64Array(nodes.length);
  return (args, index, step) => {
    for (let k = 0; k < steps.length; k++) values[k] = steps[k]!(values, args, index, step);
    return values[steps.length - 1]!;
  };
}
