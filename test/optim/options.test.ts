// Bad input to optimizers and schedules is refused with a clear OptionsError (naming the
// function and the field) before anything is built or run; scopes, defaults and the graph
// record that optimizerState/setLearningRate read.
import { compileWith, createReferenceBackend, Graph, GraphError, OptionsError } from '@kiln/core';
import { adagrad, adam, adamw, getLearningRate, momentum, optimizerState, rmsprop, schedules, setLearningRate, sgd } from '../../packages/nn/src/optim';

const anyOpt = (f: (o: never) => unknown) => (o: unknown) => f(o as never);

describe('bad options', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['sgd without lr', () => anyOpt(sgd)({}), /sgd: invalid options — lr: expected a number >= 0 or a schedule/],
    ['sgd with a negative lr', () => sgd({ lr: -0.1 }), /sgd: invalid options — lr/],
    ['sgd with a NaN lr', () => sgd({ lr: NaN }), /sgd: invalid options — lr/],
    ['sgd with an unknown option', () => anyOpt(sgd)({ lr: 0.1, learningRate: 0.1 }), /sgd: invalid options — .*learningRate/],
    ['sgd with a negative weightDecay', () => sgd({ lr: 0.1, weightDecay: -1 }), /sgd: invalid options — weightDecay/],
    ['sgd with clipNorm 0', () => sgd({ lr: 0.1, clipNorm: 0 }), /sgd: invalid options — clipNorm/],
    ['sgd with a negative clipValue', () => sgd({ lr: 0.1, clipValue: -1 }), /sgd: invalid options — clipValue/],
    ['sgd with a bad scope', () => sgd({ lr: 0.1, scope: '1st' }), /sgd: invalid options — scope/],
    ['momentum with nesterov and no momentum', () => momentum({ lr: 0.1, momentum: 0, nesterov: true }), /momentum: nesterov needs momentum > 0/],
    ['momentum with a negative momentum', () => momentum({ lr: 0.1, momentum: -0.5 }), /momentum: invalid options — momentum/],
    ['adam with beta1 = 1', () => adam({ lr: 0.1, beta1: 1 }), /adam: invalid options — beta1/],
    ['adam with a negative beta2', () => adam({ lr: 0.1, beta2: -0.1 }), /adam: invalid options — beta2/],
    ['adam with a negative epsilon', () => adam({ lr: 0.1, epsilon: -1e-8 }), /adam: invalid options — epsilon/],
    ['adamw with a string lr', () => anyOpt(adamw)({ lr: '0.1' }), /adamw: invalid options — lr/],
    ['rmsprop with rho = 1', () => rmsprop({ lr: 0.1, rho: 1 }), /rmsprop: invalid options — rho/],
    ['rmsprop with centered: "yes"', () => anyOpt(rmsprop)({ lr: 0.1, centered: 'yes' }), /rmsprop: invalid options — centered/],
    ['adagrad with a negative initialAccumulator', () => adagrad({ lr: 0.1, initialAccumulator: -1 }), /adagrad: invalid options — initialAccumulator/],
    ['cosine with warmup >= steps', () => schedules.cosine({ lr: 0.1, steps: 10, warmup: 10 }), /schedules.cosine: warmup \(10\) must be less than steps \(10\)/],
    ['cosine with minLr > lr', () => schedules.cosine({ lr: 0.1, steps: 10, minLr: 0.2 }), /schedules.cosine: minLr/],
    ['cosine with 0 steps', () => schedules.cosine({ lr: 0.1, steps: 0 }), /schedules.cosine: invalid options — steps/],
    ['stepDecay with a fractional stepSize', () => schedules.stepDecay({ lr: 0.1, stepSize: 1.5 }), /schedules.stepDecay: invalid options — stepSize/],
    ['stepDecay with gamma 0', () => schedules.stepDecay({ lr: 0.1, stepSize: 2, gamma: 0 }), /schedules.stepDecay: invalid options — gamma/],
    ['exponentialDecay without decayRate', () => anyOpt(schedules.exponentialDecay)({ lr: 0.1, decaySteps: 10 }), /schedules.exponentialDecay: invalid options — decayRate/],
    ['linearWarmup with a negative lr', () => schedules.linearWarmup({ lr: -1, steps: 3 }), /schedules.linearWarmup: invalid options — lr/],
    ['custom with a number', () => anyOpt(schedules.custom)(0.1), /schedules.custom: expected a function of the step/],
    ['custom returning NaN', () => schedules.custom(() => NaN), /schedules.custom: the function returned NaN at step 0/],
  ];
  test.each(cases)('%s', (_, make, message) => {
    expect(make).toThrow(OptionsError);
    expect(make).toThrow(message);
  });

  it('a custom schedule that goes bad mid-training fails that step before any device work', async () => {
    const g = new Graph({ seed: 1 });
    const p = g.param('p', [1], { init: [1] });
    g.minimize(p.square().sum(), sgd({ lr: schedules.custom((t) => (t < 3 ? 0.1 : -1)) }));
    const exe = await compileWith(g, createReferenceBackend());
    for (let t = 0; t < 3; t++) await exe.run({}, {}, { train: true });
    const before = Array.from((await exe.getParam('p')).data);
    await expect(exe.run({}, {}, { train: true })).rejects.toThrow(/schedules.custom: the function returned -1 at step 3/);
    expect(Array.from((await exe.getParam('p')).data)).toEqual(before);
    expect(Array.from((await exe.getParam('sgd/step')).data)).toEqual([3]);
    expect(exe.steps).toBe(3);
  });

  it('setLearningRate refuses a bad value, a custom schedule, and a graph without optimizer', async () => {
    const g = new Graph();
    const p = g.param('p', [1]);
    g.minimize(p.square().sum(), adam({ lr: schedules.custom(() => 0.1) }));
    const exe = await compileWith(g, createReferenceBackend());
    expect(() => setLearningRate(exe, -1)).toThrow(/setLearningRate: lr must be a finite number >= 0, got -1/);
    expect(() => setLearningRate(exe, Infinity)).toThrow(OptionsError);
    expect(() => setLearningRate(exe, 0.1)).toThrow(/'adam' takes its learning rate from a custom schedule function/);
    const bare = new Graph();
    bare.param('q', [1]);
    expect(() => optimizerState(bare)).toThrow(/no optimizer was applied to this graph/);
    const bareExe = await compileWith(bare, createReferenceBackend());
    expect(() => setLearningRate(bareExe, 0.1)).toThrow(GraphError);
  });
});

describe('what an optimizer adds to the graph', () => {
  it('defaults are filled in and documented values hold', () => {
    expect(adam({ lr: 1e-3 }).options).toMatchObject({ beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 });
    expect(adamw({ lr: 1e-3 }).options).toMatchObject({ weightDecay: 0.01, epsilon: 1e-7 });
    expect(rmsprop({ lr: 1e-3 }).options).toMatchObject({ rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false });
    expect(adagrad({ lr: 1e-3 }).options).toMatchObject({ initialAccumulator: 0.1, epsilon: 1e-7 });
    expect(momentum({ lr: 1e-3 }).options).toMatchObject({ momentum: 0.9, nesterov: false });
  });

  it('step (i32), lr and slots are non-trainable params under a scope', () => {
    const g = new Graph();
    const w = g.param('dense/kernel', [2, 2], { init: 'glorotUniform' });
    g.minimize(w.square().sum(), rmsprop({ lr: 0.1, centered: true, momentum: 0.5 }));
    expect([...g.params.keys()]).toEqual(['dense/kernel', 'rmsprop/step', 'rmsprop/lr', 'rmsprop/dense/kernel/ms', 'rmsprop/dense/kernel/mg', 'rmsprop/dense/kernel/buffer']);
    expect(g.trainableParams().map((t) => t.name)).toEqual(['dense/kernel']);
    const s = optimizerState(g);
    expect(s.step.dtype).toBe('i32');
    expect(s.lrParam.name).toBe('rmsprop/lr');
    expect(Object.keys(s.slots.get('dense/kernel')!)).toEqual(['ms', 'mg', 'buffer']);
  });

  it('each minimize call gets its own scope; optimizerState and setLearningRate then need it', async () => {
    const g = new Graph();
    const a = g.param('a', [1], { init: [1] }), b = g.param('b', [1], { init: [1] }), c = g.param('c', [1], { init: [1] });
    const d = g.param('d', [1], { init: [1] });
    const opt = sgd({ lr: 0.1 });
    g.minimize(a.square().sum(), opt, { params: [a] });
    g.minimize(b.square().sum(), opt, { params: [b] });
    g.minimize(c.square().sum(), adam({ lr: 0.01, scope: 'fine/adam' }), { params: [c] });
    expect(() => g.minimize(d.square().sum(), sgd({ lr: 0.1, scope: 'sgd_2' }), { params: [d] })).toThrow(/sgd: scope 'sgd_2' already has params/);
    expect(() => g.minimize(a.add(c).square().sum(), sgd({ lr: 0.1 }))).toThrow(/sgd: a, b, c already have an update in this graph/);
    expect(() => optimizerState(g)).toThrow(/3 optimizers \(sgd, sgd_2, fine\/adam\); name the scope/);
    expect(() => optimizerState(g, 'nope')).toThrow(/no optimizer with scope 'nope'/);
    const exe = await compileWith(g, createReferenceBackend());
    setLearningRate(exe, 0.5, 'sgd_2');
    expect(await getLearningRate(exe, 'sgd_2')).toBe(0.5);
    expect(await getLearningRate(exe, 'sgd')).toBeCloseTo(0.1, 7);
    expect(await getLearningRate(exe, 'fine/adam')).toBeCloseTo(0.01, 9);
    await exe.run({}, {}, { train: true });
    // d(x^2)/dx = 2 at x = 1; Adam's first step is lr * sign(grad)
    expect((await exe.getParam('a')).data[0]).toBeCloseTo(1 - 0.1 * 2, 6);
    expect((await exe.getParam('b')).data[0]).toBeCloseTo(1 - 0.5 * 2, 6);
    expect((await exe.getParam('c')).data[0]).toBeCloseTo(1 - 0.01, 6);
  });

  it('device schedules are graph ops: they survive toJSON/fromJSON', async () => {
    const g = new Graph({ seed: 2 });
    const w = g.param('w', [3], { init: 'glorotUniform' });
    g.minimize(w.sub(1).square().sum(), adam({ lr: schedules.cosine({ lr: 0.1, steps: 6, warmup: 2 }), clipNorm: 1 }));
    const g2 = Graph.fromJSON(JSON.stringify(g.toJSON()));
    const [e1, e2] = [await compileWith(g, createReferenceBackend()), await compileWith(g2, createReferenceBackend())];
    const lr = optimizerState(g).lr;
    for (let t = 0; t < 5; t++) {
      const [r1, r2] = [await e1.run({}, { lr }, { train: true }), await e2.run({}, { lr: g2.tensor(lr.id) }, { train: true })];
      expect(Array.from(r2.lr.data)).toEqual(Array.from(r1.lr.data));
    }
    expect(Array.from((await e2.getParam('w')).data)).toEqual(Array.from((await e1.getParam('w')).data));
  });
});
