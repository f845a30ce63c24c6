// Float64 reference implementations of the optimizers' update rules and of the schedules'
// formulas, written out independently of the graph code (PyTorch's rules; see optimizers.ts).

export type Vec = Float64Array;

export interface RefOptions {
  kind: 'sgd' | 'momentum' | 'adam' | 'adamw' | 'rmsprop' | 'adagrad';
  weightDecay?: number;
  clipValue?: number;
  clipNorm?: number;
  momentum?: number;
  nesterov?: boolean;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  rho?: number;
  centered?: boolean;
  initialAccumulator?: number;
}

/** A stateful reference optimizer: `step(params, grads, lr, t)` updates params in place (t: 0-based). */
export interface RefOptimizer {
  step(params: Vec[], grads: Vec[], lr: number, t: number): void;
  /** Slot values by param index and slot name (named as the graph's slots). */
  readonly slots: Record<string, Vec>[];
}

export function refOptimizer(o: RefOptions, sizes: number[]): RefOptimizer {
  const eps = o.epsilon ?? 1e-7;
  const slots: Record<string, Vec>[] = sizes.map(() => ({}));
  const slot = (name: string, init = 0) => sizes.forEach((n, i) => { slots[i]![name] = new Float64Array(n).fill(init); });
  if (o.kind === 'momentum') slot('velocity');
  if (o.kind === 'adam' || o.kind === 'adamw') { slot('m'); slot('v'); }
  if (o.kind === 'rmsprop') { slot('ms'); if (o.centered) slot('mg'); if ((o.momentum ?? 0) > 0) slot('buffer'); }
  if (o.kind === 'adagrad') slot('accumulator', o.initialAccumulator ?? 0.1);

  return {
    slots,
    step(params, rawGrads, lr, t) {
      // clip by value, then by global norm, then L2 decay (not for adamw)
      let grads = rawGrads.map((g) => Float64Array.from(g));
      if (o.clipValue !== undefined) grads = grads.map((g) => g.map((x) => Math.min(Math.max(x, -o.clipValue!), o.clipValue!)));
      if (o.clipNorm !== undefined) {
        const norm = Math.sqrt(grads.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
        const scale = o.clipNorm / Math.max(norm, o.clipNorm);
        grads = grads.map((g) => g.map((x) => x * scale));
      }
      const wd = o.weightDecay ?? (o.kind === 'adamw' ? 0.01 : 0);
      params.forEach((p, k) => {
        const g = grads[k]!;
        const s = slots[k]!;
        for (let i = 0; i < p.length; i++) {
          let gi = g[i]!;
          if (o.kind !== 'adamw') gi += wd * p[i]!;
          switch (o.kind) {
            case 'sgd':
              p[i] = p[i]! - lr * gi;
              break;
            case 'momentum': {
              const mu = o.momentum ?? 0.9;
              const v = (s.velocity![i] = mu * s.velocity![i]! + gi);
              p[i] = p[i]! - lr * (o.nesterov ? gi + mu * v : v);
              break;
            }
            case 'adam':
            case 'adamw': {
              const b1 = o.beta1 ?? 0.9, b2 = o.beta2 ?? 0.999;
              const m = (s.m![i] = b1 * s.m![i]! + (1 - b1) * gi);
              const v = (s.v![i] = b2 * s.v![i]! + (1 - b2) * gi * gi);
              const mhat = m / (1 - b1 ** (t + 1)), vhat = v / (1 - b2 ** (t + 1));
              let d = mhat / (Math.sqrt(vhat) + eps);
              if (o.kind === 'adamw') d += wd * p[i]!;
              p[i] = p[i]! - lr * d;
              break;
            }
            case 'rmsprop': {
              const rho = o.rho ?? 0.9;
              const ms = (s.ms![i] = rho * s.ms![i]! + (1 - rho) * gi * gi);
              let avg = ms;
              if (o.centered) {
                const mg = (s.mg![i] = rho * s.mg![i]! + (1 - rho) * gi);
                avg = ms - mg * mg;
              }
              let d = gi / (Math.sqrt(avg) + eps);
              if ((o.momentum ?? 0) > 0) d = s.buffer![i] = o.momentum! * s.buffer![i]! + d;
              p[i] = p[i]! - lr * d;
              break;
            }
            case 'adagrad': {
              const acc = (s.accumulator![i] = s.accumulator![i]! + gi * gi);
              p[i] = p[i]! - (lr * gi) / (Math.sqrt(acc) + eps);
              break;
            }
          }
        }
      });
    },
  };
}

/** The schedules' formulas, written out (t: 0-based step). */
export const FORMULAS = {
  constant: (lr: number) => () => lr,
  stepDecay: (lr: number, stepSize: number, gamma: number) => (t: number) => lr * gamma ** Math.floor(t / stepSize),
  exponentialDecay: (lr: number, decaySteps: number, rate: number, staircase: boolean) => (t: number) =>
    lr * rate ** (staircase ? Math.floor(t / decaySteps) : t / decaySteps),
  cosine: (lr: number, steps: number, warmup: number, minLr: number) => (t: number) => {
    if (t < warmup) return (lr * (t + 1)) / warmup;
    const p = Math.min(t - warmup, steps - warmup) / (steps - warmup);
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * p));
  },
  linearWarmup: (lr: number, steps: number) => (t: number) => lr * Math.min(1, (t + 1) / steps),
};

/** Largest violation of |a - b| <= atol + rtol |b|, or '' when all are close. */
export function closeMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number): string {
  if (actual.length !== expected.length) return `length ${actual.length} vs ${expected.length}`;
  let worst = '';
  let excess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, b = expected[i]!;
    const d = Math.abs(a - b) - (atol + rtol * Math.abs(b));
    if (!(d <= 0) && (Number.isNaN(d) || d > excess)) {
      excess = Number.isNaN(d) ? Infinity : d;
      worst = `[${i}] got ${a}, want ${b}`;
    }
  }
  return worst;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  const m = closeMismatch(actual, expected, atol, rtol);
  if (m) throw new Error(`${what}: ${m}`);
}
