// The optimizer suite, parameterised by backend: every optimizer against its float64 reference
// rule for several steps (weight decay, both clippings, schedules), each schedule against its
// formula, learning-rate changes without recompiling, one submission per step, and two small
// models that must train. Call describeOptimizers(name, makeBackend) once per backend.
import { type Backend, compileWith, type Executable, Graph, type Optimizer, type Tensor } from '@kiln/core';
import { getLearningRate, optimizerState, type Schedule, schedules, setLearningRate, adagrad, adam, adamw, momentum, rmsprop, sgd } from '../../packages/nn/src/optim';
import { expectClose, FORMULAS, type RefOptions, refOptimizer } from './reference-optimizers';
import { watchWork } from '../support/observe-work';

export interface OptimizerSuiteOptions {
  /** Tolerance of device values against the float64 rules (default 1e-5 + 1e-4 relative). */
  atol?: number;
  rtol?: number;
  /** Wraps each test body (e.g. to skip on an unavailable backend). */
  guard?: (body: () => Promise<void>) => Promise<void>;
}

// ------------------------------------------------------------------ a quadratic with three params

/** loss = sum_k 0.5 * sum(a_k * (p_k - target_k)^2): gradient a_k * (p_k - target_k). */
const PROBLEM = [
  { name: 'w', shape: [2, 3], init: [0.5, -1, 2, 0.25, -0.75, 1.5], a: [1, 2, 0.5, 3, 1.5, 0.25], target: [-1, 1, 0.5, 2, -2, 0] },
  { name: 'b', shape: [3], init: [1, 0, -1], a: [2, 0.5, 1], target: [0.5, -1.5, 2] },
  { name: 's', shape: [], init: [3], a: [1.5], target: [-0.5] },
];

function quadratic(opt: Optimizer) {
  const g = new Graph({ seed: 1 });
  const params = PROBLEM.map((p) => g.param(p.name, p.shape, { init: Float32Array.from(p.init) }));
  const terms = PROBLEM.map((p, k) => params[k]!.sub(g.constant(p.target, p.shape)).square().mul(g.constant(p.a, p.shape)).sum().mul(0.5));
  const loss = terms.slice(1).reduce((s, x) => s.add(x), terms[0]!);
  g.minimize(loss, opt);
  return { g, params, loss };
}

/** Host mirror of the quadratic: params (float64, from the f32 initial values) and gradients. */
function hostQuadratic() {
  const params = PROBLEM.map((p) => Float64Array.from(Float32Array.from(p.init)));
  const grads = () => PROBLEM.map((p, k) => params[k]!.map((x, i) => p.a[i]! * (x - p.target[i]!)));
  return { params, grads };
}

interface Case {
  title: string;
  make: () => Optimizer;
  ref: RefOptions;
  /** lr at step t (default: the constant `lr`). */
  lr: number | ((t: number) => number);
}

const CASES: Case[] = [
  { title: 'sgd', make: () => sgd({ lr: 0.1 }), ref: { kind: 'sgd' }, lr: 0.1 },
  { title: 'sgd + weightDecay', make: () => sgd({ lr: 0.1, weightDecay: 0.05 }), ref: { kind: 'sgd', weightDecay: 0.05 }, lr: 0.1 },
  { title: 'sgd + clipValue', make: () => sgd({ lr: 0.1, clipValue: 1 }), ref: { kind: 'sgd', clipValue: 1 }, lr: 0.1 },
  { title: 'sgd + clipNorm', make: () => sgd({ lr: 0.1, clipNorm: 2 }), ref: { kind: 'sgd', clipNorm: 2 }, lr: 0.1 },
  { title: 'momentum', make: () => momentum({ lr: 0.05, momentum: 0.9 }), ref: { kind: 'momentum', momentum: 0.9 }, lr: 0.05 },
  {
    title: 'momentum nesterov + weightDecay + clipNorm',
    make: () => momentum({ lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.1, clipNorm: 3 }),
    ref: { kind: 'momentum', momentum: 0.8, nesterov: true, weightDecay: 0.1, clipNorm: 3 }, lr: 0.05,
  },
  { title: 'adam', make: () => adam({ lr: 0.1 }), ref: { kind: 'adam' }, lr: 0.1 },
  {
    title: 'adam + weightDecay (L2) + clipValue',
    make: () => adam({ lr: 0.1, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1, clipValue: 2 }),
    ref: { kind: 'adam', beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1, clipValue: 2 }, lr: 0.1,
  },
  {
    title: 'adam + cosine schedule with warmup + clipNorm',
    make: () => adam({ lr: schedules.cosine({ lr: 0.2, steps: 5, warmup: 2, minLr: 0.01 }), clipNorm: 3 }),
    ref: { kind: 'adam', clipNorm: 3 }, lr: FORMULAS.cosine(0.2, 5, 2, 0.01),
  },
  { title: 'adamw (decoupled decay 0.01 by default)', make: () => adamw({ lr: 0.1 }), ref: { kind: 'adamw' }, lr: 0.1 },
  {
    title: 'adamw + clipValue + clipNorm',
    make: () => adamw({ lr: 0.1, weightDecay: 0.2, clipValue: 3, clipNorm: 2 }),
    ref: { kind: 'adamw', weightDecay: 0.2, clipValue: 3, clipNorm: 2 }, lr: 0.1,
  },
  { title: 'rmsprop', make: () => rmsprop({ lr: 0.01 }), ref: { kind: 'rmsprop' }, lr: 0.01 },
  {
    title: 'rmsprop centered + momentum + weightDecay',
    make: () => rmsprop({ lr: 0.01, rho: 0.8, momentum: 0.5, centered: true, weightDecay: 0.05 }),
    ref: { kind: 'rmsprop', rho: 0.8, momentum: 0.5, centered: true, weightDecay: 0.05 }, lr: 0.01,
  },
  { title: 'adagrad', make: () => adagrad({ lr: 0.1 }), ref: { kind: 'adagrad' }, lr: 0.1 },
  {
    title: 'adagrad + weightDecay + clipValue + clipNorm',
    make: () => adagrad({ lr: 0.5, initialAccumulator: 0.5, epsilon: 1e-5, weightDecay: 0.1, clipValue: 2.5, clipNorm: 4 }),
    ref: { kind: 'adagrad', initialAccumulator: 0.5, epsilon: 1e-5, weightDecay: 0.1, clipValue: 2.5, clipNorm: 4 }, lr: 0.5,
  },
  {
    title: 'momentum + custom (host) schedule',
    make: () => momentum({ lr: schedules.custom((t) => 0.1 / (1 + t)) }),
    ref: { kind: 'momentum' }, lr: (t) => 0.1 / (1 + t),
  },
];

const STEPS = 6;

// ------------------------------------------------------------------ schedules

const SCHEDULES: [string, () => Schedule, (t: number) => number][] = [
  ['constant', () => schedules.constant({ lr: 0.3 }), FORMULAS.constant(0.3)],
  ['stepDecay', () => schedules.stepDecay({ lr: 0.4, stepSize: 3, gamma: 0.5 }), FORMULAS.stepDecay(0.4, 3, 0.5)],
  ['exponentialDecay', () => schedules.exponentialDecay({ lr: 0.4, decaySteps: 4, decayRate: 0.5 }), FORMULAS.exponentialDecay(0.4, 4, 0.5, false)],
  ['exponentialDecay staircase', () => schedules.exponentialDecay({ lr: 0.4, decaySteps: 4, decayRate: 0.5, staircase: true }), FORMULAS.exponentialDecay(0.4, 4, 0.5, true)],
  ['cosine', () => schedules.cosine({ lr: 0.5, steps: 8 }), FORMULAS.cosine(0.5, 8, 0, 0)],
  ['cosine with warmup and minLr', () => schedules.cosine({ lr: 0.5, steps: 10, warmup: 3, minLr: 0.05 }), FORMULAS.cosine(0.5, 10, 3, 0.05)],
  ['linearWarmup', () => schedules.linearWarmup({ lr: 0.2, steps: 4 }), FORMULAS.linearWarmup(0.2, 4)],
  ['custom', () => schedules.custom((t) => 0.1 * ((t % 3) + 1)), (t) => 0.1 * ((t % 3) + 1)],
];

// ------------------------------------------------------------------ helpers

/** Count backend.lower calls while `body` runs (the Executable's program cache misses). */
async function countLowerings(backend: Backend, body: () => Promise<void>): Promise<number> {
  let n = 0;
  const original = backend.lower;
  (backend as { lower: Backend['lower'] }).lower = (plan) => { n++; return original.call(backend, plan); };
  try {
    await body();
  } finally {
    (backend as { lower: Backend['lower'] }).lower = original;
  }
  return n;
}

async function withExe(g: Graph, backend: Backend, body: (exe: Executable) => Promise<void>): Promise<void> {
  const exe = await compileWith(g, backend);
  try {
    await body(exe);
  } finally {
    await exe.dispose();
  }
}

/** A seeded LCG in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

/** Binary cross-entropy from logits, mean over the batch: softplus(z) - y z. */
const logisticLoss = (z: Tensor, y: Tensor) => z.softplus().sub(y.mul(z)).mean();

// ------------------------------------------------------------------ the suite

export function describeOptimizers(name: string, makeBackend: () => Promise<Backend>, options: OptimizerSuiteOptions = {}): void {
  const atol = options.atol ?? 1e-5, rtol = options.rtol ?? 1e-4;
  const guard = options.guard ?? ((body) => body());

  describe(`optimizers against their float64 rules [${name}]`, () => {
    test.each(CASES.map((c) => [c.title, c] as const))('%s', (_, c) => guard(async () => {
      const { g } = quadratic(c.make());
      const host = hostQuadratic();
      const ref = refOptimizer(c.ref, PROBLEM.map((p) => p.init.length));
      const lrAt = typeof c.lr === 'number' ? () => c.lr as number : c.lr;
      const scope = optimizerState(g).scope;
      await withExe(g, await makeBackend(), async (exe) => {
        for (let t = 0; t < STEPS; t++) {
          await exe.run({}, {}, { train: true });
          ref.step(host.params, host.grads(), lrAt(t), t);
          for (const [k, p] of PROBLEM.entries()) {
            expectClose((await exe.getParam(p.name)).data, host.params[k]!, atol, rtol, `${c.title}: ${p.name} after step ${t + 1}`);
          }
        }
        expect(Array.from((await exe.getParam(`${scope}/step`)).data)).toEqual([STEPS]);
        for (const [k, p] of PROBLEM.entries()) {
          for (const [slot, want] of Object.entries(ref.slots[k]!)) {
            expectClose((await exe.getParam(`${scope}/${p.name}/${slot}`)).data, want, atol, rtol, `${c.title}: slot ${slot} of ${p.name}`);
          }
        }
      });
    }));
  });

  describe(`learning-rate schedules [${name}]`, () => {
    test.each(SCHEDULES.map(([title, make, formula]) => [title, make, formula] as const))('%s matches its formula, and drives the update', (_, make, formula) => guard(async () => {
      const schedule = make();
      const g = new Graph({ seed: 1 });
      const p = g.param('p', [1], { init: [1] });
      g.minimize(p.square().sum(), sgd({ lr: schedule }));
      const { lr } = optimizerState(g);
      const backend = await makeBackend();
      await withExe(g, backend, async (exe) => {
        const lowered = await countLowerings(backend, async () => {
          for (let t = 0; t < 12; t++) {
            expect(await getLearningRate(exe)).toBeCloseTo(formula(t), 6);
            expect(schedule.at(t)).toBeCloseTo(formula(t), 12);
            const out = await exe.run({}, { lr, p }, { train: true });
            expectClose(out.lr.data, [formula(t)], 1e-7, 1e-5, `lr at step ${t}`);
            const after = (await exe.getParam('p')).data[0]!;
            expectClose([after], [out.p.data[0]! * (1 - 2 * formula(t))], 1e-6, 1e-5, `p after step ${t}`);
          }
        });
        expect(lowered).toBe(1);
      });
    }));
  });

  describe(`changing the learning rate [${name}]`, () => {
    it('setLearningRate (and setParam) take effect on the next step without recompiling', () => guard(async () => {
      const { g } = quadratic(sgd({ lr: 0.1 }));
      const host = hostQuadratic();
      const ref = refOptimizer({ kind: 'sgd' }, PROBLEM.map((p) => p.init.length));
      const lrs = [0.1, 0.1, 0.1, 0.02, 0.02, 0.05, 0.05];
      const backend = await makeBackend();
      await withExe(g, backend, async (exe) => {
        const lowered = await countLowerings(backend, async () => {
          for (const [t, lr] of lrs.entries()) {
            if (t === 3) setLearningRate(exe, 0.02);
            if (t === 5) exe.setParam('sgd/lr', [0.05]);
            expect(await getLearningRate(exe)).toBeCloseTo(lr, 7);
            await exe.run({}, {}, { train: true });
            ref.step(host.params, host.grads(), lr, t);
          }
        });
        expect(lowered).toBe(1);
        for (const [k, p] of PROBLEM.entries()) expectClose((await exe.getParam(p.name)).data, host.params[k]!, atol, rtol, p.name);
      });
    }));

    it('with a device schedule it sets the base learning rate, keeping the schedule', () => guard(async () => {
      const g = new Graph({ seed: 1 });
      const p = g.param('p', [1], { init: [1] });
      g.minimize(p.square().sum(), adam({ lr: schedules.exponentialDecay({ lr: 0.4, decaySteps: 4, decayRate: 0.5 }) }));
      const { lr } = optimizerState(g);
      const backend = await makeBackend();
      await withExe(g, backend, async (exe) => {
        const lowered = await countLowerings(backend, async () => {
          for (let t = 0; t < 6; t++) {
            if (t === 2) setLearningRate(exe, 0.1);
            const want = FORMULAS.exponentialDecay(t < 2 ? 0.4 : 0.1, 4, 0.5, false)(t);
            expectClose((await exe.run({}, { lr }, { train: true })).lr.data, [want], 1e-7, 1e-5, `lr at step ${t}`);
          }
        });
        expect(lowered).toBe(1);
      });
    }));
  });

  describe(`optimizer state on the device [${name}]`, () => {
    it('a training step is one program run (one queue submission on WebGPU), compiled once', () => guard(async () => {
      const { g, loss } = quadratic(adam({ lr: 0.1, clipNorm: 1 }));
      const backend = await makeBackend();
      const w = watchWork(backend);
      try {
        await withExe(g, backend, async (exe) => {
          for (let i = 1; i <= 4; i++) {
            await exe.run({}, { loss }, { train: true });
            expect({ lowered: w.lowered, programRuns: w.programRuns, submits: w.submits }).toEqual({ lowered: 1, programRuns: i, submits: w.submits === null ? null : i });
          }
        });
      } finally {
        w.restore();
      }
    }));

    it('resetParams puts step, learning rate and slots back; training then repeats exactly', () => guard(async () => {
      const { g, loss } = quadratic(adam({ lr: 0.1 }));
      await withExe(g, await makeBackend(), async (exe) => {
        const first = (await exe.run({}, { loss }, { train: true })).loss.data[0]!;
        const w1 = Array.from((await exe.getParam('w')).data);
        for (let i = 0; i < 3; i++) await exe.run({}, { loss }, { train: true });
        setLearningRate(exe, 0.5);
        exe.resetParams();
        expect(Array.from((await exe.getParam('adam/step')).data)).toEqual([0]);
        expect(Array.from((await exe.getParam('adam/lr')).data)).toEqual([Math.fround(0.1)]);
        expect(Array.from((await exe.getParam('adam/w/m')).data).every((v) => v === 0)).toBe(true);
        expect((await exe.run({}, { loss }, { train: true })).loss.data[0]).toBe(first);
        expect(Array.from((await exe.getParam('w')).data)).toEqual(w1);
      });
    }));
  });

  describe(`small models train [${name}]`, () => {
    it('logistic regression separates linearly separable data', () => guard(async () => {
      const rand = lcg(7);
      const n = 64;
      const xs = new Float32Array(n * 2), ys = new Float32Array(n);
      for (let i = 0; i < n;) {
        const a = rand() * 4 - 2, b = rand() * 4 - 2;
        const margin = 1.5 * a - 2 * b + 0.3;
        if (Math.abs(margin) < 0.5) continue; // keep a gap between the classes
        xs[2 * i] = a; xs[2 * i + 1] = b; ys[i] = margin > 0 ? 1 : 0;
        i++;
      }
      const g = new Graph({ seed: 3 });
      const x = g.input('x', [n, 2]), y = g.input('y', [n, 1]);
      const z = x.matmul(g.param('w', [2, 1], { init: 'glorotUniform' })).add(g.param('b', [1]));
      const loss = logisticLoss(z, y);
      const correct = z.greater(0).cast('f32').equal(y).cast('f32').mean();
      g.minimize(loss, sgd({ lr: 1 }));
      await withExe(g, await makeBackend(), async (exe) => {
        let last = Infinity;
        for (let i = 0; i < 150; i++) last = (await exe.run({ x: xs, y: ys }, { loss }, { train: true })).loss.data[0]!;
        const out = await exe.run({ x: xs, y: ys }, { loss, correct });
        expect(last).toBeLessThan(0.1);
        expect(out.correct.data[0]).toBe(1);
      });
    }));

    it('a 2-layer MLP learns XOR', () => guard(async () => {
      const xs = Float32Array.of(0, 0, 0, 1, 1, 0, 1, 1), ys = Float32Array.of(0, 1, 1, 0);
      const g = new Graph({ seed: 5 });
      const x = g.input('x', [4, 2]), y = g.input('y', [4, 1]);
      const h = x.matmul(g.param('w1', [2, 8], { init: 'glorotUniform' })).add(g.param('b1', [8])).tanh();
      const z = h.matmul(g.param('w2', [8, 1], { init: 'glorotUniform' })).add(g.param('b2', [1]));
      const loss = logisticLoss(z, y);
      g.minimize(loss, adam({ lr: 0.05 }));
      await withExe(g, await makeBackend(), async (exe) => {
        let last = Infinity;
        for (let i = 0; i < 300; i++) last = (await exe.run({ x: xs, y: ys }, { loss }, { train: true })).loss.data[0]!;
        expect(last).toBeLessThan(0.05);
        const p = (await exe.run({ x: xs, y: ys }, { z })).z.data;
        expect(Array.from(p, (v) => (v > 0 ? 1 : 0))).toEqual([0, 1, 1, 0]);
      });
    }));
  });
}
