/**
 * Learning-rate schedules: the learning rate as a function of the optimizer's step `t`, the
 * number of updates applied before this one (0 for the first update).
 *
 * Every schedule but `custom` is built from graph ops on the optimizer's on-device step
 * counter, so a training step never leaves the device for its learning rate. Each has a
 * base learning rate `lr`, held on the device in `<scope>/lr`: `setLearningRate(exe, v)`
 * rewrites it and the schedule keeps its shape around the new peak (`minLr` stays put).
 * `custom(fn)` runs `fn` on the host before each training step (a Graph train hook) and
 * writes its value into `<scope>/lr`.
 *
 *   adam({ lr: schedules.cosine({ lr: 1e-3, steps: 5000, warmup: 100, minLr: 1e-5 }) })
 */
import { OptionsError, parseOptions, type Tensor } from '@kiln/core';
import { z } from 'zod';

/** Device formula: the learning rate from the step counter (i32 scalar) and the base lr (f32 scalar). */
export type DeviceSchedule = (step: Tensor, lr: Tensor) => Tensor;

/** A learning-rate schedule; pass it as an optimizer's `lr`. Build one with `schedules.*`. */
export class Schedule {
  /** @internal use the `schedules.*` factories. */
  constructor(
    /** 'constant', 'stepDecay', 'exponentialDecay', 'cosine', 'linearWarmup' or 'custom'. */
    readonly kind: string,
    /** Base (peak) learning rate: the initial value of `<scope>/lr`. */
    readonly lr: number,
    private readonly formula: (step: number, lr: number) => number,
    /** How the device computes it; undefined for a host (`custom`) schedule. */
    readonly device: DeviceSchedule | undefined,
  ) {}

  /** The learning rate at step `t` (float64, on the host), for base lr `lr` (default: the schedule's own). */
  at(step: number, lr: number = this.lr): number {
    return this.formula(step, lr);
  }

  /** Whether the device computes it from its step counter (all but `custom`). */
  get onDevice(): boolean {
    return this.device !== undefined;
  }
}

const lrValue = z.number().nonnegative();
const positiveInt = z.number().int().positive();

/** f32 value of the step counter. */
const stepF = (step: Tensor) => step.cast('f32');

/**
 * The same learning rate at every step (what a plain number `lr` means).
 *
 * @throws OptionsError for a negative or non-finite lr.
 * @example adam({ lr: schedules.constant({ lr: 1e-3 }) })
 */
export function constant(options: { lr: number }): Schedule {
  const o = parseOptions(z.object({ lr: lrValue }).strict(), options, 'schedules.constant');
  return new Schedule('constant', o.lr, (_, lr) => lr, (_, lr) => lr);
}

/**
 * `lr * gamma^floor(t / stepSize)` (PyTorch's StepLR): multiply by `gamma` every `stepSize` steps.
 *
 * @throws OptionsError for bad options (stepSize not a positive integer, gamma <= 0).
 * @example sgd({ lr: schedules.stepDecay({ lr: 0.1, stepSize: 1000, gamma: 0.5 }) })
 */
export function stepDecay(options: { lr: number; stepSize: number; gamma?: number }): Schedule {
  const o = parseOptions(z.object({ lr: lrValue, stepSize: positiveInt, gamma: z.number().positive().default(0.1) }).strict(), options, 'schedules.stepDecay');
  return new Schedule(
    'stepDecay', o.lr,
    (t, lr) => lr * o.gamma ** Math.floor(t / o.stepSize),
    // i32 division truncates, which is floor for a non-negative step, exactly on every backend.
    (step, lr) => lr.mul(step.graph.constant(o.gamma).pow(step.div(o.stepSize).cast('f32'))),
  );
}

/**
 * `lr * decayRate^(t / decaySteps)`, or with `staircase` `lr * decayRate^floor(t / decaySteps)`
 * (Keras' ExponentialDecay).
 *
 * @throws OptionsError for bad options (decaySteps not a positive integer, decayRate <= 0).
 * @example adam({ lr: schedules.exponentialDecay({ lr: 1e-3, decaySteps: 1000, decayRate: 0.96 }) })
 */
export function exponentialDecay(options: { lr: number; decaySteps: number; decayRate: number; staircase?: boolean }): Schedule {
  const o = parseOptions(z.object({ lr: lrValue, decaySteps: positiveInt, decayRate: z.number().positive(), staircase: z.boolean().default(false) }).strict(), options, 'schedules.exponentialDecay');
  return new Schedule(
    'exponentialDecay', o.lr,
    (t, lr) => lr * o.decayRate ** (o.staircase ? Math.floor(t / o.decaySteps) : t / o.decaySteps),
    (step, lr) => {
      const e = o.staircase ? step.div(o.decaySteps).cast('f32') : stepF(step).div(o.decaySteps);
      return lr.mul(step.graph.constant(o.decayRate).pow(e));
    },
  );
}

/**
 * Cosine decay from `lr` to `minLr` over `steps` steps (warmup included), then `minLr`.
 * With `warmup = w`, step `t < w` uses `lr * (t + 1) / w`, so the first step is not wasted at
 * zero and step `w - 1` reaches the peak; then, with `p = min(t - w, steps - w) / (steps - w)`,
 * `minLr + (lr - minLr) * (1 + cos(pi * p)) / 2`.
 *
 * @throws OptionsError for bad options, warmup >= steps, or minLr > lr.
 * @example adam({ lr: schedules.cosine({ lr: 1e-3, steps: 5000, warmup: 100 }) })
 */
export function cosine(options: { lr: number; steps: number; warmup?: number; minLr?: number }): Schedule {
  const o = parseOptions(z.object({ lr: lrValue, steps: positiveInt, warmup: z.number().int().nonnegative().default(0), minLr: lrValue.default(0) }).strict(), options, 'schedules.cosine');
  if (o.warmup >= o.steps) throw new OptionsError(`schedules.cosine: warmup (${o.warmup}) must be less than steps (${o.steps})`);
  if (o.minLr > o.lr) throw new OptionsError(`schedules.cosine: minLr (${o.minLr}) must not exceed lr (${o.lr})`);
  const decay = o.steps - o.warmup;
  return new Schedule(
    'cosine', o.lr,
    (t, lr) => {
      if (t < o.warmup) return (lr * (t + 1)) / o.warmup;
      const p = Math.min(t - o.warmup, decay) / decay;
      return o.minLr + ((lr - o.minLr) * (1 + Math.cos(Math.PI * p))) / 2;
    },
    (step, lr) => {
      const t = stepF(step);
      const c = t.sub(o.warmup).minimum(decay).mul(Math.PI / decay).cos().add(1).mul(0.5);
      const decayed = lr.sub(o.minLr).mul(c).add(o.minLr);
      return o.warmup > 0 ? t.less(o.warmup).where(lr.mul(t.add(1).div(o.warmup)), decayed) : decayed;
    },
  );
}

/**
 * `lr * min(1, (t + 1) / steps)`: ramp up linearly over `steps` steps, then hold `lr`.
 *
 * @throws OptionsError for bad options (steps not a positive integer).
 * @example sgd({ lr: schedules.linearWarmup({ lr: 0.1, steps: 500 }) })
 */
export function linearWarmup(options: { lr: number; steps: number }): Schedule {
  const o = parseOptions(z.object({ lr: lrValue, steps: positiveInt }).strict(), options, 'schedules.linearWarmup');
  return new Schedule(
    'linearWarmup', o.lr,
    (t, lr) => lr * Math.min(1, (t + 1) / o.steps),
    (step, lr) => lr.mul(stepF(step).add(1).div(o.steps).minimum(1)),
  );
}

/**
 * Any function of the step, run on the host before each training step (the Executable's
 * training-step counter is `t`); its value is written into `<scope>/lr` on the device. It must
 * return a finite number >= 0, or the step fails before any device work. Host functions are
 * not serialised: a graph rebuilt with Graph.fromJSON trains with the last value written.
 *
 * @throws OptionsError if fn is not a function, or (at run time) returns a negative or non-finite value.
 * @example sgd({ lr: schedules.custom((t) => (t < 100 ? 0.1 : 0.01)) })
 */
export function custom(fn: (step: number) => number): Schedule {
  if (typeof fn !== 'function') throw new OptionsError(`schedules.custom: expected a function of the step, got ${typeof fn}`);
  const checked = (t: number) => {
    const v = fn(t);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new OptionsError(`schedules.custom: the function returned ${String(v)} at step ${t}; a learning rate must be a finite number >= 0`);
    return v;
  };
  return new Schedule('custom', checked(0), (t) => checked(t), undefined);
}
