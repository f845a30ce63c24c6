/**
 * The optimizers, each an update rule in graph ops. Conventions (PyTorch's update rules,
 * Keras/TF.js defaults):
 *   - `weightDecay` is L2: `wd * param` is added to the (clipped) gradient, except in adamw,
 *     where it is decoupled: `param -= lr * wd * param` beside the Adam step.
 *   - epsilon is added to the square root of the second moment (`sqrt(v) + eps`) and defaults
 *     to 1e-7 in adam, adamw, rmsprop and adagrad (Keras and TF.js; PyTorch uses 1e-8 for Adam).
 *   - momentum keeps `v = mu * v + g` and steps `lr * v` (Nesterov: `lr * (g + mu * v)`), so a
 *     learning-rate change applies to the whole step at once.
 */
import { OptionsError, parseOptions, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { commonSchema, type CommonOptions, defineOptimizer, type KilnOptimizer } from './optimizer';

const decay = z.number().min(0).lt(1);
const epsilon = z.number().nonnegative().default(1e-7);
const weightDecay = z.number().nonnegative().default(0);

type Filled<O, K extends keyof O> = O & Required<Pick<O, K>>;

export interface SgdOptions extends CommonOptions { weightDecay?: number }

/**
 * Plain gradient descent: `param -= lr * grad`.
 *
 * @throws OptionsError for a missing or negative lr, unknown options or bad clipping values.
 * @example g.minimize(loss, sgd({ lr: 0.1 }));
 */
export function sgd(options: SgdOptions): KilnOptimizer<Filled<SgdOptions, 'weightDecay'>> {
  const o = parseOptions(z.object({ ...commonSchema, weightDecay }).strict(), options, 'sgd');
  return defineOptimizer('sgd', o, {
    slots: [], l2: o.weightDecay,
    update: ({ param, grad, lr }) => ({ param: param.sub(lr.mul(grad)) }),
  });
}

export interface MomentumOptions extends CommonOptions { momentum?: number; nesterov?: boolean; weightDecay?: number }

/**
 * SGD with momentum (default 0.9), optionally Nesterov's:
 * `v = momentum * v + grad; param -= lr * (nesterov ? grad + momentum * v : v)`.
 *
 * @throws OptionsError for bad options, or nesterov with momentum 0.
 * @example g.minimize(loss, momentum({ lr: 0.01, momentum: 0.9, nesterov: true }));
 */
export function momentum(options: MomentumOptions): KilnOptimizer<Filled<MomentumOptions, 'momentum' | 'nesterov' | 'weightDecay'>> {
  const o = parseOptions(z.object({ ...commonSchema, momentum: z.number().nonnegative().default(0.9), nesterov: z.boolean().default(false), weightDecay }).strict(), options, 'momentum');
  if (o.nesterov && o.momentum === 0) throw new OptionsError('momentum: nesterov needs momentum > 0');
  return defineOptimizer('momentum', o, {
    slots: [{ name: 'velocity', init: 0 }], l2: o.weightDecay,
    update: ({ param, grad, lr, slots }) => {
      const v = slots.velocity!.mul(o.momentum).add(grad);
      const stepDir = o.nesterov ? grad.add(v.mul(o.momentum)) : v;
      return { param: param.sub(lr.mul(stepDir)), slots: { velocity: v } };
    },
  });
}

export interface AdamOptions extends CommonOptions { beta1?: number; beta2?: number; epsilon?: number; weightDecay?: number }

/**
 * Adam's bias correction `1 - beta^t` on the device, as `-expm1(t ln beta)`; undefined when
 * beta is 0 (no correction). NOTE: `1 - pow(beta, t)` in f32 cancels: for beta2 = 0.999 it is
 * off by ~1e-5 relative in the first steps. Near zero a Taylor series keeps full precision.
 */
function correction(beta: number, t: Tensor): Tensor | undefined {
  if (beta === 0) return undefined;
  const x = t.mul(Math.log(beta)); // <= 0
  // -expm1(x) = -x (1 + x/2 (1 + x/3 (1 + x/4 (1 + x/5)))) + O(x^6): below 1e-8 relative for |x| < 0.1
  const series = x.mul(0.2).add(1).mul(x).mul(0.25).add(1).mul(x).div(3).add(1).mul(x).mul(0.5).add(1).mul(x).neg();
  return x.greater(-0.1).where(series, x.exp().neg().add(1));
}

/** The bias-corrected Adam direction `mhat / (sqrt(vhat) + eps)`, with the new moments. */
function adamStep(o: { beta1: number; beta2: number; epsilon: number }, grad: Tensor, t: Tensor, slots: Readonly<Record<string, Tensor>>) {
  const m = slots.m!.mul(o.beta1).add(grad.mul(1 - o.beta1));
  const v = slots.v!.mul(o.beta2).add(grad.square().mul(1 - o.beta2));
  const c1 = correction(o.beta1, t), c2 = correction(o.beta2, t);
  const mhat = c1 ? m.div(c1) : m, vhat = c2 ? v.div(c2) : v;
  return { dir: mhat.div(vhat.sqrt().add(o.epsilon)), slots: { m, v } };
}

const adamSchema = { ...commonSchema, beta1: decay.default(0.9), beta2: decay.default(0.999), epsilon };

/**
 * Adam (Kingma & Ba), bias-corrected on the device from the step counter:
 * `m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; param -= lr * mhat / (sqrt(vhat) + eps)`,
 * with `mhat = m / (1 - b1^t)`, `vhat = v / (1 - b2^t)`. `weightDecay` is L2 (added to g).
 *
 * @throws OptionsError for bad options (betas outside [0, 1), a negative lr or epsilon).
 * @example g.minimize(loss, adam({ lr: 1e-3 }));
 */
export function adam(options: AdamOptions): KilnOptimizer<Filled<AdamOptions, 'beta1' | 'beta2' | 'epsilon' | 'weightDecay'>> {
  const o = parseOptions(z.object({ ...adamSchema, weightDecay }).strict(), options, 'adam');
  return defineOptimizer('adam', o, {
    slots: [{ name: 'm', init: 0 }, { name: 'v', init: 0 }], l2: o.weightDecay,
    update: ({ param, grad, lr, t, slots }) => {
      const s = adamStep(o, grad, t, slots);
      return { param: param.sub(lr.mul(s.dir)), slots: s.slots };
    },
  });
}

/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay (default 0.01):
 * `param -= lr * (mhat / (sqrt(vhat) + eps) + weightDecay * param)`.
 *
 * @throws OptionsError for bad options (betas outside [0, 1), a negative lr or weight decay).
 * @example g.minimize(loss, adamw({ lr: 1e-3, weightDecay: 0.05 }));
 */
export function adamw(options: AdamOptions): KilnOptimizer<Filled<AdamOptions, 'beta1' | 'beta2' | 'epsilon' | 'weightDecay'>> {
  const o = parseOptions(z.object({ ...adamSchema, weightDecay: z.number().nonnegative().default(0.01) }).strict(), options, 'adamw');
  return defineOptimizer('adamw', o, {
    slots: [{ name: 'm', init: 0 }, { name: 'v', init: 0 }], l2: 0,
    update: ({ param, grad, lr, t, slots }) => {
      const s = adamStep(o, grad, t, slots);
      const dir = o.weightDecay > 0 ? s.dir.add(param.mul(o.weightDecay)) : s.dir;
      return { param: param.sub(lr.mul(dir)), slots: s.slots };
    },
  });
}

export interface RmspropOptions extends CommonOptions { rho?: number; momentum?: number; epsilon?: number; centered?: boolean; weightDecay?: number }

/**
 * RMSprop: `ms = rho ms + (1 - rho) g^2`; centered also keeps `mg = rho mg + (1 - rho) g` and
 * uses `ms - mg^2`; `d = g / (sqrt(.) + eps)`; with momentum `buf = momentum buf + d` and
 * `param -= lr * buf`, else `param -= lr * d`. Defaults: rho 0.9, momentum 0.
 *
 * @throws OptionsError for bad options.
 * @example g.minimize(loss, rmsprop({ lr: 1e-3, centered: true }));
 */
export function rmsprop(options: RmspropOptions): KilnOptimizer<Filled<RmspropOptions, 'rho' | 'momentum' | 'epsilon' | 'centered' | 'weightDecay'>> {
  const o = parseOptions(z.object({ ...commonSchema, rho: decay.default(0.9), momentum: z.number().nonnegative().default(0), epsilon, centered: z.boolean().default(false), weightDecay }).strict(), options, 'rmsprop');
  const slots = [{ name: 'ms', init: 0 }];
  if (o.centered) slots.push({ name: 'mg', init: 0 });
  if (o.momentum > 0) slots.push({ name: 'buffer', init: 0 });
  return defineOptimizer('rmsprop', o, {
    slots, l2: o.weightDecay,
    update: ({ param, grad, lr, slots: s }) => {
      const ms = s.ms!.mul(o.rho).add(grad.square().mul(1 - o.rho));
      const out: Record<string, Tensor> = { ms };
      let avg = ms;
      if (o.centered) {
        out.mg = s.mg!.mul(o.rho).add(grad.mul(1 - o.rho));
        // ms - mg^2 is a variance, >= 0 but for rounding: never take the sqrt of a negative.
        avg = ms.sub(out.mg.square()).maximum(0);
      }
      let d = grad.div(avg.sqrt().add(o.epsilon));
      if (o.momentum > 0) d = out.buffer = s.buffer!.mul(o.momentum).add(d);
      return { param: param.sub(lr.mul(d)), slots: out };
    },
  });
}

export interface AdagradOptions extends CommonOptions { initialAccumulator?: number; epsilon?: number; weightDecay?: number }

/**
 * Adagrad: `acc += g^2; param -= lr * g / (sqrt(acc) + eps)`, the accumulator starting at
 * `initialAccumulator` (default 0.1, as Keras and TF.js).
 *
 * @throws OptionsError for bad options.
 * @example g.minimize(loss, adagrad({ lr: 0.01 }));
 */
export function adagrad(options: AdagradOptions): KilnOptimizer<Filled<AdagradOptions, 'initialAccumulator' | 'epsilon' | 'weightDecay'>> {
  const o = parseOptions(z.object({ ...commonSchema, initialAccumulator: z.number().nonnegative().default(0.1), epsilon, weightDecay }).strict(), options, 'adagrad');
  return defineOptimizer('adagrad', o, {
    slots: [{ name: 'accumulator', init: o.initialAccumulator }], l2: o.weightDecay,
    update: ({ param, grad, lr, slots }) => {
      const acc = slots.accumulator!.add(grad.square());
      return { param: param.sub(lr.mul(grad.div(acc.sqrt().add(o.epsilon)))), slots: { accumulator: acc } };
    },
  });
}
