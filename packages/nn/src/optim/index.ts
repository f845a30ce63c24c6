/**
 * Optimizers and learning-rate schedules: update nodes that run on the device.
 *
 *   import { optim } from 'kiln';
 *   const opt = optim.adam({ lr: optim.schedules.cosine({ lr: 1e-3, steps: 5000, warmup: 100 }), clipNorm: 1 });
 *   g.minimize(loss, opt);                      // gradients + assigns to params and slots
 *   const exe = await compile(g);
 *   await exe.run(feeds, { loss }, { train: true });
 *   optim.setLearningRate(exe, 5e-4);           // written on the device; nothing recompiles
 *   const { lr } = optim.optimizerState(g);     // the lr each step uses, fetchable in run()
 *
 * Each optimizer keeps its state on the device as non-trainable params under a scope unique
 * in the graph: `adam/step` (i32, updates applied), `adam/lr` (the learning rate, or a
 * schedule's base), `adam/<param>/m`, `adam/<param>/v`, ... Every optimizer takes `lr`,
 * `clipValue`, `clipNorm` (global norm over all its params; applied after clipValue) and
 * `scope`; all but adamw take an L2 `weightDecay`; adamw decouples it.
 */
export { sgd, momentum, adam, adamw, rmsprop, adagrad, type SgdOptions, type MomentumOptions, type AdamOptions, type RmspropOptions, type AdagradOptions } from './optimizers';
export { defineOptimizer, optimizerState, setLearningRate, getLearningRate, type CommonOptions, type KilnOptimizer, type OptimizerState, type UpdateRule, type UpdateInput } from './optimizer';
export * as schedules from './schedules';
export { Schedule, type DeviceSchedule } from './schedules';
