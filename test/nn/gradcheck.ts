// Gradient checks for layers: the graph's gradients (evaluated in float64) against central
// differences of the float64 reference, with respect to chosen inputs and params.
import { type FeedValue, type Graph, mulberry32, ReferenceSession, type Tensor } from '@kiln/core';

export interface GradCheckOptions {
  /** Coordinates checked per tensor (default 8, chosen by a seeded draw; all when fewer). */
  samples?: number;
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

/**
 * Checks d(sum(out * w))/d(t) for a fixed random `w`, for every f32 input named in `inputs`
 * (fed as number[] so the reference reads them exactly) and every param named in `params`.
 * Returns the number of coordinates compared.
 */
export function gradCheck(g: Graph, out: Tensor, feeds: Record<string, FeedValue>, wrt: { inputs?: string[]; params?: string[] }, options: GradCheckOptions = {}): number {
  const { samples = 8, eps = 1e-5, atol = 1e-7, rtol = 1e-5, seed = 7 } = options;
  const rand = mulberry32(seed);
  const shape = out.shape as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  const loss = out.mul(g.constant(Array.from({ length: n }, () => rand() * 2 - 1), shape)).sum();
  const inputs = wrt.inputs ?? [], params = wrt.params ?? [];
  const targets = [...inputs.map((k) => g.tensor(g.inputs.get(k)!)), ...params.map((k) => g.tensor(g.params.get(k)!.id))];
  const grads = g.grad(loss, targets);
  const session = new ReferenceSession(g);
  const f = { ...feeds };
  const analytic = session.run(f, Object.fromEntries(grads.map((t, i) => [`g${i}`, t])));
  const lossAt = () => session.run(f, { loss }).loss.data[0]!;
  let compared = 0;
  const check = (what: string, k: number, size: number, perturb: (i: number, d: number) => void) => {
    const picks = size <= samples ? Array.from({ length: size }, (_, i) => i) : Array.from({ length: samples }, () => Math.floor(rand() * size));
    for (const i of picks) {
      perturb(i, eps);
      const up = lossAt();
      perturb(i, -2 * eps);
      const down = lossAt();
      perturb(i, eps);
      const numeric = (up - down) / (2 * eps);
      const got = analytic[`g${k}`]!.data[i]!;
      if (!(Math.abs(got - numeric) <= atol + rtol * Math.abs(numeric))) {
        throw new Error(`gradient of ${what} at ${i}: graph ${got}, central difference ${numeric}`);
      }
      compared++;
    }
  };
  inputs.forEach((name, k) => {
    const v = Array.from(f[name] as ArrayLike<number>);
    f[name] = v;
    check(`input '${name}'`, k, v.length, (i, d) => { v[i] = v[i]! + d; });
  });
  params.forEach((name, j) => {
    const v = session.params.get(name)!;
    check(`param '${name}'`, inputs.length + j, v.length, (i, d) => { v[i] = v[i]! + d; });
  });
  return compared;
}

/** Seeded normal-ish values in [-1, 1) as number[] (exact feeds for the reference). */
export function values(n: number, seed: number, scale = 1): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
}
