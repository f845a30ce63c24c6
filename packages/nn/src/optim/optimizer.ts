/**
 * The machinery every optimizer shares: its on-device state (step counter, learning rate,
 * slots), gradient clipping, L2 weight decay, and the record of what it added to a graph.
 *
 * What one `g.minimize(loss, opt)` adds, under a scope that is unique in the graph
 * (`adam`, then `adam_2`, ...; or the `scope` option):
 *   <scope>/step           i32 scalar: updates applied so far (assigned step + 1 each step)
 *   <scope>/lr             f32 scalar: the learning rate, or a schedule's base learning rate
 *   <scope>/<param>/<slot> f32, the param's shape: moments, velocities, accumulators
 * all non-trainable params, so they live on the device, are checkpointed with the weights
 * and are reset by `exe.resetParams()`.
 *
 * NOTE: every assign of a step runs at its end and reads values from the step's start, so a
 * rule computes the new param from the *new* slot expressions, never by re-reading a slot.
 */
import { type Executable, type Graph, GraphError, type Optimizer, OptionsError, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { Schedule } from './schedules';
import { check, exeArg, numberArg, optional, stringArg } from '../args';

const SCOPE = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;

/** Options every optimizer takes. */
export interface CommonOptions {
  /** A learning rate >= 0, or a schedule (`schedules.*`). */
  lr: number | Schedule;
  /** Clip each gradient element to [-clipValue, clipValue] (before clipNorm). */
  clipValue?: number;
  /** Scale all gradients together so that their global L2 norm is at most clipNorm. */
  clipNorm?: number;
  /** Prefix of the optimizer's params (default: its name, made unique in the graph). */
  scope?: string;
}

export const commonSchema = {
  lr: z.union([z.number().nonnegative(), z.instanceof(Schedule)], { error: 'expected a number >= 0 or a schedule (optim.schedules.*)' }),
  clipValue: z.number().positive().optional(),
  clipNorm: z.number().positive().optional(),
  scope: z.string().regex(SCOPE, 'letters, digits, _ . - /; not starting with a digit').optional(),
};

/** An optimizer from this package: a core Optimizer that also shows its resolved options. */
export interface KilnOptimizer<O = unknown> extends Optimizer {
  /** The options after validation, defaults filled in. */
  readonly options: Readonly<O>;
}

/** What one optimizer added to a graph (see optimizerState). */
export interface OptimizerState {
  /** 'sgd', 'momentum', 'adam', 'adamw', 'rmsprop' or 'adagrad'. */
  readonly optimizer: string;
  /** Prefix of its params. */
  readonly scope: string;
  /** `<scope>/step` (i32 scalar): updates applied so far. */
  readonly step: Tensor;
  /** `<scope>/lr` (f32 scalar): the learning rate, or the schedule's base learning rate. */
  readonly lrParam: Tensor;
  /** The learning rate the current step uses (a scalar you can fetch in run()). */
  readonly lr: Tensor;
  readonly schedule: Schedule | undefined;
  /** Slot params by param name, e.g. slots.get('dense_1/kernel').m. */
  readonly slots: ReadonlyMap<string, Readonly<Record<string, Tensor>>>;
}

/** One step of an update rule, in graph ops, for one param. */
export interface UpdateInput {
  readonly param: Tensor;
  /** The gradient after clipping (and, unless the rule decouples it, L2 weight decay). */
  readonly grad: Tensor;
  /** This step's learning rate (f32 scalar). */
  readonly lr: Tensor;
  /** This step's 1-based number (f32 scalar): `step + 1`, for bias corrections. */
  readonly t: Tensor;
  /** The slots' values at the start of the step. */
  readonly slots: Readonly<Record<string, Tensor>>;
}

/** What `defineOptimizer` needs from a new optimizer: its state slots and its per-param update. */
export interface UpdateRule {
  /** Slot names and initial values (one tensor of the param's shape each). */
  readonly slots: readonly { readonly name: string; readonly init: number }[];
  /** L2 weight decay added to the gradient; 0 when the rule handles decay itself (AdamW). */
  readonly l2: number;
  /** The new param and new slot values. */
  update(x: UpdateInput): { param: Tensor; slots?: Record<string, Tensor> };
}

const registry = new WeakMap<Graph, OptimizerState[]>();

/**
 * Build a core Optimizer from validated common options and an update rule.
 * @throws GraphError when applied to params that already have an update, or with a scope already in use.
 */
export function defineOptimizer<O extends CommonOptions>(name: string, options: O, rule: UpdateRule): KilnOptimizer<O> {
  return {
    name,
    options,
    apply(g, pairs) {
      // Two assigns to one param in a step: the last would silently win. Refuse instead.
      const updated = new Set(g.updates.map((id) => g.nodes[id]!.inputs[0]!));
      const twice = pairs.filter(({ param }) => updated.has(param.id)).map(({ param }) => param.name);
      if (twice.length) throw new GraphError(`${name}: ${twice.join(', ')} already ${twice.length > 1 ? 'have' : 'has'} an update in this graph (another minimize call?); pass { params } to minimize to split the params between optimizers`);
      const scope = scopeFor(g, name, options.scope);
      const schedule = options.lr instanceof Schedule ? options.lr : undefined;
      const base = schedule ? schedule.lr : (options.lr as number);
      const step = g.param(`${scope}/step`, [], { dtype: 'i32', init: { constant: 0 }, trainable: false });
      const lrParam = g.param(`${scope}/lr`, [], { init: { constant: base }, trainable: false });
      const lr = schedule?.device ? schedule.device(step, lrParam) : lrParam;
      if (schedule && !schedule.device) g.trainHooks.push((t) => ({ [`${scope}/lr`]: schedule.at(t) }));
      const next = step.add(1);
      g.assign(step, next);
      const t = next.cast('f32');

      const grads = clip(pairs.map((p) => p.grad), options);
      const slots = new Map<string, Record<string, Tensor>>();
      pairs.forEach(({ param }, i) => {
        const grad = rule.l2 > 0 ? grads[i]!.add(param.mul(rule.l2)) : grads[i]!;
        const own: Record<string, Tensor> = {};
        for (const s of rule.slots) {
          own[s.name] = g.param(`${scope}/${param.name}/${s.name}`, param.shape as number[], { init: { constant: s.init }, trainable: false });
        }
        const r = rule.update({ param, grad, lr, t, slots: own });
        for (const s of rule.slots) g.assign(own[s.name]!, r.slots![s.name]!);
        g.assign(param, r.param);
        slots.set(param.name, own);
      });
      const list = registry.get(g) ?? [];
      list.push({ optimizer: name, scope, step, lrParam, lr, schedule, slots });
      registry.set(g, list);
    },
  };
}

/** Clip by value, then scale everything by min(1, clipNorm / globalNorm). */
function clip(grads: Tensor[], o: CommonOptions): Tensor[] {
  let out = grads;
  if (o.clipValue !== undefined) out = out.map((d) => d.clip(-o.clipValue!, o.clipValue!));
  if (o.clipNorm !== undefined && out.length) {
    const squares = out.map((d) => d.square().sum());
    const norm = squares.slice(1).reduce((a, b) => a.add(b), squares[0]!).sqrt();
    // c / max(norm, c): 1 while the norm is within bounds, and no division by a zero norm.
    const scale = norm.maximum(o.clipNorm).reciprocal().mul(o.clipNorm);
    out = out.map((d) => d.mul(scale));
  }
  return out;
}

function scopeFor(g: Graph, name: string, explicit?: string): string {
  const taken = (s: string) => [...g.params.keys()].some((p) => p === s || p.startsWith(`${s}/`));
  if (explicit !== undefined) {
    if (taken(explicit)) throw new GraphError(`${name}: scope '${explicit}' already has params in this graph; pick another 'scope'`);
    return explicit;
  }
  if (!taken(name)) return name;
  let n = 2;
  while (taken(`${name}_${n}`)) n++;
  return `${name}_${n}`;
}

/**
 * What an optimizer added to `g`: its step and learning-rate params, the learning rate of the
 * current step (fetchable), its slots. With several optimizers in the graph, name the scope.
 *
 * @throws GraphError if the graph has no optimizer, several without a scope given, or none with that scope.
 * @example
 *   const { lr } = optimizerState(g);
 *   const out = await exe.run(feeds, { loss, lr }, { train: true }); // out.lr: the lr used
 */
export function optimizerState(g: Graph, scope?: string): OptimizerState {
  const list = registry.get(g) ?? [];
  if (scope !== undefined) {
    const hit = list.find((s) => s.scope === scope);
    if (!hit) throw new GraphError(`no optimizer with scope '${scope}' in this graph (scopes: ${list.map((s) => s.scope).join(', ') || 'none'})`);
    return hit;
  }
  if (list.length === 1) return list[0]!;
  if (!list.length) throw new GraphError('no optimizer was applied to this graph (call g.minimize(loss, optimizer) first)');
  throw new GraphError(`this graph has ${list.length} optimizers (${list.map((s) => s.scope).join(', ')}); name the scope`);
}

/**
 * Set the learning rate on the device: the next training step uses it, and nothing is
 * recompiled. With a device schedule it sets the schedule's base (peak) learning rate; a
 * `custom` schedule owns its learning rate, so that is refused.
 *
 * @throws OptionsError for an lr that is not a finite number >= 0, or an optimizer driven by a custom (host) schedule; GraphError as in optimizerState.
 * @example setLearningRate(exe, 1e-4);
 */
export function setLearningRate(exe: Executable, lr: number, scope?: string): void {
  check('setLearningRate', [exeArg, numberArg('lr'), optional(stringArg('scope'))], [exe, lr, scope]);
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new OptionsError(`setLearningRate: lr must be a finite number >= 0, got ${String(lr)}`);
  const s = optimizerState(exe.graph, scope);
  if (s.schedule && !s.schedule.onDevice) throw new OptionsError(`setLearningRate: '${s.scope}' takes its learning rate from a custom schedule function; change the function instead`);
  exe.setParam(s.lrParam.name, [lr]);
}

/** The learning rate the next training step of `exe` will use (read from the device). */
export async function getLearningRate(exe: Executable, scope?: string): Promise<number> {
  check('getLearningRate', [exeArg, optional(stringArg('scope'))], [exe, scope]);
  const s = optimizerState(exe.graph, scope);
  if (s.schedule && !s.schedule.onDevice) return s.schedule.at(exe.steps);
  const base = (await exe.getParam(s.lrParam.name)).data[0]!;
  if (!s.schedule) return base;
  return s.schedule.at((await exe.getParam(s.step.name)).data[0]!, base);
}
