/**
 * Counter-based random numbers: value = hash(seed, run counter, element index). No state
 * lives on the device, every element is independent, and the float64 reference computes
 * bit-identical integers, so random ops are testable like any other op.
 */
import { E, type Expr } from './expr';

/** PCG-RXS-M-XS 32-bit hash (a bijection on u32). */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> (((state >>> 28) + 4) >>> 0)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

const TWO_PI = 6.283185307179586;
const INV_2_24 = 1 / 16777216;
const STREAM2 = 0x68bc21eb;

/** The two u32 hashes behind element `index` of a random op, host side. */
export function randomBits(seed: number, step: number, index: number): [number, number] {
  const key = pcgHash((seed ^ pcgHash(step >>> 0)) >>> 0);
  const h1 = pcgHash((index ^ key) >>> 0);
  return [h1, pcgHash((h1 ^ STREAM2) >>> 0)];
}

export function randomValue(dist: 'uniform' | 'normal', a: number, b: number, seed: number, step: number, index: number): number {
  const [h1, h2] = randomBits(seed, step, index);
  if (dist === 'uniform') return a + (b - a) * ((h1 >>> 8) * INV_2_24);
  const u1 = ((h1 >>> 8) + 1) * INV_2_24;
  const u2 = (h2 >>> 8) * INV_2_24;
  return a + b * Math.sqrt(-2 * Math.log(u1)) * Math.cos(TWO_PI * u2);
}

/** The same computation as a scalar expression, for the backends. */
export function randomExpr(dist: 'uniform' | 'normal', a: number, b: number, seed: number): Expr {
  const u = (x: number) => E.lit(x >>> 0, 'u32');
  const pcg = (x: Expr) => E.call('pcg', x);
  const key = pcg(E.call('xor', u(seed), pcg(E.step())));
  const h1 = pcg(E.call('xor', E.index(), key));
  const unit = (h: Expr, plus: number) =>
    E.mul(E.add(E.cast(E.call('shr', h, u(8)), 'f32'), E.lit(plus)), E.lit(INV_2_24));
  if (dist === 'uniform') return E.add(E.lit(a), E.mul(E.lit(b - a), unit(h1, 0)));
  const h2 = pcg(E.call('xor', h1, u(STREAM2)));
  const r = E.sqrt(E.mul(E.lit(-2), E.log(unit(h1, 1))));
  return E.add(E.lit(a), E.mul(E.lit(b), E.mul(r, E.call('cos', E.mul(E.lit(TWO_PI), unit(h2, 0))))));
}
