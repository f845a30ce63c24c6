/**
 * A direct interpreter of the expression IR, used by the reference backend to execute
 * Plans on the host (so fusion and planning are tested without a device).
 */
import type { Expr, Fn } from './expr';
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

/** Compile an expression into a JS closure over (args, index, step). */
export function exprEvaluator(root: Expr): (args: readonly number[], index: number, step: number) => number {
  const go = (e: Expr): ((args: readonly number[], i: number, s: number) => number) => {
    switch (e.k) {
      case 'arg': return (a) => a[e.i]!;
      case 'lit': return () => e.v;
      case 'index': return (_, i) => i;
      case 'step': return (_, __, s) => s >>> 0;
      case 'cast': {
        const x = go(e.a);
        const from = e.a.t;
        if (e.t === 'f32') return (a, i, s) => x(a, i, s);
        if (e.t === 'bool') return (a, i, s) => +(x(a, i, s) !== 0);
        if (e.t === 'u32') return (a, i, s) => x(a, i, s) >>> 0;
        return from === 'f32' ? (a, i, s) => { const v = x(a, i, s); return Number.isFinite(v) ? Math.trunc(v) | 0 : 0; } : (a, i, s) => x(a, i, s) | 0;
      }
      case 'select': {
        const c = go(e.c), p = go(e.a), q = go(e.b);
        return (a, i, s) => (c(a, i, s) ? p(a, i, s) : q(a, i, s));
      }
      case 'call': {
        const fs = e.a.map(go), f = F[e.f], t = e.t === 'bool' ? e.a[0]!.t : e.t;
        return (a, i, s) => f(fs.map((g) => g(a, i, s)), t);
      }
    }
  };
  return go(root);
}
