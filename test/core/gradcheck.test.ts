// Gradient check of every differentiable row: analytic (graph autodiff, float64) vs central differences.
import { evaluate, type FeedValue, mulberry32 } from '@kiln/core';
import { buildCase, caseName, differentiableCases, gradInputs } from '../support/harness';

const EPS = 1e-6;

describe.each(differentiableCases().map((c) => [caseName(c), c] as const))('gradient %s', (_, c) => {
  it('matches central differences', () => {
    const b = buildCase(c);
    const { g, out, xs, feeds } = b;
    // Project the output on a fixed random direction so every output element matters.
    const n = (out.shape as number[]).reduce((p, q) => p * q, 1);
    const rand = mulberry32(99);
    const dir = g.constant(Array.from({ length: n }, () => rand() * 2 - 1), out.shape as number[]);
    const loss = out.mul(dir).sum();
    const which = gradInputs(c, b);
    const grads = g.grad(loss, which.map((k) => xs[k]!));
    const fetch = Object.fromEntries(grads.map((t, i) => [`g${i}`, t]));
    const analytic = evaluate(g, feeds, fetch);
    // Numeric derivatives in float64: feed number[] so nothing is rounded to f32.
    const base: Record<string, FeedValue> = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, Array.from(v as ArrayLike<number>)]));
    which.forEach((k, gi) => {
      const name = `x${k}`;
      const v = base[name] as number[];
      const got = analytic[`g${gi}`]!.data;
      // Every element of small inputs; a seeded sample of 16 for large ones (keeps the suite fast).
      const pick = v.length <= 24 ? v.map((_, i) => i) : Array.from({ length: 16 }, () => Math.floor(rand() * v.length));
      for (const i of pick) {
        const at = (d: number) => {
          const w = v.slice();
          w[i]! += d;
          return evaluate(g, { ...base, [name]: w }, { loss }).loss.data[0]!;
        };
        const numeric = (at(EPS) - at(-EPS)) / (2 * EPS);
        const tol = 1e-5 + 1e-4 * Math.abs(numeric);
        if (!(Math.abs(got[i]! - numeric) <= tol)) {
          throw new Error(`${caseName(c)}: d/d${name}[${i}] analytic ${got[i]} vs numeric ${numeric}`);
        }
      }
    });
  });
});
